"""The control store: runs, stage status, kept configs and the append-only event log.

One interface over SQLAlchemy Core; SQLite by default, PostgreSQL when `DAT_STORE_URL` says so.
Several processes (webserver, daemon, run workers, CLI) use it at once, so every write runs in a
transaction that first takes one store-wide write lock: `BEGIN IMMEDIATE` on SQLite, a
transaction-scoped advisory lock on PostgreSQL. That also makes event sequence numbers commit in
order, which is what lets the lock sensor follow the log with a plain `seq > cursor` cursor.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError

from dat_pipeline.store import schema
from dat_pipeline.store.reads import (
    Event,
    RunRecord,
    StageStatus,
    StoreError,
    StoreReads,
    event_from_row,
    utc_now,
)

_PG_WRITE_LOCK_KEY = 0x6461745F  # "dat_" as an int: one advisory lock for every store write
_WRITE_FLAG = "dat_write_transaction"


def _redacted_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(parsed.database)), exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite would defer it).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection):  # type: ignore[no-untyped-def]
            # Writers take the write lock up front; readers see a WAL snapshot and block nobody.
            immediate = connection.info.get(_WRITE_FLAG, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4)


class ControlStore(StoreReads):
    """Control state behind one interface. Create with `open_store()`. The reads of runs,
    statuses and events are `StoreReads` (shared with the SQLite reader of `dat status`)."""

    def __init__(self, url: str):
        self.url = url
        self.engine = _make_engine(url)
        self.dialect = self.engine.dialect.name
        try:
            self._migrate()
        except Exception as exc:
            raise StoreError(
                f"cannot open the control store at {_redacted_url(url)}: {exc.__class__.__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''} (check DAT_STORE_URL)"
            ) from None

    # -- transactions -----------------------------------------------------------------------
    @contextlib.contextmanager
    def _reachable(self) -> Iterator[None]:
        """A store that went away mid-way is a clear StoreError, never a half-written change
        (the transaction rolls back) nor a driver traceback with the URL in it."""
        try:
            yield
        except (OperationalError, InterfaceError) as exc:
            first = str(exc.orig if exc.orig is not None else exc).splitlines()[0]
            raise StoreError(
                f"the control store at {_redacted_url(self.url)} failed: {first} "
                "(nothing was written; retry when it is back, or check DAT_STORE_URL)"
            ) from None

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction holding the store-wide write lock; commits on success."""
        with self._reachable(), self.engine.connect() as connection:
            connection.info[_WRITE_FLAG] = True
            try:
                with connection.begin():
                    if self.dialect == "postgresql":
                        connection.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_WRITE_LOCK_KEY}
                        )
                    yield connection
            finally:
                connection.info[_WRITE_FLAG] = False

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self._reachable(), self.engine.connect() as connection:
            yield connection

    def _migrate(self) -> None:
        with self.write() as connection:
            schema.meta.create(connection, checkfirst=True)
            row = connection.execute(
                select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")
            ).first()
            current = int(row[0]) if row else 0
            if current > schema.SCHEMA_VERSION:
                raise StoreError(
                    f"store schema version {current} is newer than this code "
                    f"({schema.SCHEMA_VERSION}); upgrade dat_pipeline"
                )
            for version in range(current + 1, schema.SCHEMA_VERSION + 1):
                schema.MIGRATIONS[version](connection)
            if current == 0:
                connection.execute(
                    insert(schema.meta).values(
                        key="schema_version", value=str(schema.SCHEMA_VERSION)
                    )
                )
            elif current < schema.SCHEMA_VERSION:
                connection.execute(
                    update(schema.meta)
                    .where(schema.meta.c.key == "schema_version")
                    .values(value=str(schema.SCHEMA_VERSION))
                )

    def schema_version(self) -> int:
        with self.read() as connection:
            return int(
                connection.execute(
                    select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")
                ).scalar_one()
            )

    # -- runs -------------------------------------------------------------------------------
    def insert_run(self, connection: Connection, run: RunRecord) -> None:
        connection.execute(
            insert(schema.runs).values(
                run_id=run.run_id,
                name=run.name,
                profile_id=run.profile_id,
                follow=run.follow,
                created_at=run.created_at,
            )
        )

    # -- stage status -----------------------------------------------------------------------
    def put_status(self, connection: Connection, status: StageStatus) -> None:
        values = {
            "state": status.state,
            "stage_id": status.stage_id,
            "config": None if status.config is None else json.dumps(status.config, sort_keys=True),
            "locked_at": status.locked_at,
            "unlocked_at": status.unlocked_at,
            "completed": status.completed,
            "error": status.error,
        }
        table = schema.stage_status
        updated = connection.execute(
            update(table)
            .where(table.c.run_id == status.run_id, table.c.stage == status.stage)
            .values(**values)
        )
        if updated.rowcount == 0:
            connection.execute(
                insert(table).values(run_id=status.run_id, stage=status.stage, **values)
            )

    # -- events -----------------------------------------------------------------------------
    def append_event(
        self,
        connection: Connection,
        run_id: str,
        kind: str,
        stage: str | None = None,
        stage_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        result = connection.execute(
            insert(schema.events)
            .values(
                run_id=run_id,
                stage=stage,
                kind=kind,
                stage_id=stage_id,
                detail=json.dumps(detail or {}, sort_keys=True),
                at=utc_now(),
            )
            .returning(schema.events.c.seq)
        )
        return int(result.scalar_one())

    def events_after(self, seq: int, limit: int = 1000) -> list[Event]:
        """Events with a sequence number above `seq`, oldest first (the sensor's cursor read)."""
        with self.read() as connection:
            rows = connection.execute(
                select(schema.events)
                .where(schema.events.c.seq > seq)
                .order_by(schema.events.c.seq)
                .limit(limit)
            )
            return [event_from_row(row._mapping) for row in rows]

    def last_seq(self) -> int:
        with self.read() as connection:
            return int(connection.execute(select(func.max(schema.events.c.seq))).scalar() or 0)

    def has_event_after(self, run_id: str, kind: str, seq: int) -> bool:
        table = schema.events
        with self.read() as connection:
            found = connection.execute(
                select(table.c.seq)
                .where(table.c.run_id == run_id, table.c.kind == kind, table.c.seq > seq)
                .limit(1)
            ).first()
        return found is not None

    def query(
        self, sql: str, params: Mapping[str, Any] | None = None, connection: Any = None
    ) -> list[Mapping[str, Any]]:
        """The rows of one read (SQL text with :named parameters), as mappings."""
        with self._connection(connection) as conn:
            return [row._mapping for row in conn.execute(text(sql), dict(params or {}))]

    @contextlib.contextmanager
    def _connection(self, connection: Connection | None) -> Iterator[Connection]:
        if connection is not None:
            yield connection
        else:
            with self.read() as conn:
                yield conn

    def dispose(self) -> None:
        self.engine.dispose()
