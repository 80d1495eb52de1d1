"""The store's records and its reads, without SQLAlchemy: what `dat status` and `dat runs list`
need, so that they start fast (SPEC 12).

Each read is one SQL text with named parameters, run by `query`: the full `ControlStore` runs it
through SQLAlchemy (any dialect, inside a write transaction when given its connection), and
`SqliteReader` through the standard library's `sqlite3` on an existing SQLite store. Both share
`StoreReads`, so a read is written once.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

# The reads of the CLI's read commands use the tables of schema versions 1 (runs, stage status,
# events) to 5 (run projects); migrations only add tables, so a store at version 5 or later has
# them.
READABLE_FROM_VERSION = 5


class StoreError(RuntimeError):
    """The control store could not be reached or is in an unexpected state."""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    name: str
    profile_id: str | None
    follow: bool
    created_at: str


@dataclass(frozen=True)
class StageStatus:
    run_id: str
    stage: str
    state: str = "UNLOCKED"
    stage_id: str | None = None
    config: dict[str, Any] | None = None
    locked_at: str | None = None
    unlocked_at: str | None = None
    completed: bool = False
    error: str | None = None

    @property
    def locked(self) -> bool:
        return self.state == "LOCKED"


@dataclass(frozen=True)
class Event:
    seq: int
    run_id: str
    stage: str | None
    kind: str
    stage_id: str | None
    detail: dict[str, Any] = field(default_factory=dict)
    at: str = ""


def run_from_row(row: Mapping[str, Any]) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        name=row["name"],
        profile_id=row["profile_id"],
        follow=bool(row["follow"]),
        created_at=row["created_at"],
    )


def status_from_row(row: Mapping[str, Any]) -> StageStatus:
    return StageStatus(
        run_id=row["run_id"],
        stage=row["stage"],
        state=row["state"],
        stage_id=row["stage_id"],
        config=json.loads(row["config"]) if row["config"] else None,
        locked_at=row["locked_at"],
        unlocked_at=row["unlocked_at"],
        completed=bool(row["completed"]),
        error=row["error"],
    )


def event_from_row(row: Mapping[str, Any]) -> Event:
    return Event(
        seq=int(row["seq"]),
        run_id=row["run_id"],
        stage=row["stage"],
        kind=row["kind"],
        stage_id=row["stage_id"],
        detail=json.loads(row["detail"] or "{}"),
        at=row["at"],
    )


_RUN_COLUMNS = "run_id, name, profile_id, follow, created_at"
_STATUS_COLUMNS = "run_id, stage, state, stage_id, config, locked_at, unlocked_at, completed, error"
_EVENT_COLUMNS = "seq, run_id, stage, kind, stage_id, detail, at"


class StoreReads:
    """The reads of runs, stage statuses and events, over `query` (which other modules use for
    reads of their own tables)."""

    def query(
        self, sql: str, params: Mapping[str, Any] | None = None, connection: Any = None
    ) -> list[Mapping[str, Any]]:
        raise NotImplementedError

    def get_run(self, run_id: str, connection: Any = None) -> RunRecord | None:
        rows = self.query(
            f"SELECT {_RUN_COLUMNS} FROM dat_runs WHERE run_id = :run_id",
            {"run_id": run_id},
            connection,
        )
        return run_from_row(rows[0]) if rows else None

    def list_runs(self) -> list[RunRecord]:
        rows = self.query(f"SELECT {_RUN_COLUMNS} FROM dat_runs ORDER BY created_at")
        return [run_from_row(row) for row in rows]

    def statuses(self, run_id: str, connection: Any = None) -> dict[str, StageStatus]:
        rows = self.query(
            f"SELECT {_STATUS_COLUMNS} FROM dat_stage_status WHERE run_id = :run_id",
            {"run_id": run_id},
            connection,
        )
        return {row["stage"]: status_from_row(row) for row in rows}

    def run_events(self, run_id: str) -> list[Event]:
        rows = self.query(
            f"SELECT {_EVENT_COLUMNS} FROM dat_events WHERE run_id = :run_id ORDER BY seq",
            {"run_id": run_id},
        )
        return [event_from_row(row) for row in rows]


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite:///...` URL; None for any other store (or an in-memory one)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


class SqliteReader(StoreReads):
    """Reads of an existing SQLite store through `sqlite3` (no SQLAlchemy, no migration, no
    write). Each read is one autocommit statement on a WAL snapshot, as in `ControlStore`."""

    def __init__(self, url: str, path: Path):
        self.url = url
        self.path = path
        self._connection: sqlite3.Connection | None = None

    @classmethod
    def open(cls, url: str) -> SqliteReader | None:
        """A reader of the store at `url`, or None when the full store must open it: not
        SQLite, not created yet, or older than the tables the reads use."""
        path = sqlite_path(url)
        if path is None or not path.is_file():
            return None
        reader = cls(url, path)
        try:
            rows = reader.query("SELECT value FROM dat_meta WHERE key = 'schema_version'")
        except (sqlite3.Error, StoreError):
            reader.dispose()
            return None
        if not rows or int(rows[0]["value"]) < READABLE_FROM_VERSION:
            reader.dispose()
            return None
        return reader

    def query(
        self, sql: str, params: Mapping[str, Any] | None = None, connection: Any = None
    ) -> list[Mapping[str, Any]]:
        if self._connection is None:
            uri = f"file:{quote(str(self.path.resolve()))}?mode=rw"  # never creates a file
            self._connection = sqlite3.connect(uri, uri=True, timeout=60, isolation_level=None)
            self._connection.row_factory = sqlite3.Row
            self._connection.execute("PRAGMA busy_timeout=60000")
        try:
            return list(self._connection.execute(sql, dict(params or {})))
        except sqlite3.OperationalError as exc:
            raise StoreError(
                f"the control store at {self.url} failed: {exc} (retry, or check DAT_STORE_URL)"
            ) from None

    def dispose(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
