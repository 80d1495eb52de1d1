"""Introspection of a database table (SPEC 3): columns, row count, keys, indexes, constraints.

MySQL/MariaDB, PostgreSQL and SQLite go through SQLAlchemy's inspector; DuckDB through its own
catalog functions (duckdb-engine's inspector does not read DuckDB's catalog). The result is also
the catalog every later SQL identifier is checked against: `TableInfo.selectable()` and
`TableInfo.column()` hand out dialect-quoted SQLAlchemy objects, never raw text.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from dat_pipeline.reverse_etl.errors import ReverseEtlError, UnknownIdentifierError
from dat_pipeline.reverse_etl.types import (
    LogicalType,
    logical_from_name,
    logical_from_sqlalchemy,
    sqlalchemy_type_for,
)

# Above this many rows (by the catalog's estimate) the exact count is skipped and the estimate kept.
ESTIMATE_ABOVE_ROWS = 1_000_000


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    sql_type: str
    logical: LogicalType
    nullable: bool
    default: str | None
    type_: sa.types.TypeEngine = field(repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sql_type": self.sql_type,
            "logical_type": self.logical.kind,
            "nullable": self.nullable,
            "default": self.default,
        }


@dataclass(frozen=True)
class TableInfo:
    """What the catalog says about one table."""

    table: str
    schema: str | None
    dialect: str
    row_count: int
    row_count_estimated: bool
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[dict[str, Any], ...]
    indexes: tuple[dict[str, Any], ...]
    unique: tuple[dict[str, Any], ...]
    check_constraints: tuple[dict[str, Any], ...]

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.table}" if self.schema else self.table

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column_info(self, name: str) -> ColumnInfo:
        """The column `name`, checked against the catalog (a clear error listing the columns)."""
        for column in self.columns:
            if column.name == name:
                return column
        hint = next((c.name for c in self.columns if c.name.lower() == str(name).lower()), None)
        suggestion = f"; did you mean {hint!r}?" if hint else ""
        raise UnknownIdentifierError(
            f"column {name!r} does not exist in table {self.qualified_name!r}{suggestion} "
            f"(columns: {', '.join(self.column_names)})"
        )

    @functools.cached_property
    def _table_clause(self) -> sa.TableClause:
        return sa.table(
            self.table, *[sa.column(c.name, c.type_) for c in self.columns], schema=self.schema
        )

    def selectable(self) -> sa.TableClause:
        """The table as a SQLAlchemy construct (one per TableInfo): the dialect quotes every
        identifier."""
        return self._table_clause

    def column(self, name: str) -> sa.ColumnClause:
        self.column_info(name)
        return self.selectable().c[name]

    def unique_column_sets(self) -> list[tuple[str, ...]]:
        """Column sets that the database keeps unique: the primary key, unique constraints and
        unique indexes (deduplicated)."""
        sets: list[tuple[str, ...]] = []
        candidates = [self.primary_key] if self.primary_key else []
        candidates += [tuple(u["columns"]) for u in self.unique]
        candidates += [tuple(i["columns"]) for i in self.indexes if i.get("unique")]
        for columns in candidates:
            if columns and columns not in sets and all(c for c in columns):
                sets.append(columns)
        return sets

    def to_json(self) -> dict[str, Any]:
        """The `dat db analyze --json` document (issue 6 item 1), plus the check constraints."""
        return {
            "table": self.qualified_name,
            "row_count": self.row_count,
            "row_count_estimated": self.row_count_estimated,
            "columns": [c.to_json() for c in self.columns],
            "primary_key": list(self.primary_key),
            "foreign_keys": [dict(fk) for fk in self.foreign_keys],
            "indexes": [dict(ix) for ix in self.indexes],
            "unique": [dict(u) for u in self.unique],
            "check_constraints": [dict(c) for c in self.check_constraints],
        }


def dialect_name(bind: Engine | Connection) -> str:
    return bind.dialect.name


def _compile_type(type_: sa.types.TypeEngine, dialect: sa.engine.Dialect) -> str:
    try:
        return type_.compile(dialect=dialect)
    except Exception:  # some reflected types cannot compile back; their repr is still telling
        return str(type_)


def _check_schema(connection: Connection, schema: str | None) -> None:
    if schema is None:
        return
    names = sa.inspect(connection).get_schema_names()
    if schema not in names:
        raise UnknownIdentifierError(
            f"schema {schema!r} does not exist (schemas: {', '.join(sorted(names)[:30])})"
        )


def _unknown_table(table: str, schema: str | None, names: list[str]) -> UnknownIdentifierError:
    where = f" in schema {schema!r}" if schema else ""
    hint = next((n for n in names if n.lower() == str(table).lower()), None)
    suggestion = f"; did you mean {hint!r}?" if hint else ""
    shown = ", ".join(sorted(names)[:30]) or "none"
    return UnknownIdentifierError(
        f"table {table!r} does not exist{where}{suggestion} (tables: {shown})"
    )


def list_tables(bind: Engine | Connection, schema: str | None = None) -> list[str]:
    """Tables and views of a schema (the default one when None)."""
    with _connection(bind) as connection:
        if dialect_name(connection) == "duckdb":
            return _duckdb_tables(connection, schema)
        _check_schema(connection, schema)
        inspector = sa.inspect(connection)
        return [*inspector.get_table_names(schema), *inspector.get_view_names(schema)]


class _connection:
    """Use a given connection as is, or open (and close) one from an engine."""

    def __init__(self, bind: Engine | Connection):
        self._bind = bind
        self._owned: Connection | None = None

    def __enter__(self) -> Connection:
        if isinstance(self._bind, Connection):
            return self._bind
        self._owned = self._bind.connect()
        return self._owned

    def __exit__(self, *exc: object) -> None:
        if self._owned is not None:
            self._owned.close()


def analyze_table(
    bind: Engine | Connection,
    table: str,
    schema: str | None = None,
    *,
    estimate_above: int = ESTIMATE_ABOVE_ROWS,
) -> TableInfo:
    """Introspect `table` (checked against the catalog first; unknown names are a clear error)."""
    if not isinstance(table, str) or not table:
        raise ReverseEtlError("give a table name")
    with _connection(bind) as connection:
        dialect = dialect_name(connection)
        try:
            if dialect == "duckdb":
                info = _analyze_duckdb(connection, table, schema)
            else:
                info = _analyze_inspector(connection, table, schema)
            count, estimated = _row_count(connection, info, estimate_above)
        except ReverseEtlError:
            raise
        except sa.exc.SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", exc)).splitlines()[0]
            raise ReverseEtlError(
                f"cannot introspect table {table!r} ({dialect}): {detail}"
            ) from None
    return TableInfo(**{**info, "row_count": count, "row_count_estimated": estimated})


# -- SQLAlchemy inspector (PostgreSQL, MySQL/MariaDB, SQLite) ---------------------------------
def _analyze_inspector(connection: Connection, table: str, schema: str | None) -> dict[str, Any]:
    _check_schema(connection, schema)
    inspector = sa.inspect(connection)
    names = [*inspector.get_table_names(schema), *inspector.get_view_names(schema)]
    if table not in names:
        raise _unknown_table(table, schema, names)
    dialect = connection.dialect
    columns = tuple(
        ColumnInfo(
            name=c["name"],
            sql_type=_compile_type(c["type"], dialect),
            logical=logical_from_sqlalchemy(c["type"]),
            nullable=bool(c.get("nullable", True)),
            default=None if c.get("default") is None else str(c["default"]),
            type_=c["type"],
        )
        for c in inspector.get_columns(table, schema)
    )
    pk = tuple(inspector.get_pk_constraint(table, schema).get("constrained_columns") or ())
    if pk and dialect.name == "sqlite":
        # SQLite reports PK columns as nullable; a primary key column never holds NULL here.
        columns = tuple(
            ColumnInfo(**{**c.__dict__, "nullable": False}) if c.name in pk else c for c in columns
        )
    foreign_keys = tuple(
        {
            "columns": list(fk["constrained_columns"]),
            "ref_table": ".".join(
                p for p in (fk.get("referred_schema"), fk["referred_table"]) if p
            ),
            "ref_columns": list(fk["referred_columns"]),
        }
        for fk in inspector.get_foreign_keys(table, schema)
    )
    indexes = [
        {"name": ix["name"], "columns": list(ix["column_names"]), "unique": bool(ix["unique"])}
        for ix in inspector.get_indexes(table, schema)
    ]
    unique = [
        {"name": u.get("name"), "columns": list(u["column_names"])}
        for u in _optional(inspector.get_unique_constraints, table, schema)
    ]
    if dialect.name == "sqlite":
        _sqlite_autoindexes(connection, table, indexes, unique)
    checks = [
        {"name": c.get("name"), "sqltext": str(c["sqltext"])}
        for c in _optional(inspector.get_check_constraints, table, schema)
    ]
    if dialect.name in ("mysql", "mariadb"):
        _mysql_column_checks(connection, table, schema, checks)
    return {
        "table": table,
        "schema": schema,
        "dialect": dialect.name,
        "columns": columns,
        "primary_key": pk,
        "foreign_keys": foreign_keys,
        "indexes": tuple(indexes),
        "unique": tuple(unique),
        "check_constraints": tuple(checks),
    }


def _optional(method: Any, table: str, schema: str | None) -> list[dict[str, Any]]:
    try:
        return list(method(table, schema))
    except NotImplementedError:
        return []


def _sqlite_autoindexes(
    connection: Connection,
    table: str,
    indexes: list[dict[str, Any]],
    unique: list[dict[str, Any]],
) -> None:
    """Inline `UNIQUE` columns in SQLite live only as automatic indexes, which the inspector skips."""
    known = {tuple(u["columns"]) for u in unique}
    rows = connection.execute(
        sa.text("SELECT name, origin FROM pragma_index_list(:t) WHERE origin = 'u'"), {"t": table}
    ).all()
    for name, _origin in rows:
        cols = connection.execute(
            sa.text("SELECT name FROM pragma_index_info(:i) ORDER BY seqno"), {"i": name}
        ).scalars()
        columns = [c for c in cols if c]
        if columns and tuple(columns) not in known:
            unique.append({"name": None, "columns": columns})
            indexes.append({"name": name, "columns": columns, "unique": True})
            known.add(tuple(columns))


def _mysql_column_checks(
    connection: Connection, table: str, schema: str | None, checks: list[dict[str, Any]]
) -> None:
    """Column-level CHECKs of MariaDB are missing from the inspector's SHOW CREATE TABLE parse."""
    if not getattr(connection.dialect, "is_mariadb", False):
        return
    rows = connection.execute(
        sa.text(
            "SELECT CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
            "WHERE CONSTRAINT_SCHEMA = COALESCE(:s, DATABASE()) AND TABLE_NAME = :t"
        ),
        {"s": schema, "t": table},
    ).all()
    known = {c["sqltext"] for c in checks}
    for name, clause in rows:
        if clause not in known:
            checks.append({"name": name, "sqltext": clause})
            known.add(clause)


