"""SQL types to logical types (SPEC 3): integer, decimal, float, string, boolean, date, datetime,
binary; and the one SQL -> Polars type map (`polars_type`) that ingestion, backfill and the
database tables of DAT runs all read with.

SQLAlchemy types (from the inspector) are mapped by class; DuckDB's catalog gives type names, which
go through the same table by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# Arrow decimals beyond this precision would not fit decimal128; such columns travel as float.
MAX_DECIMAL_PRECISION = 38


@dataclass(frozen=True)
class LogicalType:
    """A column's logical type with the details a model carries."""

    kind: str
    precision: int | None = None
    scale: int | None = None
    max_length: int | None = None
    timezone: bool = False
    enum_values: tuple[str, ...] | None = None

    @property
    def exact_decimal(self) -> bool:
        return (
            self.kind == "decimal"
            and self.precision is not None
            and self.precision <= MAX_DECIMAL_PRECISION
        )


def _generic(type_: sa.types.TypeEngine) -> sa.types.TypeEngine:
    try:
        return type_.as_generic()
    except NotImplementedError:
        return type_


def logical_from_sqlalchemy(type_: sa.types.TypeEngine) -> LogicalType:
    """The logical type of a reflected SQLAlchemy column type."""
    name = type(type_).__name__.upper()
    # MySQL/MariaDB declare BOOLEAN as TINYINT(1).
    if name == "TINYINT" and getattr(type_, "display_width", None) == 1:
        return LogicalType("boolean")
    enums = getattr(type_, "enums", None)
    if enums:
        return LogicalType(
            "string",
            max_length=max(len(v) for v in enums),
            enum_values=tuple(str(v) for v in enums),
        )
    generic = _generic(type_)
    if isinstance(generic, sa.Boolean):
        return LogicalType("boolean")
    if isinstance(generic, sa.Integer):
        return LogicalType("integer")
    if isinstance(generic, sa.Float):
        return LogicalType("float")
    if isinstance(generic, sa.Numeric):
        precision = getattr(type_, "precision", None)
        scale = getattr(type_, "scale", None)
        return LogicalType("decimal", precision=precision, scale=scale)
    if isinstance(generic, sa.DateTime):
        return LogicalType("datetime", timezone=bool(getattr(type_, "timezone", False)))
    if isinstance(generic, sa.Date):
        return LogicalType("date")
    if isinstance(generic, sa.types._Binary):
        return LogicalType("binary")
    if isinstance(generic, sa.String):
        return LogicalType("string", max_length=getattr(type_, "length", None))
    return logical_from_name(str(type_) if not isinstance(type_, sa.types.NullType) else "")


_NAME_RULES: tuple[tuple[str, str], ...] = (
    (r"^(BOOL|BOOLEAN|LOGICAL)$", "boolean"),
    (
        r"^(TINYINT|SMALLINT|INT\d*|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|"
        r"UHUGEINT|SERIAL|BIGSERIAL|LONG|SHORT|SIGNED)$",
        "integer",
    ),
    (r"^(DECIMAL|NUMERIC|DEC)$", "decimal"),
    (r"^(FLOAT\d*|REAL|DOUBLE|DOUBLE PRECISION)$", "float"),
    (r"^(TIMESTAMP.*|DATETIME.*)$", "datetime"),
    (r"^DATE$", "date"),
    (r"^(BLOB|BYTEA|BINARY|VARBINARY|BITSTRING|BIT)$", "binary"),
)


