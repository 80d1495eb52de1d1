"""table_availability: probe every table of every selected file.

Per (file, table): status (available, partial, empty, missing, error), column names and types, a
row estimate, the text encoding, the error message and the probe time. A probe reads metadata and
a bounded sample and is cut off after `timeout_s` per table. A file deleted since discovery gives
one `missing` row, a file that cannot be opened one `error` row; neither stops the other files.
"""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl
from pydantic import Field

from dat_pipeline.adapters import AdapterError, ProbeResult, detect, get_adapter, probe_table
from dat_pipeline.adapters.database import probe_db_table
from dat_pipeline.dat.stages.base import StageConfig, StageInputs, StageSpec
from dat_pipeline.dat.stages.tables import (
    columns_to_json,
    file_version,
    relative_message,
    source_path,
)
from dat_pipeline.errors import StageConfigError
from dat_pipeline.paths import is_db_path

AVAILABILITY_SCHEMA = {
    "path": pl.String,
    "table": pl.String,
    "adapter": pl.String,
    "format": pl.String,
    "status": pl.String,
    "columns": pl.String,
    "column_count": pl.Int64,
    "row_estimate": pl.Int64,
    "row_estimate_exact": pl.Boolean,
    "encoding": pl.String,
    "error": pl.String,
    "probe_seconds": pl.Float64,
    # Where the probe found the header (1-based line or sheet row), and the file's size and
    # modification time when probed: parse refuses a file that changed since.
    "header_row": pl.Int64,
    "size_bytes": pl.Int64,
    "modified_ns": pl.Int64,
}


class TableAvailabilityConfig(StageConfig):
    timeout_s: float = Field(
        1.0, gt=0, le=60, description="Seconds a probe of one table may take before it is cut off."
    )


def _file_row(
    relative: str, adapter: str | None, fmt: str | None, status: str, error: str, seconds: float
) -> dict:
    return {
        "path": relative,
        "table": None,
        "adapter": adapter,
        "format": fmt,
        "status": status,
        "columns": "[]",
        "column_count": 0,
        "row_estimate": None,
        "row_estimate_exact": False,
        "encoding": None,
        "error": error,
        "probe_seconds": seconds,
        "header_row": None,
        "size_bytes": None,
        "modified_ns": None,
    }


def _table_row(
    relative: str, absolute: Path, adapter: str, fmt: str | None, probe: ProbeResult
) -> dict:
    return {
        "path": relative,
        "table": probe.table,
        "adapter": adapter,
        "format": fmt,
        "status": probe.status,
        "columns": columns_to_json(probe.columns),
        "column_count": len(probe.columns),
        "row_estimate": probe.row_estimate,
        "row_estimate_exact": probe.row_estimate_exact,
        "encoding": probe.encoding,
        "error": relative_message(probe.error, absolute, relative),
        "probe_seconds": probe.probe_seconds,
        "header_row": probe.header.header_row if probe.header else None,
        **file_version(absolute),
    }


def probe_file(data_root: Path, relative: str, timeout_s: float = 1.0) -> list[dict]:
    """Artifact rows for one file: one per table, or one `missing`/`error` row for the file."""
    if is_db_path(relative):  # a database table (db://SOURCE/TABLE)
        probe = probe_db_table(relative, timeout_s)
        return [_table_row(relative, Path(relative), "database", "database", probe)]
    started = time.perf_counter()
    try:
        absolute = source_path(data_root, relative)
    except StageConfigError as exc:
        return [_file_row(relative, None, None, "error", str(exc), time.perf_counter() - started)]
    if not absolute.exists():
        message = (
            f"{relative}: file not found (deleted or moved since discovery); "
            "restore it or re-run discovery and selection"
        )
        return [_file_row(relative, None, None, "missing", message, time.perf_counter() - started)]
    # Detect again: the content may have changed since discovery catalogued it.
    found = detect(absolute)
    if not found.readable or found.adapter is None:
        message = relative_message(found.reason, absolute, relative) or f"{relative}: unreadable"
        return [
            _file_row(relative, None, found.format, "error", message, time.perf_counter() - started)
        ]
    adapter = get_adapter(found.adapter)
    try:
        tables = adapter.list_tables(absolute)
    except Exception as exc:  # an adapter bug or a corrupt file must not stop the other files
        detail = str(exc) if isinstance(exc, AdapterError) else f"{type(exc).__name__}: {exc}"
        message = relative_message(detail, absolute, relative) or relative
        return [
            _file_row(
                relative,
                adapter.name,
                found.format,
                "error",
                message,
                time.perf_counter() - started,
            )
        ]
    if not tables:
        message = f"{relative}: holds no table ({found.format}); check it is the right file"
        return [
            _file_row(
                relative,
                adapter.name,
                found.format,
                "empty",
                message,
                time.perf_counter() - started,
            )
        ]
    return [
        _table_row(
            relative, absolute, adapter.name, found.format, probe_table(absolute, t, timeout_s)
        )
        for t in tables
    ]


def availability(inputs: StageInputs, config: TableAvailabilityConfig) -> pl.DataFrame:
    """Probe the tables of every file in the selection artifact, one file at a time."""
    selection = inputs.upstream("selection")
    rows: list[dict] = []
    for relative in selection["path"].to_list():
        inputs.raise_if_cancelled()
        file_rows = probe_file(inputs.data_root, relative, config.timeout_s)
        rows.extend(file_rows)
        statuses = ", ".join(f"{r['table'] or '(file)'}: {r['status']}" for r in file_rows)
        seconds = sum(r["probe_seconds"] for r in file_rows)
        inputs.log(f"{relative}: {len(file_rows)} table(s) probed in {seconds:.2f} s ({statuses})")
    return pl.DataFrame(rows, schema=AVAILABILITY_SCHEMA)


SPEC = StageSpec(
    name="table_availability",
    config_model=TableAvailabilityConfig,
    compute=availability,
    description=__doc__ or "",
)
