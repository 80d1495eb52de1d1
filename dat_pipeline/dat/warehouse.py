"""The DuckDB warehouse (`<data root>/warehouse.duckdb`): exported datasets as SQL views.

A dataset is registered as the view `datasets."<dataset_id>"` over its Parquet file, so the
warehouse holds no copy of the data and a write is one short DDL statement. DuckDB allows one
writing process per database file (SPEC 8), so the file is opened only for that statement, and a
held lock is retried for a bounded time, then reported with what to do.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from dat_pipeline.errors import DatError
from dat_pipeline.settings import get_settings

DATASETS_SCHEMA = "datasets"
_DATASET_ID = re.compile(r"^ds_[0-9a-f]{8}$")


def quote_identifier(name: str) -> str:
    """DuckDB's quoting of an identifier (embedded double quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def _string_literal(text: str) -> str:
    # DDL cannot take bound parameters in DuckDB ("can't be prepared"), so the one value in it,
    # a path this code built under the data root, is quoted as a SQL string literal.
    return "'" + text.replace("'", "''") + "'"


def view_name(dataset_id: str) -> str:
    """The qualified, quoted view of a dataset, e.g. `"datasets"."ds_0123abcd"`."""
    if not _DATASET_ID.match(dataset_id):
        raise DatError(f"{dataset_id!r} is not a dataset id (ds_ followed by 8 hex digits)")
    return f"{quote_identifier(DATASETS_SCHEMA)}.{quote_identifier(dataset_id)}"


@contextlib.contextmanager
def connect(
    path: Path | None = None, read_only: bool = False, timeout_s: float = 30.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse briefly; wait up to `timeout_s` while another process holds it."""
    target = Path(path or get_settings().warehouse_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        try:
            connection = duckdb.connect(str(target), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                raise DatError(
                    f"cannot open the warehouse {target}: {str(exc).splitlines()[0]}; another "
                    "process holds it (stop it or retry; writers share the `duckdb` pool)"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    try:
        yield connection
    finally:
        connection.close()


def register_dataset(dataset_id: str, parquet: Path, warehouse: Path | None = None) -> str:
    """Create or replace the view of `dataset_id` over `parquet`; returns the view name."""
    view = view_name(dataset_id)
    source = Path(parquet).resolve()
    if not source.is_file():
        raise DatError(f"cannot register {dataset_id}: {source} does not exist")
    with connect(warehouse) as connection:
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(DATASETS_SCHEMA)}")
        connection.execute(
            f"CREATE OR REPLACE VIEW {view} AS "
            f"SELECT * FROM read_parquet({_string_literal(source.as_posix())})"
        )
    return view
