"""The reverse-ETL actions on a stored database source: introspect a table, and generate its
pandera model and JSON Schema (`dat db analyze|model`). A database error is one DatabaseError
line (the driver's, redacted)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dat_pipeline.errors import DatabaseError
from dat_pipeline.reverse_etl.introspect import TableInfo, analyze_table
from dat_pipeline.reverse_etl.model import build_model_spec, write_model
from dat_pipeline.services.context import ServiceContext
from dat_pipeline.sources import driver_message, engine_for


@contextlib.contextmanager
def _table_info(
    ctx: ServiceContext, source: str, table: str, schema: str | None
) -> Iterator[TableInfo]:
    engine = engine_for(ctx.store, source, read_only=True)
    try:
        yield analyze_table(engine, table, schema)
    except sa.exc.SQLAlchemyError as exc:
        raise DatabaseError(f"database error: {driver_message(exc)}") from None
    finally:
        engine.dispose()


def analyze(
    ctx: ServiceContext, source: str, table: str, schema: str | None = None
) -> dict[str, Any]:
    """Columns, row count, primary and foreign keys, indexes and constraints of a table."""
    with _table_info(ctx, source, table, schema) as info:
        return info.to_json()


def model(
    ctx: ServiceContext,
    source: str,
    table: str,
    out: Path,
    constraints: list[str] | None = None,
    schema: str | None = None,
) -> dict[str, Any]:
    """Write a pandera model (Polars) and a JSON Schema (draft 2020-12) of a table to `out`."""
    with _table_info(ctx, source, table, schema) as info:
        spec = build_model_spec(info, constraints or [])
    paths = write_model(spec, out)
    return {
        "table": info.qualified_name,
        "class_name": spec.class_name,
        "pandera": str(paths["pandera"]),
        "json_schema": str(paths["json_schema"]),
        "constraints": list(spec.constraints),
    }