def logical_from_name(sql_type: str) -> LogicalType:
    """The logical type of a type name as a catalog spells it (e.g. `DECIMAL(10,2)`)."""
    text = sql_type.strip().upper()
    enum = re.match(r"^ENUM\((.*)\)$", sql_type.strip(), re.IGNORECASE | re.DOTALL)
    if enum:
        values = tuple(v.replace("''", "'") for v in re.findall(r"'((?:[^']|'')*)'", enum.group(1)))
        return LogicalType(
            "string", max_length=max((len(v) for v in values), default=None), enum_values=values
        )
    match = re.match(r"^([A-Z ]+?)\s*(?:\(([^)]*)\))?(\s+WITH(OUT)? TIME ZONE)?$", text)
    base = match.group(1).strip() if match else text
    args = [a.strip() for a in (match.group(2) or "").split(",") if a.strip()] if match else []
    for pattern, kind in _NAME_RULES:
        if re.match(pattern, base):
            if kind == "decimal":
                precision = int(args[0]) if args else None
                scale = int(args[1]) if len(args) > 1 else (0 if args else None)
                return LogicalType("decimal", precision=precision, scale=scale)
            if kind == "datetime":
                aware = "WITH TIME ZONE" in text or base in ("TIMESTAMPTZ", "TIMESTAMP_TZ")
                return LogicalType("datetime", timezone=aware)
            return LogicalType(kind)
    if base in ("TIMESTAMPTZ",):
        return LogicalType("datetime", timezone=True)
    length = int(args[0]) if base in ("VARCHAR", "CHAR", "CHARACTER VARYING") and args else None
    return LogicalType("string", max_length=length)


_INTEGER_WIDTHS = {"TINYINT": sa.SmallInteger, "SMALLINT": sa.SmallInteger, "INTEGER": sa.Integer}


def sqlalchemy_type_for(logical: LogicalType, sql_type: str = "") -> sa.types.TypeEngine:
    """A generic SQLAlchemy type that reads a column of this logical type (for catalogs, such as
    DuckDB's, whose columns are not reflected as SQLAlchemy types); `sql_type`, the catalog's
    name, keeps the width of small integers."""
    if logical.kind == "integer":
        return _INTEGER_WIDTHS.get(sql_type.strip().upper(), sa.BigInteger)()
    if logical.kind == "decimal":
        return sa.Numeric(logical.precision, logical.scale)
    if logical.kind == "float":
        return sa.Float()
    if logical.kind == "boolean":
        return sa.Boolean()
    if logical.kind == "date":
        return sa.Date()
    if logical.kind == "datetime":
        return sa.DateTime(timezone=logical.timezone)
    if logical.kind == "binary":
        return sa.LargeBinary()
    return sa.String(logical.max_length)


def polars_type(type_: sa.types.TypeEngine) -> pl.DataType:
    """The Polars type a database column reads as: the width and signedness of integers kept,
    DECIMAL(p <= 38, s) exact, an unconstrained NUMERIC as Float64 (decimal128 cannot hold every
    value), TIMESTAMP WITH TIME ZONE and MySQL TIMESTAMP (read in a UTC session) as UTC instants,
    MySQL's TINYINT(1) (its BOOLEAN) as Boolean, JSON and anything unknown as text."""
    unsigned = bool(getattr(type_, "unsigned", False))
    if isinstance(type_, mysql.TINYINT):
        if getattr(type_, "display_width", None) == 1:
            return pl.Boolean()
        return pl.UInt8() if unsigned else pl.Int8()
    if isinstance(type_, sa.Boolean):
        return pl.Boolean()
    if isinstance(type_, sa.SmallInteger):
        return pl.UInt16() if unsigned else pl.Int16()
    if isinstance(type_, sa.BigInteger):
        return pl.UInt64() if unsigned else pl.Int64()
    if isinstance(type_, sa.Integer):
        return pl.UInt32() if unsigned else pl.Int32()
    if isinstance(type_, sa.Float):
        return pl.Float64()
    if isinstance(type_, sa.Numeric):
        precision, scale = type_.precision, type_.scale
        if precision and precision <= MAX_DECIMAL_PRECISION:
            return pl.Decimal(precision, scale or 0)
        return pl.Float64()
    if isinstance(type_, sa.DateTime):
        utc = type_.timezone or isinstance(type_, mysql.TIMESTAMP)
        return pl.Datetime("us", "UTC" if utc else None)
    if isinstance(type_, sa.Date):
        return pl.Date()
    if isinstance(type_, sa.Time):
        return pl.Time()
    if isinstance(type_, sa.Interval):
        return pl.Duration("us")
    if isinstance(type_, sa.LargeBinary | sa.types._Binary):
        return pl.Binary()
    return pl.String()
