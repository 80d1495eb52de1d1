"""`/api/backfill`: plan, submit, follow and audit windowed backfills of the tables in
backfill.yaml (SPEC 3, 9).

The same functions as `dat backfill plan|run|status|manifest`: `BackfillTable.plan|status`,
`defs.backfill.start_backfill` (a Dagster asset backfill; the daemon launches its runs) and
`backfill.manifest.manifest_view`. The config file is the CLI's: `DAT_BACKFILL_CONFIG`, default
`./backfill.yaml`, read on every request so an edit shows without a restart.

Projects: the configured tables are global configuration, like backfill.yaml itself, so every
token sees them, their plans, window status and manifest. A backfill submitted through the API
is tagged with the caller's project (Dagster tag `dat/project`), and `GET /runs/{backfill_id}`
answers 404 for a backfill of another project; one submitted by the CLI or the UI belongs to
`default`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Body, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from dat_pipeline.api.context import ApiContext, CallerDep, Context, json_safe
from dat_pipeline.api.errors import ApiError, error_responses
from dat_pipeline.backfill.config import BackfillTableConfig, load_config
from dat_pipeline.backfill.core import BackfillTable, engine_for_table
from dat_pipeline.backfill.manifest import manifest_view
from dat_pipeline.backfill.windows import as_utc, latest_complete
from dat_pipeline.errors import DatError, NotFoundError
from dat_pipeline.names import DEFAULT_PROJECT, PROJECT_TAG
from dat_pipeline.sources import driver_message

router = APIRouter(
    prefix="/api/backfill",
    tags=["backfill"],
    responses=error_responses(400, 401, 403, 404, 409, 422),
)

TableName = Annotated[
    str,
    Path(
        pattern=r"^[a-z][a-z0-9_]{0,62}$",
        description="A table name from backfill.yaml.",
        examples=["trades"],
    ),
]
BackfillId = Annotated[str, Path(max_length=64, description="Dagster backfill id.")]
Start = Annotated[
    datetime,
    Query(description="First day or time (UTC), e.g. 2024-01-01.", examples=["2024-01-01"]),
]
End = Annotated[
    datetime,
    Query(description="End (exclusive, UTC), e.g. 2024-02-01.", examples=["2024-01-08"]),
]
# A request covers at most this many windows (ten years of hours is 87,600).
MAX_WINDOWS = 50_000
_STEP = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(days=7),
    "monthly": timedelta(days=28),
}


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class TableConfig(Open):
    name: str = Field(examples=["trades"])
    source: str | dict[str, Any] = Field(description="A stored source name or an inline source.")
    table: str
    schema_: str | None = Field(None, alias="schema")
    time_column: str
    granularity: str = Field(examples=["daily"])
    start: str
    end: str | None
    constraints: list[str]
    max_partitions_per_run: int
    code_version: str


class TableList(BaseModel):
    tables: list[TableConfig]


class PlannedWindow(Open):
    window: str = Field(examples=["2024-01-01"])
    start: str
    end: str
    estimated_rows: int


class Plan(Open):
    table: str
    source_table: str
    granularity: str
    start: str | None
    end: str | None
    windows: list[PlannedWindow]
    window_count: int
    estimated_rows: int
    rows_without_time: int
    throughput_rows_per_s: float
    throughput_basis: str = Field(description="manifest (earlier windows) or sample.")
    max_partitions_per_run: int
    runs: int
    suggested_parallelism: int
    estimated_duration_s: float | None


class RunRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"start": "2024-01-01", "end": "2024-01-08"}]},
    )

    start: datetime = Field(description="First day or time (UTC).")
    end: datetime = Field(description="End (exclusive, UTC).")
    project: str | None = Field(
        None, max_length=63, description="Project to tag the backfill with; default: the token's."
    )


class Submitted(Open):
    table: str
    backfill_id: str = Field(description="The Dagster backfill id.", examples=["qwertyui"])
    windows: int
    first: str
    last: str
    max_partitions_per_run: int
    ui: str = Field(description="The backfill's page in the Dagster UI.")
    project: str


class BackfillRun(BaseModel):
    job_id: str = Field(description="Dagster run id.")
    status: str


class Backfill(Open):
    backfill_id: str
    status: str = Field(description="Dagster backfill status.", examples=["REQUESTED"])
    table: str | None
    title: str | None
    description: str | None
    created_at: float = Field(description="Unix time.")
    ended_at: float | None = Field(None, description="Unix time.")
    project: str
    runs: list[BackfillRun] = Field(description="Runs the daemon launched so far.")


class WindowStatus(Open):
    window: str
    start: str
    end: str
    state: str = Field(description="done, failed or missing.")
    rows: int | None
    errors: list[Any]


class TableStatus(Open):
    table: str
    done: int
    failed: int
    missing: int
    windows: list[WindowStatus]


class ManifestRecord(Open):
    manifest_id: str
    table_name: str
    window_key: str
    window_start: str
    window_end: str
    rows: int
    checksum: str | None
    path: str | None
    duration_s: float
    status: str = Field(description="SUCCESS or FAILED.")
    errors: list[Any]
    code_version: str
    run_id: str | None
    created_at: str


class Manifest(BaseModel):
    table: str
    records: list[ManifestRecord]


def _table_config(name: str) -> BackfillTableConfig:
    return load_config(missing_ok=True).table(name)


def _check_range(config: BackfillTableConfig, start: datetime | None, end: datetime | None) -> None:
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
        raise DatError("start or end is out of range: use e.g. 2024-01-31") from None
    if upper > lower and (upper - lower) / _STEP[config.granularity] > MAX_WINDOWS:
        raise DatError(
            f"[{lower.isoformat()}, {upper.isoformat()}) holds more than {MAX_WINDOWS} "
            f"{config.granularity} windows of {config.name}; ask for a shorter range"
        )


@contextlib.contextmanager
def _database_errors() -> Iterator[None]:
    """A database error is one line (the driver's, redacted), as in the CLI; a date beyond the
    calendar's end is bad input."""
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        raise ApiError(
            400, f"database error: {driver_message(exc)}", code="database_error"
        ) from None
    except OverflowError:
        raise DatError("start or end is out of range: use e.g. 2024-01-31") from None


def _table(context: ApiContext, config: BackfillTableConfig, engine: Any = None) -> BackfillTable:
    return BackfillTable(config, engine, context.settings.data_root, store=context.store)


# -- tables -----------------------------------------------------------------------------------
def _table_out(config: BackfillTableConfig) -> dict[str, Any]:
    return {**config.model_dump(mode="json", by_alias=True), "code_version": config.code_version}


@router.get("/tables", response_model=TableList, summary="Configured tables")
def list_tables(_context: Context, _caller: CallerDep) -> Any:
    """The tables of backfill.yaml (`DAT_BACKFILL_CONFIG`): source, time column, granularity,
    range, constraints and batching. Global configuration: the same for every project."""
    return {"tables": [_table_out(t) for t in load_config(missing_ok=True).tables]}


@router.get("/tables/{table}", response_model=TableConfig, summary="One configured table")
def show_table(table: TableName, _context: Context, _caller: CallerDep) -> Any:
    """One table of backfill.yaml."""
    return _table_out(_table_config(table))


@router.get("/tables/{table}/plan", response_model=Plan, summary="Plan a backfill")
def plan(table: TableName, start: Start, end: End, context: Context, _caller: CallerDep) -> Any:
    """Windows in [start, end), estimated rows per window (one grouped query on the database),
    estimated duration from the measured throughput and suggested parallelism
    (`dat backfill plan`). Reads only."""
    config = _table_config(table)
    _check_range(config, start, end)
    with _database_errors():
        engine = engine_for_table(context.store, config)
        try:
            return json_safe(_table(context, config, engine).plan(start, end))
        finally:
            engine.dispose()


@router.post(
    "/tables/{table}/runs",
    response_model=Submitted,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Submit a backfill",
)
def run(
    table: TableName,
    body: Annotated[RunRequest, Body()],
    context: Context,
    caller: CallerDep,
) -> Any:
    """Submit a Dagster backfill of the complete windows in [start, end) (`dat backfill run`),
    tagged with the caller's project; answers 202 with the backfill id. The Dagster daemon
    launches its runs, `max_partitions_per_run` windows each; follow it with
    `GET /api/backfill/runs/{backfill_id}` and the windows with `GET .../status`."""
    from dat_pipeline.defs.backfill import start_backfill

    project = caller.project_for(body.project)
    config = load_config(missing_ok=True)
    _check_range(config.table(table), body.start, body.end)
    with _database_errors():
        submitted = start_backfill(
            context.instance(),
            config,
            table,
            body.start,
            body.end,
            context.settings.data_root,
            tags={PROJECT_TAG: project},
        )
    return {**submitted, "project": project}


@router.get("/runs/{backfill_id}", response_model=Backfill, summary="A submitted backfill")
def show_backfill(backfill_id: BackfillId, context: Context, caller: CallerDep) -> Any:
    """Status of a backfill of one of the caller's projects and the runs launched for it."""
    from dat_pipeline.defs.backfill import backfill_dict

    found = backfill_dict(context.instance(), backfill_id)
    project = (found or {}).get("tags", {}).get(PROJECT_TAG, DEFAULT_PROJECT)
    if found is None or found["table"] is None or project not in caller.projects:
        raise NotFoundError(f"unknown backfill {backfill_id!r}")
    found.pop("tags")
    return {**found, "project": project}


# -- windows and audit ------------------------------------------------------------------------
@router.get("/tables/{table}/status", response_model=TableStatus, summary="Window status")
def table_status(
    table: TableName,
    context: Context,
    _caller: CallerDep,
    start: Annotated[datetime | None, Query(description="Default: the configured start.")] = None,
    end: Annotated[
        datetime | None, Query(description="Default: the latest complete window.")
    ] = None,
) -> Any:
    """Each window as done (file present, last record SUCCESS), failed (with the errors) or
    missing (`dat backfill status`). Needs no database connection."""
    config = _table_config(table)
    _check_range(config, start, end)
    with _database_errors():
        return _table(context, config).status(start, end)


@router.get("/tables/{table}/manifest", response_model=Manifest, summary="Audit records")
def manifest(
    table: TableName,
    context: Context,
    _caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=10_000, description="The newest N records.")] = 100,
) -> Any:
    """The audit records of the table's windows, oldest first: manifest id, window, rows, output
    checksum, duration, status, errors, code version and Dagster run (`dat backfill manifest`)."""
    return json_safe(manifest_view(context.store, _table_config(table).name, limit))
