"""Statistics phase: per-column profiles of the typed tables.

Each table costs two Polars `select`s that hold the expressions for all its columns: one with the
scalar aggregates (counts, distinct, min/max, moments, quantiles, string lengths), one with the
histograms and top values (which need the min/max and distinct counts of the first).
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from dat_pipeline.analysis.inputs import data_columns
from dat_pipeline.analysis.phase import PhaseContext, PhaseResult, PhaseSpec
from dat_pipeline.analysis.phases.type_inference import dtype_type
from dat_pipeline.cleaning.rules import ROW_NUMBER

NUMERIC = ("integer", "decimal", "float")
BINS = 20
TOP = 10
MAX_TEXT = 200  # min/max/top values are cut to this many characters

COLUMNS_SCHEMA = {
    "table": pl.String,
    "column": pl.String,
    "type": pl.String,
    "count": pl.Int64,
    "null_count": pl.Int64,
    "null_fraction": pl.Float64,
    "distinct": pl.Int64,
    "min": pl.String,
    "max": pl.String,
    "mean": pl.Float64,
    "std": pl.Float64,
    "p25": pl.Float64,
    "p50": pl.Float64,
    "p75": pl.Float64,
    "min_length": pl.Int64,
    "max_length": pl.Int64,
    "mean_length": pl.Float64,
}
HISTOGRAMS_SCHEMA = {
    "table": pl.String,
    "column": pl.String,
    "bin_start": pl.Float64,
    "bin_end": pl.Float64,
    "count": pl.Int64,
}
TOP_VALUES_SCHEMA = {"table": pl.String, "column": pl.String, "value": pl.String, "count": pl.Int64}
TABLES_SCHEMA = {"table": pl.String, "rows": pl.Int64, "columns": pl.Int64}


def column_types(ctx: PhaseContext, table: str, frame: pl.DataFrame) -> dict[str, str]:
    """Type per column from the typing phase, falling back to the frame's dtypes."""
    types = {c: dtype_type(dtype) for c, dtype in frame.schema.items() if c != ROW_NUMBER}
    typing = ctx.upstream("typing", "columns")
    if typing is not None:
        known = typing.filter(pl.col("table") == table)
        for column, kind in known.select("column", "type").iter_rows():
            if column in types:
                types[column] = kind
    return types


def select_row(frame: pl.DataFrame, exprs: list[pl.Expr], chunk: int = 500) -> dict[str, Any]:
    """One-row `select` of many aggregations, in chunks (plans with tens of thousands of
    expressions get slow to optimize); each chunk is still one pass over the columns it reads."""
    row: dict[str, Any] = {}
    for start in range(0, len(exprs), chunk):
        row.update(frame.select(exprs[start : start + chunk]).row(0, named=True))
    return row


def _key(column: str, stat: str) -> str:
    return f"{column}\x00{stat}"


def _scalar_exprs(column: str, kind: str, dtype: pl.DataType) -> list[pl.Expr]:
    col = pl.col(column)
    exprs = [
        col.count().alias(_key(column, "count")),
        col.null_count().alias(_key(column, "null_count")),
        col.drop_nulls().n_unique().alias(_key(column, "distinct")),
    ]
    if dtype == pl.String:
        exprs += [
            col.min().str.slice(0, MAX_TEXT).alias(_key(column, "min")),
            col.max().str.slice(0, MAX_TEXT).alias(_key(column, "max")),
        ]
        length = col.str.len_chars()
        exprs += [
            length.min().cast(pl.Int64).alias(_key(column, "min_length")),
            length.max().cast(pl.Int64).alias(_key(column, "max_length")),
            length.mean().alias(_key(column, "mean_length")),
        ]
    elif dtype.is_nested() or dtype == pl.Binary or dtype == pl.Null:
        pass
    else:
        exprs += [
            col.min().cast(pl.String).alias(_key(column, "min")),
            col.max().cast(pl.String).alias(_key(column, "max")),
        ]
    if kind in NUMERIC or dtype == pl.Boolean:
        value = col.cast(pl.Float64)
        exprs += [value.mean().alias(_key(column, "mean")), value.std().alias(_key(column, "std"))]
    if kind in NUMERIC:
        value = col.cast(pl.Float64)
        exprs += [
            value.quantile(q, "linear").alias(_key(column, f"p{int(q * 100)}"))
            for q in (0.25, 0.5, 0.75)
        ]
    return exprs


def _histogram_expr(column: str, low: float, high: float) -> pl.Expr:
    width = (high - low) / BINS if high > low else 1.0
    index = ((pl.col(column).cast(pl.Float64) - low) / width).floor().clip(0, BINS - 1)
    return (
        index.drop_nulls()
        .cast(pl.Int32)
        .value_counts(name="__count")
        .implode()
        .alias(_key(column, "hist"))
    )


def _top_expr(column: str) -> pl.Expr:
    # Sorting inside one list keeps the count and the value of an entry together (a value_counts
    # evaluated twice for sort keys may come back in another order).
    element = pl.element()
    ranked = element.sort_by(
        [element.struct.field("__n"), element.struct.field(column)], descending=[True, False]
    ).head(TOP)
    top = pl.struct(
        ranked.struct.field(column).cast(pl.String).str.slice(0, MAX_TEXT).alias("value"),
        ranked.struct.field("__n").cast(pl.Int64).alias("count"),
    )
    counts = pl.col(column).drop_nulls().value_counts(name="__n").implode()
    return counts.list.eval(top).alias(_key(column, "top"))


