"""Database sources (SPEC 2.1): named connections kept in the control store.

A source is MySQL/MariaDB, PostgreSQL, SQLite or DuckDB (the last two: a file under the data root)
with an optional default table or query. Its password is Fernet-encrypted in the store and is
decrypted only inside `engine_for`; every message this module produces is redacted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from sqlalchemy import Connection, Engine, create_engine, delete, insert, inspect, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError

from dat_pipeline.errors import DatError, NotFoundError
from dat_pipeline.names import NAME as _NAME
from dat_pipeline.paths import normalize_relative, resolve_inside
from dat_pipeline.settings import get_settings
from dat_pipeline.sources.secrets import MASK, decrypt_secret, encrypt_secret, redact
from dat_pipeline.store import ControlStore, utc_now
from dat_pipeline.store import schema as store_schema
from dat_pipeline.store.reads import record

SourceKind = Literal["mysql", "postgresql", "sqlite", "duckdb"]
SERVER_KINDS = ("mysql", "postgresql")
FILE_KINDS = ("sqlite", "duckdb")
DEFAULT_PORTS = {"mysql": 3306, "postgresql": 5432}
CONNECT_TIMEOUT_S = 10


class SourceError(DatError):
    """A database source that is invalid, unknown, or cannot be reached (message is redacted)."""


class DatabaseSource(BaseModel):
    """A database connection without its password (that lives encrypted in the store only).

    `database` is the database name for mysql/postgresql, and a file path relative to the data
    root for sqlite/duckdb. `table` or `query` (not both) is what a plain ingestion reads.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: SourceKind
    host: str | None = None
    port: int | None = None
    database: str
    user: str | None = None
    table: str | None = None
    query: str | None = None
    project: str | None = None
    has_password: bool = False

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value or ""):
            raise ValueError(
                f"source name {value!r} is not valid: use lowercase letters, digits and _, "
                "starting with a letter (at most 63 characters), e.g. 'crm_prod'"
            )
        return value

    @field_validator("project")
    @classmethod
    def _check_project(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError(
                f"project {value!r} is not valid: lowercase letters, digits and _, e.g. 'sales'"
            )
        return value

    @model_validator(mode="after")
    def _check_shape(self) -> DatabaseSource:
        if self.table is not None and self.query is not None:
            raise ValueError("give either a table or a query, not both")
        if self.query is not None and not self.query.strip():
            raise ValueError("the query is empty")
        if not self.database.strip():
            raise ValueError("the database is empty")
        if self.kind in FILE_KINDS:
            if self.host or self.port or self.user:
                raise ValueError(
                    f"a {self.kind} source is a file: give --database PATH (relative to the data "
                    "root) and no host, port or user"
                )
            normalize_relative(self.database)  # raises PathEscapeError for absolute or ../ paths
        else:
            if not self.host:
                raise ValueError(f"a {self.kind} source needs a host (e.g. 127.0.0.1)")
            if self.port is None:
                object.__setattr__(self, "port", DEFAULT_PORTS[self.kind])
            if not 0 < int(self.port) < 65536:
                raise ValueError(f"port {self.port} is not between 1 and 65535")
        return self

    def label(self) -> str:
        """How the source is named in messages: never with the password."""
        if self.kind in FILE_KINDS:
            return f"source {self.name!r} ({self.kind} file {self.database})"
        user = f"{self.user}@" if self.user else ""
        return f"source {self.name!r} ({self.kind} {user}{self.host}:{self.port}/{self.database})"

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description; the password shows as `********` when there is one."""
        data = self.model_dump(exclude={"has_password"})
        data["password"] = MASK if self.has_password else None
        return data


def make_source(**fields: Any) -> DatabaseSource:
    """Build a `DatabaseSource`, turning validation problems into one `SourceError` line."""
    try:
        return DatabaseSource(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'source'}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise SourceError(f"invalid database source: {problems}") from None


# -- store -----------------------------------------------------------------------------------
def _row_to_source(row: Any) -> DatabaseSource:
    return record(
        DatabaseSource,
        row,
        table=row["table_name"],
        has_password=row["password_encrypted"] is not None,
    )


def add_database_source(
    store: ControlStore, source: DatabaseSource, password: str | None, replace: bool = False
) -> DatabaseSource:
    """Store `source` with its password encrypted (needs `DAT_ENCRYPTION_KEY` when a password is
    given). An existing name is an error unless `replace`."""
    token = encrypt_secret(password) if password else None
    values = {
        "kind": source.kind,
        "host": source.host,
        "port": source.port,
        "database": source.database,
        "user": source.user,
        "password_encrypted": token,
        "table_name": source.table,
        "query": source.query,
        "project": source.project,
        "created_at": utc_now(),
    }
    table = store_schema.db_sources
    try:
        with store.write() as connection:
            exists = connection.execute(
                select(table.c.name).where(table.c.name == source.name)
            ).first()
            if exists and not replace:
                raise SourceError(
                    f"a database source named {source.name!r} already exists; delete it first "
                    f"(dat sources delete {source.name}) or pick another name"
                )
            if exists:
                connection.execute(delete(table).where(table.c.name == source.name))
            connection.execute(insert(table).values(name=source.name, **values))
    except IntegrityError:
        raise SourceError(f"a database source named {source.name!r} already exists") from None
    return source.model_copy(update={"has_password": token is not None})


def get_database_source(store: ControlStore, name: str) -> DatabaseSource:
    """The stored source `name`; `NotFoundError` when there is none."""
    missing = (
        f"no database source named {name!r}; list them with `dat sources list` or add one "
        "with `dat sources add`"
    )
    return _row_to_source(store.one(store_schema.db_sources, missing, name=name))


def list_database_sources(store: ControlStore) -> list[DatabaseSource]:
    """Every stored source, by name."""
    return [_row_to_source(row) for row in store.rows(store_schema.db_sources, order_by="name")]


def delete_database_source(store: ControlStore, name: str) -> None:
    """Forget source `name` and its encrypted password; `NotFoundError` when there is none."""
    table = store_schema.db_sources
    with store.write() as connection:
        result = connection.execute(delete(table).where(table.c.name == name))
    if result.rowcount == 0:
        raise NotFoundError(f"no database source named {name!r}; nothing deleted")


def _password_of(store: ControlStore, source: DatabaseSource) -> str | None:
    row = store.row(store_schema.db_sources, name=source.name)
    token = row["password_encrypted"] if row else None
    if token is None:
        return None
    return decrypt_secret(token, what=f"the password of {source.label()}")


def _resolve(store: ControlStore, name_or_source: str | DatabaseSource) -> DatabaseSource:
    if isinstance(name_or_source, DatabaseSource):
        return name_or_source
    return get_database_source(store, name_or_source)


# -- engines ---------------------------------------------------------------------------------
def source_path(source: DatabaseSource, data_root: Path | None = None) -> Path:
    """The file of a sqlite/duckdb source, checked to stay inside the data root."""
    if source.kind not in FILE_KINDS:
        raise SourceError(f"{source.label()} is not a file source")
    return resolve_inside(Path(data_root or get_settings().data_root), source.database)


# The SQLAlchemy driver of each server kind and its URL query (MySQL: full UTF-8).
_DRIVERS: dict[str, tuple[str, dict[str, str]]] = {
    "mysql": ("mysql+pymysql", {"charset": "utf8mb4"}),
    "postgresql": ("postgresql+psycopg", {}),
}


def engine_for(
    store: ControlStore,
    name_or_source: str | DatabaseSource,
    *,
    read_only: bool = False,
    connect_timeout: int = CONNECT_TIMEOUT_S,
    password: str | None = None,
) -> Engine:
    """A new SQLAlchemy engine for a source (the caller disposes it).

    The password is decrypted from the store by source name (or given as `password` for a source
    not stored yet). `read_only` opens sqlite/duckdb files read-only, which also means a missing file
    is an error instead of a new empty database. Connects time out after `connect_timeout` seconds.
    """
    source = _resolve(store, name_or_source)
    if source.kind in FILE_KINDS:
        path = source_path(source)
        if source.kind == "sqlite":
            if read_only:
                return create_engine(
                    f"sqlite:///file:{path}?mode=ro&uri=true",
                    connect_args={"timeout": connect_timeout},
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            return create_engine(f"sqlite:///{path}", connect_args={"timeout": connect_timeout})
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        return create_engine(
            f"duckdb:///{path}", connect_args={"read_only": True} if read_only else {}
        )
    secret = password if password is not None else _password_of(store, source)
    driver, query = _DRIVERS[source.kind]
    url = URL.create(
        driver,
        username=source.user,
        password=secret,
        host=source.host,
        port=source.port,
        database=source.database,
        query=query,
    )
    connect_args: dict[str, Any] = {"connect_timeout": connect_timeout}
    if source.kind == "mysql":
        # MySQL converts TIMESTAMP values to the session time zone: pin it to UTC so TIMESTAMP
        # columns read (and write) as UTC instants whatever the server's default.
        connect_args["init_command"] = "SET time_zone = '+00:00'"
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)


def _engine_secrets(engine: Engine) -> list[str]:
    return [engine.url.password] if engine.url.password else []


@contextlib.contextmanager
def connect(
    store: ControlStore,
    name_or_source: str | DatabaseSource,
    *,
    read_only: bool = True,
    connect_timeout: int = CONNECT_TIMEOUT_S,
    password: str | None = None,
) -> Iterator[Connection]:
    """A connection to a source; connection failures become a redacted `SourceError`, and the
    engine is disposed on exit. `password` is for a source not stored yet."""
    source = _resolve(store, name_or_source)
    engine = engine_for(
        store, source, read_only=read_only, connect_timeout=connect_timeout, password=password
    )
    try:
        try:
            connection = engine.connect()
        except Exception as exc:  # every driver has its own error types; all mean "cannot connect"
            raise SourceError(
                connection_error_message(source, exc, _engine_secrets(engine))
            ) from None
        with connection:
            yield connection
    finally:
        engine.dispose()


def driver_message(exc: BaseException, secrets: list[str] | None = None) -> str:
    """The driver's own first line of an error (not SQLAlchemy's wrapper text), redacted."""
    original = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    first = " ".join(lines[:2])[:400] if lines else original.__class__.__name__
    return redact(first, secrets or [])


def connection_error_message(
    source: DatabaseSource, exc: BaseException, secrets: list[str] | None = None
) -> str:
    """Why a connection failed, in words a user can act on, naming the source and never the secret."""
    detail = driver_message(exc, secrets)
    lowered = detail.lower()
    if source.kind in FILE_KINDS:
        reason = f"cannot open the {source.kind} file {source.database} under the data root"
        if "unable to open" in lowered or "no such file" in lowered or "does not exist" in lowered:
            reason = f"the {source.kind} file {source.database} does not exist under the data root"
    elif any(
        marker in lowered
        for marker in (
            "can't connect",
            "connection refused",
            "timeout",
            "timed out",
            "could not translate host",
            "name or service not known",
            "no route to host",
            "network is unreachable",
            "nodename nor servname",
            "temporary failure in name resolution",
        )
    ):
        reason = (
            f"cannot reach {source.host}:{source.port} (is the server running, and are the host "
            "and port right?)"
        )
    elif "access denied" in lowered or "password authentication failed" in lowered:
        reason = (
            f"authentication failed for user {source.user!r}: check the user and password "
            f"(add the source again with the right password)"
        )
    elif "unknown database" in lowered or ("database" in lowered and "does not exist" in lowered):
        reason = f"database {source.database!r} does not exist on {source.host}:{source.port}"
    else:
        reason = "cannot connect"
    return f"{source.label()}: {reason}. Driver said: {detail}"


def split_table(source: DatabaseSource, table: str) -> tuple[str | None, str]:
    """`schema.table` -> (schema, table) for server databases; file databases use the main schema."""
    if "." in table and source.kind in SERVER_KINDS:
        schema_name, _, name = table.partition(".")
        return schema_name, name
    return None, table


def test_connection(
    store: ControlStore, name: str | DatabaseSource, password: str | None = None
) -> tuple[bool, str]:
    """Connect to source `name` (within 10 s) and check its table or query; (ok, message).
    A `DatabaseSource` not saved yet is tested with `password` (test before saving)."""
    try:
        source = _resolve(store, name)
        with connect(store, source, read_only=True, password=password) as connection:
            connection.execute(text("SELECT 1"))
            version = connection.dialect.server_version_info
            where = source.label()
            if source.table:
                schema_name, table = split_table(source, source.table)
                if not inspect(connection).has_table(table, schema=schema_name):
                    return False, (
                        f"{where}: connected, but table {source.table!r} does not exist; "
                        f"see its tables with `dat sources show {source.name} --tables`"
                    )
            if source.query:
                body = source.query.strip().rstrip(";")
                try:
                    connection.execute(text(f"SELECT * FROM ({body}) AS dat_probe LIMIT 0"))
                except Exception as exc:  # the driver's SQL error is what the user needs
                    return False, f"{where}: connected, but the query fails: {driver_message(exc)}"
    except (SourceError, NotFoundError, DatError) as exc:
        return False, str(exc)
    ending = f" (server version {'.'.join(str(v) for v in version)})" if version else ""
    return True, f"{where}: connected{ending}"


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