# -- DuckDB catalog -----------------------------------------------------------------------------
def _duckdb_schema(connection: Connection, schema: str | None) -> str:
    if schema is None:
        return str(connection.execute(sa.text("SELECT current_schema()")).scalar_one())
    names = connection.execute(
        sa.text("SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database()")
    ).scalars()
    names = list(names)
    if schema not in names:
        raise UnknownIdentifierError(
            f"schema {schema!r} does not exist (schemas: {', '.join(sorted(names))})"
        )
    return schema


def _duckdb_tables(connection: Connection, schema: str | None) -> list[str]:
    schema_name = _duckdb_schema(connection, schema)
    return list(
        connection.execute(
            sa.text(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                "AND schema_name = :s UNION ALL SELECT view_name FROM duckdb_views() "
                "WHERE database_name = current_database() AND schema_name = :s AND NOT internal"
            ),
            {"s": schema_name},
        ).scalars()
    )


def _analyze_duckdb(connection: Connection, table: str, schema: str | None) -> dict[str, Any]:
    schema_name = _duckdb_schema(connection, schema)
    names = _duckdb_tables(connection, schema)
    if table not in names:
        raise _unknown_table(table, schema, names)
    where = {"s": schema_name, "t": table}
    scope = "database_name = current_database() AND schema_name = :s AND table_name = :t"
    column_rows = connection.execute(
        sa.text(
            f"SELECT column_name, data_type, is_nullable, column_default FROM duckdb_columns() "
            f"WHERE {scope} ORDER BY column_index"
        ),
        where,
    ).all()
    columns = []
    for name, data_type, nullable, default in column_rows:
        logical = logical_from_name(data_type)
        columns.append(
            ColumnInfo(
                name=name,
                sql_type=data_type,
                logical=logical,
                nullable=bool(nullable),
                default=default,
                type_=sqlalchemy_type_for(logical, data_type),
            )
        )
    constraint_rows = connection.execute(
        sa.text(
            f"SELECT constraint_type, constraint_column_names, referenced_table, "
            f"referenced_column_names, constraint_name, expression FROM duckdb_constraints() "
            f"WHERE {scope} ORDER BY constraint_index"
        ),
        where,
    ).all()
    pk: tuple[str, ...] = ()
    foreign_keys, unique, checks = [], [], []
    for kind, cols, ref_table, ref_cols, name, expression in constraint_rows:
        if kind == "PRIMARY KEY":
            pk = tuple(cols)
        elif kind == "FOREIGN KEY":
            foreign_keys.append(
                {"columns": list(cols), "ref_table": ref_table, "ref_columns": list(ref_cols)}
            )
        elif kind == "UNIQUE":
            unique.append({"name": name, "columns": list(cols)})
        elif kind == "CHECK":
            checks.append({"name": name, "sqltext": expression})
    index_rows = connection.execute(
        sa.text(
            f"SELECT index_name, is_unique, expressions FROM duckdb_indexes() WHERE {scope} "
            "ORDER BY index_name"
        ),
        where,
    ).all()
    indexes = []
    for name, is_unique, expressions in index_rows:
        parsed = _duckdb_index_columns(expressions)
        indexes.append({"name": name, "columns": parsed, "unique": bool(is_unique)})
    if pk:
        columns = [
            ColumnInfo(**{**c.__dict__, "nullable": False}) if c.name in pk else c for c in columns
        ]
    return {
        "table": table,
        "schema": schema,
        "dialect": "duckdb",
        "columns": tuple(columns),
        "primary_key": pk,
        "foreign_keys": tuple(foreign_keys),
        "indexes": tuple(indexes),
        "unique": tuple(unique),
        "check_constraints": tuple(checks),
    }


