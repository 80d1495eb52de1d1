"""The best slice dimensions and per-slice statistics (SPEC 4, slicing).

Candidate dimensions are columns with 2 to 50 distinct values and under 10 % nulls (nulls form
their own slice), plus the weekday and month of each time column `temporal` analysed (named
`<column>.weekday` / `<column>.month`). Measures are the columns `semantic` gives the role
`measure` (numeric ones); without a semantic result, numeric columns not named like ids. Each
(dimension, measure) pair is scored by eta squared, the share of the measure's variance explained
by the slice means: sum(n_g * (mean_g - mean)^2) / sum((x - mean)^2), computed with one group-by
per dimension over all rows.
"""

from __future__ import annotations

import json

import polars as pl

from dat_pipeline.analysis.phase import PhaseContext, PhaseResult, PhaseSpec
from dat_pipeline.analysis.phases import temporal as tm

ROW_NUMBER = "_row_number"
MIN_VALUES, MAX_VALUES = 2, 50
MAX_NULL_FRACTION = 0.10
MAX_DIMENSIONS = 40
MAX_MEASURES = 15
SCHEMA = {
    "table": pl.String,
    "dimension": pl.String,
    "measure": pl.String,
    "eta_squared": pl.Float64,
    "slices": pl.String,
}
NOT_DIMENSIONS = {"measure", "timestamp", "key"}


def _semantic(ctx: PhaseContext) -> pl.DataFrame | None:
    result = ctx.results.get("semantic")
    if result is None:
        return None
    return result.tables.get("semantic")


def _roles(semantic: pl.DataFrame | None, table: str) -> dict[str, str]:
    if semantic is None or "role" not in semantic.columns:
        return {}
    rows = semantic.filter(pl.col("table") == table).select("column", "role").iter_rows()
    return {column: role for column, role in rows if role}


def _measures(frame: pl.DataFrame, roles: dict[str, str]) -> list[str]:
    if roles:
        numeric = [
            c
            for c, role in roles.items()
            if role == "measure" and c in frame.columns and frame.schema[c].is_numeric()
        ]
        return numeric[:MAX_MEASURES]
    return tm.measure_columns(frame, MAX_MEASURES)


def _dimension_exprs(frame: pl.DataFrame, roles: dict[str, str], time_cols: list[str]):
    """(name, expression) of every candidate dimension, as strings (nulls kept)."""
    height = frame.height
    candidates = []
    for column, dtype in frame.schema.items():
        if column == ROW_NUMBER or roles.get(column) in NOT_DIMENSIONS:
            continue
        if dtype == pl.Date or isinstance(dtype, pl.Datetime) or dtype.is_float():
            continue
        candidates.append((column, pl.col(column)))
    for column in time_cols:
        stamp = tm.naive(pl.col(column), frame.schema[column])
        candidates.append((f"{column}.weekday", stamp.dt.strftime("%u-%a")))
        candidates.append((f"{column}.month", stamp.dt.strftime("%m-%b")))
    if not candidates:
        return []
    stats = frame.select(
        [e.n_unique().alias(f"d\x00{n}") for n, e in candidates]
        + [e.null_count().alias(f"n\x00{n}") for n, e in candidates]
    ).row(0, named=True)
    kept = []
    for name, expr in candidates:
        nulls = stats[f"n\x00{name}"]
        values = stats[f"d\x00{name}"] - (1 if nulls else 0)
        if MIN_VALUES <= values <= MAX_VALUES and nulls / height < MAX_NULL_FRACTION:
            kept.append((name, expr, values))
    kept.sort(key=lambda item: item[2])
    return [(name, expr) for name, expr, _ in kept[:MAX_DIMENSIONS]]


def _score(frame: pl.DataFrame, name: str, expr: pl.Expr, measures: list[str], table: str):
    """One group-by for all measures of a dimension: eta squared and per-slice stats."""
    rows = []
    data = frame.select(
        [expr.cast(pl.String).alias("__dim")]
        + [pl.col(m).cast(pl.Float64).alias(m) for m in measures if m != name]
    )
    for measure in [m for m in measures if m != name]:
        valid = data.select("__dim", measure).filter(pl.col(measure).is_finite())
        if valid.height < 2:
            continue
        total_mean = valid[measure].mean()
        total_ss = float(((valid[measure] - total_mean) ** 2).sum())
        groups = (
            valid.group_by("__dim")
            .agg(
                pl.len().alias("count"),
                pl.col(measure).mean().alias("mean"),
                pl.col(measure).std().alias("std"),
            )
            .sort("count", "__dim", descending=[True, False], nulls_last=True)
        )
        between = float((groups["count"] * (groups["mean"] - total_mean) ** 2).sum())
        eta = between / total_ss if total_ss > 0 else 0.0
        slices = [
            {
                "value": value,
                "count": count,
                "mean": mean,
                "std": std if std is not None and std == std else None,
            }
            for value, count, mean, std in groups.iter_rows()
        ]
        rows.append(
            {
                "table": table,
                "dimension": name,
                "measure": measure,
                "eta_squared": min(1.0, eta),
                "slices": json.dumps(slices),
            }
        )
    return rows


def run(ctx: PhaseContext) -> PhaseResult:
    semantic = _semantic(ctx)
    temporal = ctx.results.get("temporal")
    time_by_table: dict[str, list[str]] = {}
    if temporal is not None and "temporal" in temporal.tables:
        found = temporal.tables["temporal"].filter(
            pl.col("granularity").is_in(["second", "minute", "hour", "day"])
        )
        for table, column in found.select("table", "column").iter_rows():
            time_by_table.setdefault(table, []).append(column)
    rows = []
    notes = []
    for table, frame in ctx.tables.items():
        if frame.height < 2:
            notes.append(f"{table}: fewer than 2 rows")
            continue
        roles = _roles(semantic, table)
        measures = _measures(frame, roles)
        if not measures:
            notes.append(f"{table}: no measure")
            continue
        dims = _dimension_exprs(frame, roles, time_by_table.get(table, []))
        ctx.log(f"slicing: {table}: {len(dims)} dimensions x {len(measures)} measures")
        for name, expr in dims:
            rows += _score(frame, name, expr, measures, table)
    result = pl.DataFrame(rows, schema=SCHEMA).sort(
        ["table", "eta_squared"], descending=[False, True], nulls_last=True
    )
    return PhaseResult(
        tables={"slices": result},
        summary=_summary(result, notes, semantic is None),
        figures={
            "pairs": result.height,
            "best_eta_squared": float(result["eta_squared"].max()) if result.height else None,
        },
    )


def _summary(result: pl.DataFrame, notes: list[str], no_semantic: bool) -> str:
    lines = [f"**{result.height} dimension x measure pairs** ranked by eta squared."]
    if no_semantic:
        lines.append("No semantic result: measures are numeric columns not named like ids.")
    best = result.sort("eta_squared", descending=True, nulls_last=True).head(15)
    if best.height:
        lines += ["", "| table | dimension | measure | eta^2 |", "|---|---|---|---|"]
        for r in best.iter_rows(named=True):
            lines.append(
                f"| {r['table']} | {r['dimension']} | {r['measure']} | {r['eta_squared']:.3f} |"
            )
    if notes:
        lines += ["", "Skipped: " + "; ".join(notes[:20])]
    return "\n".join(lines)


SPEC = PhaseSpec(
    name="slicing",
    needs=("temporal", "semantic"),
    run=run,
    version="1",
    description="Low-cardinality slice dimensions ranked by the variance they explain (eta "
    "squared), with per-slice count, mean and std.",
)
