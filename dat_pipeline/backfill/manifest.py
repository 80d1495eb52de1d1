"""The backfill manifest: an append-only audit record per window, in the control store."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import insert, select

from dat_pipeline.store import ControlStore
from dat_pipeline.store import schema as store_schema
from dat_pipeline.store.control import utc_now

SUCCESS, FAILED = "SUCCESS", "FAILED"


@dataclass(frozen=True)
class ManifestRecord:
    manifest_id: str
    table_name: str
    window_key: str
    window_start: str
    window_end: str
    rows: int
    checksum: str | None
    path: str | None
    duration_s: float
    status: str
    errors: list[Any] = field(default_factory=list)
    code_version: str = ""
    run_id: str | None = None
    created_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def new_manifest_id() -> str:
    return uuid.uuid4().hex


def append_record(store: ControlStore, record: ManifestRecord) -> ManifestRecord:
    """Append one record (never updates: re-running a window adds a new one)."""
    if not record.created_at:
        record = ManifestRecord(**{**asdict(record), "created_at": utc_now()})
    values = asdict(record)
    values["errors"] = json.dumps(record.errors, default=str)
    with store.write() as connection:
        connection.execute(insert(store_schema.backfill_manifest).values(**values))
    return record


def records(store: ControlStore, table_name: str, limit: int | None = None) -> list[ManifestRecord]:
    """Records of a table, oldest first (the newest `limit` when given)."""
    table = store_schema.backfill_manifest
    query = (
        select(table)
        .where(table.c.table_name == table_name)
        .order_by(table.c.created_at.desc(), table.c.manifest_id)
    )
    if limit is not None:
        query = query.limit(limit)
    with store.read() as connection:
        rows = connection.execute(query).mappings().all()
    result = [
        ManifestRecord(**{**row, "errors": json.loads(row["errors"] or "[]")}) for row in rows
    ]
    return list(reversed(result))


def latest_by_window(store: ControlStore, table_name: str) -> dict[str, ManifestRecord]:
    latest: dict[str, ManifestRecord] = {}
    for record in records(store, table_name):
        latest[record.window_key] = record
    return latest


def manifest_view(store: ControlStore, table_name: str, limit: int | None = None) -> dict[str, Any]:
    """The newest `limit` records of a table, oldest first (`dat backfill manifest --json`)."""
    return {
        "table": table_name,
        "records": [r.to_json() for r in records(store, table_name, limit)],
    }
