"""The DuckDB warehouse (`<data root>/warehouse.duckdb`): every dataset as SQL views.

A dataset table is registered as a view over its Parquet file(s), one schema per kind of dataset
(`datasets` for DAT exports, `ingestion`, `backfill`; analysis results keep one schema per
source), so the warehouse holds no copy of the data and a write is one short DDL statement. DuckDB allows one
writing process per database file (SPEC 8), so the file is opened only for that statement, and a
held lock is retried for a bounded time, then reported with what to do.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from dat_pipeline.errors import DatError
from dat_pipeline.names import DATASET_ID as _DATASET_ID
from dat_pipeline.settings import get_settings

DATASETS_SCHEMA = "datasets"
# A table of a multi-table dataset is the view "<dataset_id>__<table>".
TABLE_SEPARATOR = "__"


def quote_identifier(name: str) -> str:
    """DuckDB's quoting of an identifier (embedded double quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def _string_literal(text: str) -> str:
    # DDL cannot take bound parameters in DuckDB ("can't be prepared"), so the one value in it,
    # a path this code built under the data root, is quoted as a SQL string literal.
    return "'" + text.replace("'", "''") + "'"


def qualified(schema: str, view: str) -> str:
    """`"schema"."view"`, both quoted."""
    return f"{quote_identifier(schema)}.{quote_identifier(view)}"


def view_name(dataset_id: str, table: str | None = None) -> str:
    """The qualified, quoted view of a DAT dataset (or of one table of a multi-table one), e.g.
    `"datasets"."ds_0123abcd"` or `"datasets"."ds_0123abcd__orders"`."""
    if not _DATASET_ID.match(dataset_id):
        raise DatError(f"{dataset_id!r} is not a dataset id (ds_ followed by 8 hex digits)")
    view = dataset_id if table is None else f"{dataset_id}{TABLE_SEPARATOR}{table}"
    return qualified(DATASETS_SCHEMA, view)


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


def _create_views(
    connection: duckdb.DuckDBPyConnection, schema: str, views: dict[str, list[Path]]
) -> None:
    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(schema)}")
    for view, files in views.items():
        paths = ", ".join(_string_literal(Path(f).resolve().as_posix()) for f in files)
        connection.execute(
            f"CREATE OR REPLACE VIEW {qualified(schema, view)} AS "
            f"SELECT * FROM read_parquet([{paths}], union_by_name = true)"
        )


def register_views(
    schema: str, views: dict[str, list[Path]], warehouse: Path | None = None
) -> list[str]:
    """Create or replace each view of `schema` over its Parquet files (unioned by column name);
    views with no file are skipped. Returns the qualified names of the views made."""
    present = {view: [f for f in files if Path(f).is_file()] for view, files in views.items()}
    present = {view: files for view, files in present.items() if files}
    if present:
        with connect(warehouse) as connection:
            _create_views(connection, schema, present)
    return [qualified(schema, view) for view in present]


def register_dataset(
    dataset_id: str, parquet: Path, table: str | None = None, warehouse: Path | None = None
) -> str:
    """Create or replace the view of `dataset_id` (or of its `table`) over `parquet`; returns the
    view name."""
    view = view_name(dataset_id, table)
    source = Path(parquet).resolve()
    if not source.is_file():
        raise DatError(f"cannot register {dataset_id}: {source} does not exist")
    name = dataset_id if table is None else f"{dataset_id}{TABLE_SEPARATOR}{table}"
    with connect(warehouse) as connection:
        _create_views(connection, DATASETS_SCHEMA, {name: [source]})
    return view
