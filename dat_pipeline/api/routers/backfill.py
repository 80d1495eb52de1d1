"""`/api/backfill`: plan, submit, follow and audit windowed backfills of the tables in
backfill.yaml (SPEC 3, 9).

Each route calls one action of `dat_pipeline.services.backfill`, the same as `dat backfill
plan|run|status|manifest`. The configured tables are global configuration, like backfill.yaml
itself, so every token sees them, their plans, window status and manifest. A backfill submitted
through the API is tagged with the caller's project (Dagster tag `dat/project`), and
`GET /runs/{backfill_id}` answers 404 for a backfill of another project; one submitted by the CLI
or the UI belongs to `default`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, status

from dat_pipeline.api import schemas
from dat_pipeline.api.context import Service
from dat_pipeline.api.errors import error_responses
from dat_pipeline.names import NAME_PATTERN
from dat_pipeline.services import backfill

router = APIRouter(
    prefix="/api/backfill",
    tags=["backfill"],
    responses=error_responses(400, 401, 403, 404, 409, 422),
)

TableName = Annotated[
    str,
    Path(
        pattern=NAME_PATTERN,
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


@router.get("/tables", response_model=schemas.BackfillTableListPublic, summary="Configured tables")
def list_tables(ctx: Service) -> Any:
    """The tables of backfill.yaml (`DAT_BACKFILL_CONFIG`): source, time column, granularity,
    range, constraints and batching. Global configuration: the same for every project."""
    return backfill.list_tables(ctx)


@router.get(
    "/tables/{table}", response_model=schemas.BackfillTablePublic, summary="One configured table"
)
def show_table(table: TableName, ctx: Service) -> Any:
    """One table of backfill.yaml."""
    return backfill.show_table(ctx, table)


@router.get(
    "/tables/{table}/plan", response_model=schemas.BackfillPlanPublic, summary="Plan a backfill"
)
def plan(table: TableName, start: Start, end: End, ctx: Service) -> Any:
    """Windows in [start, end), estimated rows per window (one grouped query on the database),
    estimated duration from the measured throughput and suggested parallelism
    (`dat backfill plan`). Reads only."""
    return backfill.plan(ctx, table, start, end)


@router.post(
    "/tables/{table}/runs",
    response_model=schemas.BackfillSubmittedPublic,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Submit a backfill",
)
def run(
    table: TableName,
    body: Annotated[schemas.BackfillRunRequest, Body()],
    ctx: Service,
) -> Any:
    """Submit a Dagster backfill of the complete windows in [start, end) (`dat backfill run`),
    tagged with the caller's project; answers 202 with the backfill id. The Dagster daemon
    launches its runs, `max_partitions_per_run` windows each; follow it with
    `GET /api/backfill/runs/{backfill_id}` and the windows with `GET .../status`."""
    return backfill.run(ctx, table, body.start, body.end, body.project)


@router.get(
    "/runs/{backfill_id}", response_model=schemas.BackfillPublic, summary="A submitted backfill"
)
def show_backfill(backfill_id: BackfillId, ctx: Service) -> Any:
    """Status of a backfill of one of the caller's projects and the runs launched for it."""
    return backfill.show_backfill(ctx, backfill_id)


# -- windows and audit ------------------------------------------------------------------------
@router.get(
    "/tables/{table}/status", response_model=schemas.BackfillStatusPublic, summary="Window status"
)
def table_status(
    table: TableName,
    ctx: Service,
    start: Annotated[datetime | None, Query(description="Default: the configured start.")] = None,
    end: Annotated[
        datetime | None, Query(description="Default: the latest complete window.")
    ] = None,
) -> Any:
    """Each window as done (file present, last record SUCCESS), failed (with the errors) or
    missing (`dat backfill status`). Needs no database connection."""
    return backfill.status(ctx, table, start, end)


@router.get(
    "/tables/{table}/manifest", response_model=schemas.ManifestPublic, summary="Audit records"
)
def manifest(
    table: TableName,
    ctx: Service,
    limit: Annotated[int, Query(ge=1, le=10_000, description="The newest N records.")] = 100,
) -> Any:
    """The audit records of the table's windows, oldest first: manifest id, window, rows, output
    checksum, duration, status, errors, code version and Dagster run (`dat backfill manifest`)."""
    return backfill.manifest(ctx, table, limit)
