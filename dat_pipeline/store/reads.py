"""The store's records and its reads, without SQLAlchemy: what `dat status` and `dat runs list`
need, so that they start fast (SPEC 12).

Each read is one SQL text with named parameters, run by `query`: the full `ControlStore` runs it
through SQLAlchemy (any dialect, inside a write transaction when given its connection), and
`SqliteReader` through the standard library's `sqlite3` on an existing SQLite store. Both share
`StoreReads`, so a read is written once.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
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


T = TypeVar("T")


def record(
    cls: type[T],
    row: Mapping[str, Any],
    json_fields: Mapping[str, Any] | None = None,
    **values: Any,
) -> T:
    """A record (a dataclass or a pydantic model) from a store row: each field from the column of
    its name, a JSON text column decoded (`json_fields`: field -> value when the column is empty),
    and `values` for the fields computed or named otherwise."""
    names = (
        [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        if dataclasses.is_dataclass(cls)
        else list(cls.model_fields)  # type: ignore[attr-defined]
    )
    decoded = json_fields or {}
    data = {}
    for name in names:
        if name in values:
            data[name] = values[name]
        elif name in decoded:
            data[name] = json.loads(row[name]) if row[name] else decoded[name]
        elif name in row.keys():  # noqa: SIM118 (a sqlite3.Row has keys, not `in`)
            data[name] = row[name]
    return cls(**data)


def run_from_row(row: Mapping[str, Any]) -> RunRecord:
    return record(RunRecord, row, follow=bool(row["follow"]))


def status_from_row(row: Mapping[str, Any]) -> StageStatus:
    return record(StageStatus, row, {"config": None}, completed=bool(row["completed"]))


def event_from_row(row: Mapping[str, Any]) -> Event:
    return record(Event, row, {"detail": {}}, seq=int(row["seq"]))


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

    def rows(
        self,
        table: Any,
        columns: str = "*",
        order_by: str | None = None,
        connection: Any = None,
        **where: Any,
    ) -> list[Mapping[str, Any]]:
        """The rows of `table` (a name or a schema table) whose columns equal `where`, ordered
        by column `order_by`."""
        sql = f"SELECT {columns} FROM {getattr(table, 'name', table)}"
        if where:
            sql += " WHERE " + " AND ".join(f"{name} = :{name}" for name in where)
        if order_by:
            sql += f" ORDER BY {order_by}"
        return self.query(sql, where, connection)

    def row(self, table: Any, connection: Any = None, **key: Any) -> Mapping[str, Any] | None:
        """The row of `table` with this key (column = value), or None."""
        found = self.rows(table, connection=connection, **key)
        return found[0] if found else None

    def one(
        self, table: Any, missing: str, connection: Any = None, **key: Any
    ) -> Mapping[str, Any]:
        """The row of `table` with this key; `NotFoundError(missing)` when there is none."""
        found = self.row(table, connection, **key)
        if found is None:
            from dat_pipeline.errors import NotFoundError

            raise NotFoundError(missing, **key)
        return found

    def get_run(self, run_id: str, connection: Any = None) -> RunRecord | None:
        row = self.rows("dat_runs", _RUN_COLUMNS, connection=connection, run_id=run_id)
        return run_from_row(row[0]) if row else None

    def list_runs(self) -> list[RunRecord]:
        return [run_from_row(row) for row in self.rows("dat_runs", _RUN_COLUMNS, "created_at")]

    def statuses(self, run_id: str, connection: Any = None) -> dict[str, StageStatus]:
        rows = self.rows("dat_stage_status", _STATUS_COLUMNS, connection=connection, run_id=run_id)
        return {row["stage"]: status_from_row(row) for row in rows}

    def run_events(self, run_id: str) -> list[Event]:
        rows = self.rows("dat_events", _EVENT_COLUMNS, "seq", run_id=run_id)
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
