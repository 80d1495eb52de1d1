"""The backfill actions over the tables of backfill.yaml: list, plan, submit, follow, window
status and the audit manifest (SPEC 3). The CLI (`dat backfill ...`) and `/api/backfill` call
these.

The config file is `DAT_BACKFILL_CONFIG` (default `./backfill.yaml`), or `config_file`; it is read
on every call, so an edit shows at once. The tables are global configuration, visible to every
caller; a submitted backfill is tagged with the caller's project and only its project sees it.
A database error is one line (the driver's, redacted): a DatabaseError.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dat_pipeline.backfill.config import BackfillConfig, BackfillTableConfig, load_config
from dat_pipeline.backfill.core import BackfillTable, engine_for_table
from dat_pipeline.backfill.manifest import manifest_view
from dat_pipeline.backfill.windows import as_utc, latest_complete
from dat_pipeline.errors import DatabaseError, DatError, NotFoundError
from dat_pipeline.names import DEFAULT_PROJECT, PROJECT_TAG
from dat_pipeline.services.context import ServiceContext, json_safe
from dat_pipeline.sources import driver_message

# A request covers at most this many windows (ten years of hours is 87,600).
MAX_WINDOWS = 50_000
_STEP = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(days=7),
    "monthly": timedelta(days=28),
}
_OUT_OF_RANGE = "start or end is out of range: use e.g. 2024-01-31"


def _config(config_file: Path | None) -> BackfillConfig:
    return load_config(config_file, missing_ok=config_file is None)


def _check_range(
    config: BackfillTableConfig, start: datetime | str | None, end: datetime | str | None
) -> None:
    """Refuse a range of more than MAX_WINDOWS windows before any is computed."""
    try:
        lower = max(as_utc(start), config.start) if start is not None else config.start
        if end is not None:
            upper = as_utc(end)
        else:
            upper = config.end or latest_complete(config.granularity).end
        if config.end is not None:
            upper = min(upper, config.end)
    except (OverflowError, ValueError):
        raise DatError(_OUT_OF_RANGE) from None
    if upper > lower and (upper - lower) / _STEP[config.granularity] > MAX_WINDOWS:
        raise DatError(
            f"[{lower.isoformat()}, {upper.isoformat()}) holds more than {MAX_WINDOWS} "
            f"{config.granularity} windows of {config.name}; ask for a shorter range",
            table=config.name,
        )


@contextlib.contextmanager
def _database_errors() -> Iterator[None]:
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        raise DatabaseError(f"database error: {driver_message(exc)}") from None
    except OverflowError:
        raise DatError(_OUT_OF_RANGE) from None


def _table_out(config: BackfillTableConfig) -> dict[str, Any]:
    return {**config.model_dump(mode="json", by_alias=True), "code_version": config.code_version}


# -- tables -----------------------------------------------------------------------------------
def list_tables(ctx: ServiceContext, config_file: Path | None = None) -> dict[str, Any]:
    """The configured tables: source, time column, granularity, range, constraints, batching."""
    return {"tables": [_table_out(table) for table in _config(config_file).tables]}


def show_table(ctx: ServiceContext, table: str, config_file: Path | None = None) -> dict[str, Any]:
    return _table_out(_config(config_file).table(table))


def plan(
    ctx: ServiceContext,
    table: str,
    start: datetime | str,
    end: datetime | str,
    config_file: Path | None = None,
) -> dict[str, Any]:
    """Windows in [start, end), estimated rows per window (one grouped query), estimated
    duration from the measured throughput and suggested parallelism. Reads only."""
    config = _config(config_file).table(table)
    _check_range(config, start, end)
    with _database_errors():
        engine = engine_for_table(ctx.store, config)
        try:
            table_ = BackfillTable(config, engine, ctx.data_root, store=ctx.store)
            return json_safe(table_.plan(start, end))
        finally:
            engine.dispose()


def run(
    ctx: ServiceContext,
    table: str,
    start: datetime | str,
    end: datetime | str,
    project: str | None = None,
    config_file: Path | None = None,
) -> dict[str, Any]:
    """Submit a Dagster backfill of the complete windows in [start, end), tagged with the
    project; the daemon launches its runs, `max_partitions_per_run` windows each."""
    from dat_pipeline.orchestration.backfill import start_backfill

    project = ctx.caller.project_for(project)
    config = _config(config_file)
    _check_range(config.table(table), start, end)
    with _database_errors():
        submitted = start_backfill(
            ctx.instance(), config, table, start, end, ctx.data_root, tags={PROJECT_TAG: project}
        )
    return {**submitted, "project": project}


def show_backfill(ctx: ServiceContext, backfill_id: str) -> dict[str, Any]:
    """A submitted backfill of the caller's projects: its status and the runs launched so far."""
    from dat_pipeline.orchestration.backfill import backfill_dict

    found = backfill_dict(ctx.instance(), backfill_id)
    project = (found or {}).get("tags", {}).get(PROJECT_TAG, DEFAULT_PROJECT)
    if found is None or found["table"] is None or not ctx.caller.sees(project):
        raise NotFoundError(f"unknown backfill {backfill_id!r}", backfill_id=backfill_id)
    found.pop("tags")
    return {**found, "project": project}


def status(
    ctx: ServiceContext,
    table: str,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    config_file: Path | None = None,
) -> dict[str, Any]:
    """Each window as done, failed (with the errors) or missing. Needs no database."""
    config = _config(config_file).table(table)
    _check_range(config, start, end)
    with _database_errors():
        return BackfillTable(config, None, ctx.data_root, store=ctx.store).status(start, end)


def manifest(
    ctx: ServiceContext, table: str, limit: int = 100, config_file: Path | None = None
) -> dict[str, Any]:
    """The newest `limit` audit records of the table's windows, oldest first."""
    name = _config(config_file).table(table).name
    return json_safe(manifest_view(ctx.store, name, limit))