def _duckdb_index_columns(expressions: Any) -> list[str]:
    """DuckDB lists index expressions as a string like `['"name"', 'lower(x)']`."""
    if isinstance(expressions, list | tuple):
        items = [str(e) for e in expressions]
    else:
        text = str(expressions or "").strip()
        items = [p.strip().strip("'") for p in text.strip("[]").split(",") if p.strip()]
    return [item.strip('"') for item in items]


# -- row counts -----------------------------------------------------------------------------
def _row_count(
    connection: Connection, info: dict[str, Any], estimate_above: int
) -> tuple[int, bool]:
    estimate = _catalog_estimate(connection, info)
    if estimate is not None and estimate >= estimate_above:
        return int(estimate), True
    table = sa.table(info["table"], schema=info["schema"])
    exact = connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    return int(exact), False


def _catalog_estimate(connection: Connection, info: dict[str, Any]) -> int | None:
    dialect = info["dialect"]
    if dialect == "postgresql":
        value = connection.execute(
            sa.text(
                "SELECT c.reltuples FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                "ON n.oid = c.relnamespace WHERE c.relname = :t "
                "AND n.nspname = COALESCE(:s, current_schema())"
            ),
            {"t": info["table"], "s": info["schema"]},
        ).scalar()
        # -1 (PostgreSQL 14+) or 0 means never analyzed: no estimate.
        return int(value) if value is not None and value > 0 else None
    if dialect in ("mysql", "mariadb"):
        value = connection.execute(
            sa.text(
                "SELECT TABLE_ROWS FROM information_schema.tables "
                "WHERE table_schema = COALESCE(:s, DATABASE()) AND table_name = :t"
            ),
            {"t": info["table"], "s": info["schema"]},
        ).scalar()
        return int(value) if value is not None else None
    return None
