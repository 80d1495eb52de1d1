"""Database tables through the adapter interface (SPEC 2.2): MySQL/MariaDB, PostgreSQL, SQLite, DuckDB.

A database adapter works on a `DatabaseSource` rather than a path, so it has its own small interface
mirroring the file adapters: `list_tables`, `probe_schema`, `read`, `stream`, `validate`. A `table`
argument of None means the source's own table or query.

Types come from the introspected catalog (table sources) or from the driver's values (query
sources), and map to Polars types that round-trip to Parquet: DECIMAL(p<=38, s) stays Decimal,
BIGINT UNSIGNED is UInt64, TIMESTAMP WITH TIME ZONE (and MySQL TIMESTAMP, read in a UTC session) is
Datetime(UTC), JSON is its JSON text, BYTEA/BLOB is Binary. Streaming uses server-side cursors
(`stream_results` + `yield_per`) so memory is bounded by one chunk; DuckDB streams Arrow batches.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import polars as pl
from sqlalchemy import Connection, MetaData, Table, Text, cast, func, inspect, select, text
from sqlalchemy import types as sqltypes
from sqlalchemy.exc import SQLAlchemyError

from dat_pipeline.adapters.base import (
    Adapter,
    AdapterError,
    MissingTableError,
    ProbeResult,
    bounded_probe,
    check_chunk_rows,
    columns_of,
)
from dat_pipeline.paths import DB_SCHEME, is_db_path
from dat_pipeline.reverse_etl.errors import ReverseEtlError
from dat_pipeline.reverse_etl.extract import read_batches
from dat_pipeline.reverse_etl.types import polars_type
from dat_pipeline.settings import get_settings
from dat_pipeline.sources import (
    DatabaseSource,
    connect,
    driver_message,
    get_database_source,
    split_table,
)
from dat_pipeline.sources.database import FILE_KINDS, source_path
from dat_pipeline.store import ControlStore

DEFAULT_CHUNK_ROWS = 50_000
QUERY_TABLE = "(query)"


def _utc(frame: pl.DataFrame) -> pl.DataFrame:
    """Time-zone-aware columns in UTC (DuckDB answers in its session time zone)."""
    aware = [
        name
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone not in (None, "UTC")
    ]
    return frame.with_columns(pl.col(name).dt.convert_time_zone("UTC") for name in aware)


class DatabaseAdapter:
    """Tables of one database source: the same verbs as a file `Adapter`, keyed by table name."""

    name = "database"

    def __init__(self, store: ControlStore, source: DatabaseSource | str) -> None:
        self.store = store
        self.source = (
            source if isinstance(source, DatabaseSource) else get_database_source(store, source)
        )

    # -- catalog ---------------------------------------------------------------------------
    def _tables(self, connection: Connection) -> list[str]:
        inspector = inspect(connection)
        names = [*inspector.get_table_names(), *inspector.get_view_names()]
        return sorted(set(names))

    def list_tables(self) -> list[str]:
        """Tables and views of the source's default schema (`schema.table` names work too)."""
        with connect(self.store, self.source) as connection:
            return self._tables(connection)

    def validate(self) -> None:
        """Connect and check the source's own table or query; raises on the first problem."""
        with connect(self.store, self.source) as connection:
            if self.source.table:
                self._reflect(connection, self.source.table)
            elif self.source.query:
                self._query_result(connection, self.source.query, 1, limit=0).close()

    def _target(self, table: str | None) -> tuple[str | None, str | None]:
        """(table, query) to read: the argument, else the source's table, else its query."""
        if table is not None and table != QUERY_TABLE:
            return table, None
        if table is None and self.source.table:
            return self.source.table, None
        if self.source.query:
            return None, self.source.query
        raise AdapterError(
            f"{self.source.label()} has no table or query: name a table "
            "(see `dat sources show NAME --tables`) or add the source with --table or --query"
        )

    def _reflect(self, connection: Connection, table: str) -> Table:
        """The table's columns from the catalog, after checking the name is one of its tables."""
        schema_name, name = self._check_table(connection, table)
        return Table(name, MetaData(), schema=schema_name, autoload_with=connection)

    def _check_table(self, connection: Connection, table: str) -> tuple[str | None, str]:
        schema_name, name = split_table(self.source, table)
        inspector = inspect(connection)
        known = set(inspector.get_table_names(schema=schema_name)) | set(
            inspector.get_view_names(schema=schema_name)
        )
        if name not in known:
            raise MissingTableError(
                f"{self.source.label()}: no table {table!r}; it has "
                f"{sorted(known)[:50]}. Pick one of those or fix --table."
            )
        return schema_name, name

    def _duckdb_sql(self, connection: Connection, name: str | None, query: str | None) -> str:
        # duckdb-engine's column reflection queries pg_catalog tables DuckDB lacks (SQLAlchemy
        # 2.1), so DuckDB tables are checked by name and read natively, typed by Arrow.
        if name is None:
            return (query or "").strip().rstrip(";")
        self._check_table(connection, name)
        return f"SELECT * FROM {connection.dialect.identifier_preparer.quote(name)}"

    def _duckdb_execute(self, connection: Connection, sql: str) -> Any:
        try:
            return connection.connection.driver_connection.execute(sql)
        except Exception as exc:  # duckdb's own error text names the problem
            raise AdapterError(
                f"{self.source.label()}: the query fails: {driver_message(exc)}"
            ) from None

    def _query_result(
        self, connection: Connection, query: str, chunk_rows: int, limit: int | None = None
    ) -> Any:
        body = query.strip().rstrip(";")
        sql = f"SELECT * FROM ({body}) AS dat_query" if limit is not None else body
        statement = text(sql + (f" LIMIT {int(limit)}" if limit is not None else ""))
        try:
            return connection.execution_options(stream_results=True, yield_per=chunk_rows).execute(
                statement
            )
        except Exception as exc:  # the driver's SQL error is the message the user needs
            raise AdapterError(
                f"{self.source.label()}: the query fails: {driver_message(exc)}. Fix the SQL "
                "(try it in the database's own client first)"
            ) from None

    # -- reading ---------------------------------------------------------------------------
    def probe_schema(self, table: str | None = None, sample_rows: int = 1000) -> ProbeResult:
        """Columns and types from the catalog (or a bounded sample of the query), and a row
        estimate from the database's statistics (exact count for SQLite and DuckDB)."""
        start = time.perf_counter()
        name, query = self._target(table)
        with connect(self.store, self.source) as connection:
            if self.source.kind == "duckdb":
                sql = self._duckdb_sql(connection, name, query)
                empty = self._duckdb_execute(connection, f"SELECT * FROM ({sql}) LIMIT 0")
                schema = dict(_utc(pl.from_arrow(empty.to_arrow_table())).schema)
                counted = self._duckdb_execute(connection, f"SELECT COUNT(*) FROM ({sql})")
                estimate, exact = int(counted.fetchone()[0]), True
            elif name is not None:
                reflected = self._reflect(connection, name)
                schema = {c.name: polars_type(c.type) for c in reflected.columns}
                estimate, exact = self._row_estimate(connection, reflected)
            else:
                sample = pl.concat(
                    list(self._stream_query(connection, query or "", sample_rows, sample_rows)),
                    how="vertical_relaxed",
                )
                schema, estimate, exact = dict(sample.schema), None, False
        return ProbeResult(
            table=name or QUERY_TABLE,
            status="available" if estimate != 0 else "empty",
            columns=columns_of(schema),
            row_estimate=estimate,
            row_estimate_exact=exact,
            probe_seconds=time.perf_counter() - start,
        )

    def _row_estimate(self, connection: Connection, table: Table) -> tuple[int | None, bool]:
        kind = self.source.kind
        try:
            if kind == "postgresql":
                value = connection.execute(
                    text("SELECT reltuples::bigint FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                    {"t": f"{table.schema}.{table.name}" if table.schema else table.name},
                ).scalar()
                if value is not None and value >= 0:
                    return int(value), False
            elif kind == "mysql":
                value = connection.execute(
                    text(
                        "SELECT TABLE_ROWS FROM information_schema.TABLES "
                        "WHERE TABLE_SCHEMA = COALESCE(:s, DATABASE()) AND TABLE_NAME = :t"
                    ),
                    {"s": table.schema, "t": table.name},
                ).scalar()
                if value is not None:
                    return int(value), False
            return int(connection.execute(select(func.count()).select_from(table)).scalar()), True
        except Exception:  # statistics are a nicety; a probe must not fail on them
            return None, False

    def read(self, table: str | None = None) -> pl.DataFrame:
        """The whole table (or the source's query) as one frame."""
        chunks = list(self.stream(table, chunk_rows=DEFAULT_CHUNK_ROWS))
        return pl.concat(chunks, how="vertical") if chunks else pl.DataFrame()

    def stream(
        self, table: str | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS
    ) -> Iterator[pl.DataFrame]:
        """The table (or query) in chunks of at most `chunk_rows` rows, through a server-side
        cursor; the first chunk carries the schema even when there are no rows."""
        check_chunk_rows(chunk_rows)
        name, query = self._target(table)
        with connect(self.store, self.source) as connection:
            if self.source.kind == "duckdb":
                yield from self._stream_duckdb(connection, name, query, chunk_rows)
            elif name is not None:
                yield from self._stream_table(connection, name, chunk_rows)
            else:
                yield from self._stream_query(connection, query or "", chunk_rows)

    def _stream_table(
        self, connection: Connection, name: str, chunk_rows: int
    ) -> Iterator[pl.DataFrame]:
        reflected = self._reflect(connection, name)
        schema = {c.name: polars_type(c.type) for c in reflected.columns}
        # Values read as text (JSON, UUID, arrays...) are cast by the server: no Python objects
        # for Polars to guess at, and JSON stays the server's own text.
        columns = [
            cast(c, Text).label(c.name)
            if schema[c.name] == pl.String and not isinstance(c.type, sqltypes.String)
            else c
            for c in reflected.columns
        ]
        try:
            yield from read_batches(
                connection, select(*columns), schema, chunk_rows, f"{self.source.label()} {name!r}"
            )
        except ReverseEtlError as exc:
            raise AdapterError(str(exc)) from None

    def _stream_query(
        self, connection: Connection, query: str, chunk_rows: int, limit: int | None = None
    ) -> Iterator[pl.DataFrame]:
        """The query's rows through the one reader, typed by its first batch's values (decimal
        precision from the cursor description)."""
        self._query_result(connection, query, 1, limit=0).close()  # bad SQL: a clear error now
        body = query.strip().rstrip(";")
        sql = (
            f"SELECT * FROM ({body}) AS dat_query LIMIT {int(limit)}" if limit is not None else body
        )
        try:
            yield from read_batches(
                connection, text(sql), None, chunk_rows, f"{self.source.label()} query"
            )
        except ReverseEtlError as exc:
            raise AdapterError(f"{exc} (in a --query)") from None

    def _stream_duckdb(
        self, connection: Connection, name: str | None, query: str | None, chunk_rows: int
    ) -> Iterator[pl.DataFrame]:
        """DuckDB hands out Arrow batches directly: exact types, no Python row objects."""
        sql = self._duckdb_sql(connection, name, query)
        reader = self._duckdb_execute(connection, sql).to_arrow_reader(chunk_rows)
        produced = False
        for batch in reader:
            produced = True
            yield _utc(pl.from_arrow(batch))
        if not produced:
            yield _utc(pl.from_arrow(reader.schema.empty_table()))


# -- database tables in DAT runs (`db://SOURCE/TABLE`, SPEC 1.4) -----------------------------
# A column with one of these names dates each row's last change: its maximum is part of a
# table's snapshot, so an update that keeps the row count still gives a new discovery id.
UPDATED_COLUMNS = ("updated_at", "modified_at", "last_modified", "last_update", "updated")


def db_path(source: str, table: str) -> str:
    return f"{DB_SCHEME}{source}/{table}"


def split_db_path(path: str | Path) -> tuple[str, str]:
    """`db://SOURCE/TABLE` -> (SOURCE, TABLE). Also accepts the path a stage resolved under the
    data root (`<root>/db:/SOURCE/TABLE`), which is how a file adapter's verbs receive it."""
    text = str(path)
    if is_db_path(text):
        rest = text[len(DB_SCHEME) :]
    else:
        parts = PurePosixPath(Path(text).as_posix()).parts
        marker = max((i for i, part in enumerate(parts) if part == "db:"), default=None)
        rest = "/".join(parts[marker + 1 :]) if marker is not None else ""
    name, _, table = rest.partition("/")
    if not name or not table:
        raise AdapterError(f"{text}: not a database table; write it as db://SOURCE/TABLE")
    return name, table


@contextlib.contextmanager
def open_source(name: str) -> Iterator[DatabaseAdapter]:
    """The adapter of a registered source, with a store of its own (stages have no store)."""
    store = ControlStore(get_settings().store_url)
    try:
        yield DatabaseAdapter(store, name)
    finally:
        store.dispose()


def _quoted(connection: Connection, source: DatabaseSource, table: str) -> str:
    schema_name, name = split_table(source, table)
    quote = connection.dialect.identifier_preparer.quote
    return f"{quote(schema_name)}.{quote(name)}" if schema_name else quote(name)


def _table_snapshot(connection: Connection, source: DatabaseSource, table: str) -> dict[str, Any]:
    """Row count and the latest updated-at value of one table."""
    quoted = _quoted(connection, source, table)
    names = list(connection.execute(text(f"SELECT * FROM {quoted} WHERE 1 = 0")).keys())
    updated = next((n for n in names if n.lower() in UPDATED_COLUMNS), None)
    latest = f", MAX({connection.dialect.identifier_preparer.quote(updated)})" if updated else ""
    row = connection.execute(text(f"SELECT COUNT(*){latest} FROM {quoted}")).one()
    return {"rows": int(row[0]), "updated": None if row[1:] == () else str(row[1])}


def _catalog_tables(adapter: DatabaseAdapter, connection: Connection) -> list[str]:
    """Tables of the default schema by name; on PostgreSQL also every other user schema's, as
    `schema.table` (MySQL's schemas are databases: the source names one)."""
    tables = adapter._tables(connection)
    if adapter.source.kind == "postgresql":
        inspector = inspect(connection)
        for schema in inspector.get_schema_names():
            if schema == inspector.default_schema_name or schema.startswith("pg_"):
                continue
            if schema == "information_schema":
                continue
            try:
                names = [*inspector.get_table_names(schema), *inspector.get_view_names(schema)]
            except SQLAlchemyError:  # a schema dropped while the catalog is read
                continue
            tables += [f"{schema}.{name}" for name in sorted(set(names))]
    return tables


def catalog_source(
    name: str, keep: Callable[[str], bool] = lambda _table: True
) -> tuple[list[str], dict[str, Any]]:
    """The tables of source `name` that `keep` accepts, and their snapshot.

    The snapshot is what makes a changed table give a new discovery stage id: per table its
    exact row count and the maximum of its updated-at column when it has one (`UPDATED_COLUMNS`),
    and for SQLite and DuckDB also the database file's size and modification time, which any
    write changes. An update on a server database that keeps the row count and has no
    updated-at column is not seen: re-lock discovery with another config to force a new id.
    """
    with open_source(name) as adapter:
        source = adapter.source
        with connect(adapter.store, source) as connection:
            tables = [t for t in _catalog_tables(adapter, connection) if keep(t)]
            snapshot: dict[str, Any] = {
                "kind": source.kind,
                "tables": {t: _table_snapshot(connection, source, t) for t in tables},
            }
        if source.kind in FILE_KINDS:
            stat = source_path(source).stat()
            snapshot["file"] = [stat.st_size, stat.st_mtime_ns]
    return tables, snapshot


class DatabaseTableAdapter(Adapter):
    """A table of a registered source through the file adapter interface, so every DAT stage
    reads it like a file; the path is `db://SOURCE/TABLE` (or where a stage resolved it)."""

    name = "database"
    formats = ("database",)

    def can_handle(self, path: Path, head: bytes) -> bool:
        return False  # never detected by content: discovery catalogs tables by source

    def validate(self, path: Path) -> None:
        name, table = split_db_path(path)
        with open_source(name) as adapter, connect(adapter.store, adapter.source) as connection:
            adapter._check_table(connection, table)

    def list_tables(self, path: Path) -> list[str]:
        return [split_db_path(path)[1]]

    def probe_schema(self, path: Path, table: str, sample_rows: int = 1000) -> ProbeResult:
        name, _ = split_db_path(path)
        with open_source(name) as adapter:
            return adapter.probe_schema(table, sample_rows)

    def read(self, path: Path, table: str) -> pl.DataFrame:
        name, _ = split_db_path(path)
        with open_source(name) as adapter:
            return adapter.read(table)

    def stream(self, path: Path, table: str, chunk_rows: int = 100_000) -> Iterator[pl.DataFrame]:
        name, _ = split_db_path(path)
        with open_source(name) as adapter:
            yield from adapter.stream(table, chunk_rows)


def probe_db_table(path: str, timeout_s: float = 1.0) -> ProbeResult:
    """Probe `db://SOURCE/TABLE` within `timeout_s` (a slow server gives status `error`)."""
    return bounded_probe(
        path,
        path.rpartition("/")[2],
        lambda: DatabaseTableAdapter().probe_schema(Path(path), split_db_path(path)[1]),
        timeout_s,
        "select it anyway to read it in full",
    )


def checksummed(chunks: Iterator[pl.DataFrame], digest: Future[str]) -> Iterator[pl.DataFrame]:
    """Pass `chunks` through and resolve `digest` to the extraction checksum when they end:
    sha256 over each chunk's row hashes, then `@` and the time the read started (the snapshot:
    one SELECT statement sees one consistent state of the table)."""
    started = datetime.now(UTC).isoformat(timespec="seconds")
    hasher = hashlib.sha256()
    for chunk in chunks:
        hasher.update(chunk.hash_rows(seed=0).to_numpy().tobytes())
        yield chunk
    digest.set_result(f"{hasher.hexdigest()}@{started}")


def split_checksum(value: str | None) -> tuple[str | None, str | None]:
    """An extraction checksum of `checksummed` -> (sha256, snapshot time)."""
    if value is None or "@" not in value:
        return value, None
    checksum, _, snapshot = value.partition("@")
    return checksum, snapshot