def _wants_top(kind: str, dtype: pl.DataType, stats: dict[str, Any]) -> bool:
    count, distinct = stats["count"] or 0, stats["distinct"] or 0
    if count == 0 or distinct >= count or dtype.is_nested() or dtype == pl.Binary:
        return False
    return not (kind == "float" and distinct > 0.5 * count)


def profile_table(
    ctx: PhaseContext, name: str, frame: pl.DataFrame
) -> tuple[list[dict], list[dict], list[dict]]:
    """Rows of `columns`, `histograms` and `top_values` for one table."""
    types = column_types(ctx, name, frame)
    schema = frame.schema  # building a Schema is costly on wide frames: once per table
    columns = list(types)
    exprs = [e for c in columns for e in _scalar_exprs(c, types[c], schema[c])]
    first = select_row(frame, exprs)
    rows = []
    for c in columns:
        stats = {stat: first.get(_key(c, stat)) for stat in COLUMNS_SCHEMA}
        stats.update(table=name, column=c, type=types[c])
        stats["null_fraction"] = stats["null_count"] / frame.height if frame.height else None
        for stat in ("mean", "std", "p25", "p50", "p75"):
            value = stats[stat]
            if value is not None and not math.isfinite(value):
                stats[stat] = None
        rows.append(stats)

    second: list[pl.Expr] = []
    for stats in rows:
        c = stats["column"]
        if stats["type"] in NUMERIC and stats["count"]:
            low, high = float(stats["min"]), float(stats["max"])
            if math.isfinite(low) and math.isfinite(high):
                stats["__range"] = (low, high)
                second.append(_histogram_expr(c, low, high))
        if _wants_top(stats["type"], schema[c], stats):
            second.append(_top_expr(c))
    extra = select_row(frame, second)

    histograms, tops = [], []
    for stats in rows:
        c = stats["column"]
        bins = extra.get(_key(c, "hist"))
        if bins is not None:
            low, high = stats.pop("__range")
            width = (high - low) / BINS if high > low else 0.0
            by_index = {b[c]: b["__count"] for b in bins}
            for i in range(BINS if width else 1):
                histograms.append(
                    {
                        "table": name,
                        "column": c,
                        "bin_start": low + i * width,
                        "bin_end": high if (not width or i == BINS - 1) else low + (i + 1) * width,
                        "count": int(by_index.get(i, 0)),
                    }
                )
        stats.pop("__range", None)
        for item in extra.get(_key(c, "top")) or []:
            tops.append({"table": name, "column": c, **item})
    return rows, histograms, tops


def run(ctx: PhaseContext) -> PhaseResult:
    column_rows: list[dict] = []
    histogram_rows: list[dict] = []
    top_rows: list[dict] = []
    table_rows: list[dict] = []
    notes: list[str] = []
    for name, frame in ctx.tables.items():
        ctx.log(f"statistics {name}: {frame.height} rows x {frame.width} columns")
        rows, histograms, tops = profile_table(ctx, name, frame)
        column_rows += rows
        histogram_rows += histograms
        top_rows += tops
        table_rows.append(
            {"table": name, "rows": frame.height, "columns": len(data_columns(frame))}
        )
        if frame.height == 0:
            notes.append(f"- `{name}` is empty: no statistics.")
        elif frame.height == 1:
            notes.append(f"- `{name}` has one row: spread and quantiles are not meaningful.")
        empty = [r["column"] for r in rows if frame.height and r["count"] == 0]
        if empty:
            shown = ", ".join(f"`{c}`" for c in empty[:10]) + (" ..." if len(empty) > 10 else "")
            notes.append(f"- `{name}`: {len(empty)} columns are entirely null ({shown}).")
    columns = pl.DataFrame(
        [{k: r.get(k) for k in COLUMNS_SCHEMA} for r in column_rows], schema=COLUMNS_SCHEMA
    )
    summary = [
        f"Profiled {columns.height} columns in {len(table_rows)} tables "
        f"({sum(t['rows'] for t in table_rows)} rows).",
        "",
        "| table | rows | columns |",
        "|---|---|---|",
        *[f"| {t['table']} | {t['rows']} | {t['columns']} |" for t in table_rows[:50]],
    ]
    if notes:
        summary += ["", *notes]
    return PhaseResult(
        tables={
            "columns": columns,
            "histograms": pl.DataFrame(histogram_rows, schema=HISTOGRAMS_SCHEMA),
            "top_values": pl.DataFrame(top_rows, schema=TOP_VALUES_SCHEMA),
            "tables": pl.DataFrame(table_rows, schema=TABLES_SCHEMA),
        },
        summary="\n".join(summary),
        figures={
            "tables": len(table_rows),
            "columns": columns.height,
            "rows": sum(t["rows"] for t in table_rows),
        },
    )


SPEC = PhaseSpec(
    name="statistics",
    needs=("typing",),
    run=run,
    version="1",
    description="Per-column profiles: counts, nulls, distinct, min/max, moments, quantiles, "
    "histograms, top values, string lengths.",
)
