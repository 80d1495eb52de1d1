"""Reading rows of an introspected table as typed Polars frames, streamed in chunks.

Every frame has the schema the model gives (`ModelSpec.polars_schema`), so chunks of one window,
windows of one table and an empty window all agree. Sessions run in UTC so that time-zone-aware
values and window bounds mean the same instant on every database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dat_pipeline.reverse_etl.errors import ReverseEtlError
from dat_pipeline.reverse_etl.introspect import TableInfo
from dat_pipeline.reverse_etl.types import polars_type

DEFAULT_CHUNK_ROWS = 50_000

_UTC_SESSION = {
    "postgresql": "SET TIME ZONE 'UTC'",
    "mysql": "SET time_zone = '+00:00'",
    "mariadb": "SET time_zone = '+00:00'",
    "duckdb": "SET TimeZone = 'UTC'",
}


def utc_session(connection: Connection) -> None:
    """Make the session's time zone UTC (time-zone-aware values and bounds are UTC instants)."""
    statement = _UTC_SESSION.get(connection.dialect.name)
    if statement:
        connection.exec_driver_sql(statement)


def target_schema(info: TableInfo) -> dict[str, pl.DataType]:
    return {c.name: polars_type(c.type_) for c in info.columns}


def select_list(info: TableInfo) -> list[sa.ColumnElement[Any]]:
    """Quoted columns; types a driver returns as Python objects Polars cannot hold (UUID, JSON,
    intervals, times, arrays) are cast to text by the database."""
    table = info.selectable()
    columns: list[sa.ColumnElement[Any]] = []
    for column in info.columns:
        expr: sa.ColumnElement[Any] = table.c[column.name]
        if column.logical.kind == "string" and not isinstance(
            _generic(column.type_), sa.String | sa.Enum
        ):
            expr = sa.cast(expr, sa.String()).label(column.name)
        columns.append(expr)
    return columns


def _generic(type_: sa.types.TypeEngine) -> sa.types.TypeEngine:
    try:
        return type_.as_generic()
    except NotImplementedError:
        return type_


def build_select(
    info: TableInfo,
    where: sa.ColumnElement[bool] | None = None,
    limit: int | None = None,
) -> sa.Select:
    statement = sa.select(*select_list(info)).select_from(info.selectable())
    if where is not None:
        statement = statement.where(where)
    if limit is not None:
        statement = statement.limit(limit)
    return statement


def rows_to_frame(rows: list[Any], info: TableInfo, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """One chunk of driver rows as a frame with exactly `schema` (a clear error naming the column
    when a value does not fit its type)."""
    names = list(schema)
    if not rows:
        return pl.DataFrame(schema=schema)
    frame = pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)
    try:
        return frame.cast(schema)
    except Exception:  # find the column that does not fit, for the message
        for name in names:
            try:
                frame.get_column(name).cast(schema[name])
            except Exception as exc:
                raise ReverseEtlError(
                    f"table {info.qualified_name!r}, column {name!r}: values of type "
                    f"{frame.schema[name]} do not fit {schema[name]}: {str(exc).splitlines()[0]}"
                ) from None
        raise


def stream_frames(
    connection: Connection,
    info: TableInfo,
    where: sa.ColumnElement[bool] | None = None,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    limit: int | None = None,
) -> Iterator[pl.DataFrame]:
    """Frames of at most `chunk_rows` rows; a server-side cursor keeps memory bounded."""
    schema = target_schema(info)
    statement = build_select(info, where, limit)
    utc_session(connection)
    options: dict[str, Any] = {"stream_results": True, "max_row_buffer": chunk_rows}
    if connection.dialect.name == "duckdb":
        options = {}  # duckdb-engine fetches in batches on its own
    result = connection.execution_options(**options).execute(statement)
    try:
        while rows := result.fetchmany(chunk_rows):
            yield rows_to_frame(rows, info, schema)
    finally:
        result.close()


def read_frame(
    connection: Connection,
    info: TableInfo,
    where: sa.ColumnElement[bool] | None = None,
    *,
    limit: int | None = None,
) -> pl.DataFrame:
    """All matching rows (use for samples and small reads; windows stream)."""
    frames = list(stream_frames(connection, info, where, limit=limit))
    return pl.concat(frames) if frames else pl.DataFrame(schema=target_schema(info))
