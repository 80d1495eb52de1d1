"""Ingestion jobs in the control store: status, progress, rows, outputs, error and log lines.

A queued job's id is the id of the Dagster run that does the work, so the UI shows the same run; a
job that ran in process gets an id of the same shape. Progress only moves forward.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import insert, select, update

from dat_pipeline.errors import DatError
from dat_pipeline.sources import redact
from dat_pipeline.store import ControlStore, utc_now
from dat_pipeline.store import schema as store_schema
from dat_pipeline.store.reads import record

PENDING, RUNNING, COMPLETED, FAILED, CANCELLED = (
    "PENDING",
    "RUNNING",
    "COMPLETED",
    "FAILED",
    "CANCELLED",
)
STATUSES = (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED)
TERMINAL = (COMPLETED, FAILED, CANCELLED)


@dataclass(frozen=True)
class Job:
    job_id: str
    mode: str
    status: str
    project: str
    source: str
    request: dict[str, Any]
    progress: int
    rows_processed: int
    result: dict[str, Any] | None
    error: str | None
    created_at: str
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outputs"] = (self.result or {}).get("outputs", {})
        return data


def new_job_id() -> str:
    """An id shaped like a Dagster run id (for jobs that run in process)."""
    return str(uuid.uuid4())


def _job(row: Any) -> Job:
    return record(Job, row, {"request": {}, "result": None})


def create_job(
    store: ControlStore, job_id: str, mode: str, project: str, source: str, request: dict[str, Any]
) -> Job:
    """Record a new PENDING job; an existing id is returned unchanged (a re-delivered run)."""
    table = store_schema.ingest_jobs
    now = utc_now()
    with store.write() as connection:
        row = connection.execute(select(table).where(table.c.job_id == job_id)).first()
        if row is None:
            connection.execute(
                insert(table).values(
                    job_id=job_id,
                    mode=mode,
                    status=PENDING,
                    project=project,
                    source=source,
                    request=json.dumps(request, sort_keys=True, default=str),
                    progress=0,
                    rows_processed=0,
                    created_at=now,
                    updated_at=now,
                )
            )
    return get_job(store, job_id)


def get_job(store: ControlStore, job_id: str) -> Job:
    missing = f"no ingestion job {job_id!r}; list them with `dat jobs list`"
    return _job(store.one(store_schema.ingest_jobs, missing, job_id=job_id))


def list_jobs(
    store: ControlStore, status: str | None = None, project: str | None = None, limit: int = 50
) -> list[Job]:
    """The most recent jobs first."""
    table = store_schema.ingest_jobs
    query = select(table).order_by(table.c.created_at.desc()).limit(limit)
    if status:
        if status.upper() not in STATUSES:
            raise DatError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        query = query.where(table.c.status == status.upper())
    if project:
        query = query.where(table.c.project == project)
    with store.read() as connection:
        return [_job(row._mapping) for row in connection.execute(query)]


def set_status(
    store: ControlStore,
    job_id: str,
    status: str,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> bool:
    """Move a job to `status` unless it already ended (a cancelled job stays cancelled)."""
    table = store_schema.ingest_jobs
    values: dict[str, Any] = {"status": status, "updated_at": utc_now()}
    if result is not None:
        values["result"] = json.dumps(result, sort_keys=True, default=str)
    if error is not None:
        values["error"] = redact(error)
    if status == COMPLETED:
        values["progress"] = 100
    with store.write() as connection:
        changed = connection.execute(
            update(table)
            .where(table.c.job_id == job_id, table.c.status.not_in(TERMINAL))
            .values(**values)
        )
    return changed.rowcount > 0


def set_progress(store: ControlStore, job_id: str, progress: int, rows_processed: int) -> None:
    """Record progress; never moves it backwards."""
    table = store_schema.ingest_jobs
    with store.write() as connection:
        connection.execute(
            update(table)
            .where(table.c.job_id == job_id, table.c.progress <= progress)
            .values(progress=progress, rows_processed=rows_processed, updated_at=utc_now())
        )


def append_log(store: ControlStore, job_id: str, message: str, level: str = "INFO") -> None:
    """One log line of a job (redacted)."""
    with store.write() as connection:
        connection.execute(
            insert(store_schema.ingest_job_logs).values(
                job_id=job_id, level=level, message=redact(message), at=utc_now()
            )
        )


def job_logs(store: ControlStore, job_id: str) -> list[dict[str, Any]]:
    get_job(store, job_id)
    rows = store.rows(store_schema.ingest_job_logs, "seq, at, level, message", "seq", job_id=job_id)
    return [dict(row) for row in rows]


def request_cancel(store: ControlStore, job_id: str) -> Job:
    """Mark a pending or running job CANCELLED; its worker stops at the next chunk."""
    job = get_job(store, job_id)
    if job.status in TERMINAL:
        raise DatError(f"job {job_id} already ended ({job.status}); nothing to cancel")
    set_status(store, job_id, CANCELLED, error="cancelled by request")
    append_log(store, job_id, "cancel requested", "WARNING")
    return get_job(store, job_id)


def is_cancelled(store: ControlStore, job_id: str) -> bool:
    return get_job(store, job_id).status == CANCELLED
