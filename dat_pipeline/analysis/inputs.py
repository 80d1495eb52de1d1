"""What phases read besides their own logic: earlier phases' result tables by table and column,
the semantic roles of columns, and the data columns of a table (without the row number).

One home for these look-ups, so that every phase treats an absent upstream result the same way:
as no information (an empty mapping), never as an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from dat_pipeline.analysis.phase import PhaseContext
from dat_pipeline.cleaning.rules import ROW_NUMBER

__all__ = [
    "column_roles",
    "data_columns",
    "role_measures",
    "rows_by_column",
    "summary_text",
    "table_roles",
]


def data_columns(frame: pl.DataFrame) -> list[str]:
    """The columns of a source table, without the row number the import phase adds."""
    return [c for c in frame.columns if c != ROW_NUMBER]


def rows_by_column(frame: pl.DataFrame | None, table: str) -> dict[str, dict[str, Any]]:
    """column -> row of a per-column result table (`table`, `column`, ...) for one table."""
    if frame is None:
        return {}
    return {r["column"]: r for r in frame.filter(pl.col("table") == table).to_dicts()}


def column_roles(ctx: PhaseContext) -> dict[tuple[str, str], str]:
    """(table, column) -> role from the semantic result; empty when semantic did not run."""
    frame = ctx.upstream("semantic", "semantic")
    if frame is None or "role" not in frame.columns:
        return {}
    return {(t, c): r for t, c, r in frame.select("table", "column", "role").iter_rows() if r}


def table_roles(roles: Mapping[tuple[str, str], str], table: str) -> dict[str, str]:
    """column -> role of one table, in the semantic result's order."""
    return {c: role for (t, c), role in roles.items() if t == table}


def role_measures(roles: Mapping[str, str], frame: pl.DataFrame) -> list[str]:
    """The numeric columns of `frame` whose semantic role (column -> role) is `measure`."""
    schema = frame.schema  # building a Schema is costly on wide frames: once per table
    return [
        c
        for c, role in roles.items()
        if role == "measure" and c in schema and schema[c].is_numeric()
    ]


def summary_text(lines: list[str], skipped: list[str], shown: int = 20) -> str:
    """A phase's Markdown summary, with the first `shown` things it skipped on a last line."""
    if skipped:
        lines = [*lines, "", "Skipped: " + "; ".join(skipped[:shown])]
    return "\n".join(lines)
