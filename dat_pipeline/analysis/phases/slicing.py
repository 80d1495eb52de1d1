"""The best slice dimensions and per-slice statistics (SPEC 4, slicing).

Candidate dimensions are columns `semantic` calls a dimension, foreign key or calendar part with
2 to 50 distinct values and under 10 % nulls (nulls form their own slice), plus the weekday (and
the month, when the table has no calendar-part columns) of each time column `temporal` analysed
(named `<column>.weekday` / `<column>.month`). Measures are the columns `semantic` gives the role
`measure` (numeric ones); without a semantic result, numeric columns not named like ids. Every
pair is kept in the artifact; `judge` says which are findings and why not. Each
(dimension, measure) pair is scored by eta squared, the share of the measure's variance explained
by the slice means: sum(n_g * (mean_g - mean)^2) / sum((x - mean)^2), computed with one group-by
per dimension over all rows.
"""

from __future__ import annotations

import json

import polars as pl

from dat_pipeline.analysis.findings import FINDING_SCHEMA, verdict
from dat_pipeline.analysis.inputs import column_roles, role_measures, summary_text, table_roles
from dat_pipeline.analysis.phase import PhaseContext, PhaseResult, PhaseSpec, Section
from dat_pipeline.analysis.phases import temporal as tm
from dat_pipeline.cleaning.rules import ROW_NUMBER

MIN_VALUES, MAX_VALUES = 2, 50
MAX_NULL_FRACTION = 0.10
MAX_DIMENSIONS = 40
MAX_MEASURES = 15
MIN_ETA_SQUARED = 0.01
MIN_SLICE_ROWS = 30
MAX_P_VALUE = 0.001
SCHEMA = {
    "table": pl.String,
    "dimension": pl.String,
    "measure": pl.String,
    "eta_squared": pl.Float64,
    "p_value": pl.Float64,
    "n": pl.Int64,
    "slices": pl.String,
    **FINDING_SCHEMA,
}
# With semantic roles, dimensions are categories, low-cardinality foreign keys and calendar parts.
DIMENSION_ROLES = {"dimension", "foreign_key", "calendar_part"}


def _measures(frame: pl.DataFrame, roles: dict[str, str]) -> list[str]:
    if roles:
        return role_measures(roles, frame)[:MAX_MEASURES]
    return tm.measure_columns(frame, MAX_MEASURES)


WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _label_weekday(key: pl.Expr) -> pl.Expr:
    """`%u-%a` of an ISO weekday number (1 = Monday), built on the grouped keys only."""
    names = key.replace_strict(list(range(1, 8)), WEEKDAYS, default=None, return_dtype=pl.String)
    return key.cast(pl.String) + "-" + names


def _label_month(key: pl.Expr) -> pl.Expr:
    names = key.replace_strict(list(range(1, 13)), MONTHS, default=None, return_dtype=pl.String)
    return key.cast(pl.String).str.zfill(2) + "-" + names


def _column_stats(ctx: PhaseContext | None, table: str) -> dict[str, tuple[int, int]]:
    """(distinct non-null values, nulls) per column from the statistics phase, when present."""
    frame = ctx.upstream("statistics", "columns") if ctx is not None else None
    if frame is None or not {"table", "column", "distinct", "null_count"} <= set(frame.columns):
        return {}
    rows = frame.filter(pl.col("table") == table).select("column", "distinct", "null_count")
    return {c: (d, n) for c, d, n in rows.iter_rows() if d is not None and n is not None}


def _dimension_exprs(
    frame: pl.DataFrame,
    roles: dict[str, str],
    time_cols: list[str],
    known: dict[str, tuple[int, int]] | None = None,
):
    """(name, key expression, label expression or None) of every candidate dimension (nulls
    kept). Keys are grouped as they are; labels (strings) are made from the grouped keys.
    Distinct and null counts come from the statistics phase when it has them."""
    known = known or {}
    height = frame.height
    schema = frame.schema  # building a Schema is costly on wide frames: once per table
    candidates = []
    for column, dtype in schema.items():
        if column == ROW_NUMBER or (roles and roles.get(column) not in DIMENSION_ROLES):
            continue
        if dtype == pl.Date or isinstance(dtype, pl.Datetime) or dtype.is_float():
            continue
        candidates.append((column, pl.col(column), None))
    parts = {roles.get(c) for c in schema if roles.get(c) == "calendar_part"}
    for column in time_cols:
        stamp = tm.naive(pl.col(column), schema[column])
        candidates.append((f"{column}.weekday", stamp.dt.weekday(), _label_weekday))
        if not parts:  # a table with calendar-part columns slices by them
            candidates.append((f"{column}.month", stamp.dt.month(), _label_month))
    if not candidates:
        return []
    unknown = [(n, e) for n, e, _ in candidates if n not in known]
    stats = (
        frame.select(
            [e.drop_nulls().n_unique().alias(f"d\x00{n}") for n, e in unknown]
            + [e.null_count().alias(f"n\x00{n}") for n, e in unknown]
        ).row(0, named=True)
        if unknown
        else {}
    )
    kept = []
    for name, expr, label in candidates:
        values, nulls = known.get(name) or (stats[f"d\x00{name}"], stats[f"n\x00{name}"])
        if MIN_VALUES <= values <= MAX_VALUES and nulls / height < MAX_NULL_FRACTION:
            kept.append((name, expr, label, values))
    kept.sort(key=lambda item: item[3])
    return [(name, expr, label) for name, expr, label, _ in kept[:MAX_DIMENSIONS]]


def _totals(floats: pl.DataFrame) -> dict[str, tuple[int, float, float]]:
    """Per measure over its finite values (the others are null in `floats`): (count, mean, sum
    of squared deviations)."""
    first = floats.select(
        [pl.col(m).count().alias(f"n\x00{m}") for m in floats.columns]
        + [pl.col(m).mean().alias(f"m\x00{m}") for m in floats.columns]
    ).row(0, named=True)
    second = floats.select(
        [((pl.col(m) - (first[f"m\x00{m}"] or 0.0)) ** 2).sum().alias(m) for m in floats.columns]
    ).row(0, named=True)
    return {m: (first[f"n\x00{m}"], first[f"m\x00{m}"], second[m]) for m in floats.columns}


def _score(
    frame: pl.DataFrame,
    floats: pl.DataFrame,
    totals: dict[str, tuple[int, float, float]],
    name: str,
    expr: pl.Expr,
    label,
    table: str,
):
    """One group-by over all rows for all measures of a dimension: eta squared and per-slice
    count, mean and std (over each measure's finite values; `floats` holds the others as
    null)."""
    measures = [m for m in floats.columns if m != name and totals[m][0] >= 2]
    if not measures:
        return []
    data = floats.select(measures).with_columns(frame.select(expr.alias("__dim")).to_series())
    aggregations = []
    for i, m in enumerate(measures):  # non-finite values are null: plain aggregations skip them
        aggregations += [
            pl.col(m).count().alias(f"c{i}"),
            pl.col(m).mean().alias(f"m{i}"),
            pl.col(m).std().alias(f"s{i}"),
        ]
    grouped = data.group_by("__dim").agg(aggregations)
    grouped = grouped.with_columns(
        (label(pl.col("__dim")) if label is not None else pl.col("__dim").cast(pl.String)).alias(
            "__dim"
        )
    )
    rows = []
    for i, measure in enumerate(measures):
        total_mean, total_ss = totals[measure][1], totals[measure][2]
        groups = (
            grouped.select(
                "__dim",
                pl.col(f"c{i}").cast(pl.UInt32).alias("count"),
                pl.col(f"m{i}").alias("mean"),
                pl.col(f"s{i}").alias("std"),
            )
            .filter(pl.col("count") > 0)
            .sort("count", "__dim", descending=[True, False], nulls_last=True)
        )
        between = float((groups["count"] * (groups["mean"] - total_mean) ** 2).sum())
        eta = min(1.0, between / total_ss if total_ss > 0 else 0.0)
        n, k = int(groups["count"].sum()), groups.height
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
                "eta_squared": eta,
                "p_value": _f_test(eta, n, k),
                "n": n,
                "slices": json.dumps(slices),
            }
        )
    return rows


def _p(p_value: float) -> str:
    return "< 1e-16" if p_value < 1e-16 else f"= {p_value:.1g}"


def _f_test(eta: float, n: int, k: int) -> float | None:
    """p-value of the one-way ANOVA F test behind eta squared."""
    from scipy import special

    if k < 2 or n <= k:
        return None
    if eta >= 1.0:
        return 0.0
    f = (eta / (k - 1)) / ((1 - eta) / (n - k))
    return float(special.fdtrc(k - 1, n - k, f))


def judge(
    rows: list[dict], dependencies: list[tuple[str, str]], height: int, options: dict
) -> list[dict]:
    """Finding columns: a slice is worth naming when its eta squared reaches `slice_min_eta2`,
    at least two slices hold `slice_min_rows` rows, the F test is significant, the pair is not
    linked by a functional dependency, no stronger dimension splits the measure the same way and
    no kept dimension that determines this one (zone -> region) explains more of the measure."""
    min_eta = float(options.get("slice_min_eta2", MIN_ETA_SQUARED))
    min_rows = int(options.get("slice_min_rows", MIN_SLICE_ROWS))
    linked = {frozenset(pair) for pair in dependencies}
    determinants: dict[str, set[str]] = {}
    for determinant, dependent in dependencies:
        determinants.setdefault(dependent, set()).add(determinant)
    seen: dict[tuple, str] = {}
    kept_dims: dict[str, set[str]] = {}
    judged = []
    for row in sorted(rows, key=lambda r: -r["eta_squared"]):
        slices = json.loads(row["slices"])
        big = [s for s in slices if s["count"] >= min_rows]
        signature = (
            row["measure"],
            round(row["eta_squared"], 9),
            tuple(sorted(s["count"] for s in slices)),
        )
        dimension, measure = row["dimension"], row["measure"]
        if frozenset((dimension, measure)) in linked:
            reason = "linked by a functional dependency"
        elif row["eta_squared"] < min_eta:
            reason = f"eta squared {row['eta_squared']:.3f} < {min_eta}"
        elif len(big) < 2:
            reason = f"fewer than 2 slices of at least {min_rows} rows"
        elif row["p_value"] is None or row["p_value"] >= MAX_P_VALUE:
            reason = "not significant (F test)"
        elif signature in seen:
            reason = f"the same split as `{seen[signature]}`"
        elif finer := determinants.get(dimension, set()) & kept_dims.get(measure, set()):
            reason = f"follows from the slice by `{min(finer)}`, which determines `{dimension}`"
        else:
            reason = None
            kept_dims.setdefault(measure, set()).add(dimension)
        seen.setdefault(signature, dimension)
        high = max(big, key=lambda s: s["mean"]) if big else None
        low = min(big, key=lambda s: s["mean"]) if big else None
        text = f"`{dimension}` explains {row['eta_squared']:.1%} of the variance of `{measure}`"
        if high and low:
            text += (
                f": mean {high['mean']:.3g} for {high['value']} vs {low['mean']:.3g} for "
                f"{low['value']} (eta² = {row['eta_squared']:.3f}, p {_p(row['p_value'])}, "
                f"n = {row['n']:,})"
            )
        about = [dimension.split(".")[0], measure]
        coverage = row["n"] / height if height else 0.0
        effect = row["eta_squared"] ** 0.5
        judged.append(row | verdict(reason, text, effect, coverage, about))
    return judged


def _linked(ctx: PhaseContext, table: str) -> list[tuple[str, str]]:
    """(determinant, dependent) of the table's functional dependencies, from `correlations`."""
    frame = ctx.upstream("correlations", "functional_dependencies")
    if frame is None:
        return []
    rows = frame.filter(pl.col("table") == table).select("determinant", "dependent").iter_rows()
    return [(det[0], dep) for det, dep in rows]


def run(ctx: PhaseContext) -> PhaseResult:
    roles_by_column = column_roles(ctx)
    temporal = ctx.upstream("temporal", "temporal")
    time_by_table: dict[str, list[str]] = {}
    if temporal is not None:
        found = temporal.filter(pl.col("granularity").is_in(["second", "minute", "hour", "day"]))
        for table, column in found.select("table", "column").iter_rows():
            time_by_table.setdefault(table, []).append(column)
    rows = []
    notes = []
    for table, frame in ctx.tables.items():
        if frame.height < 2:
            notes.append(f"{table}: fewer than 2 rows")
            continue
        roles = table_roles(roles_by_column, table)
        measures = _measures(frame, roles)
        if not measures:
            notes.append(f"{table}: no measure")
            continue
        dims = _dimension_exprs(
            frame, roles, time_by_table.get(table, []), _column_stats(ctx, table)
        )
        ctx.log(f"slicing: {table}: {len(dims)} dimensions x {len(measures)} measures")
        if not dims:
            continue
        floats = frame.select(
            [
                pl.when(pl.col(m).cast(pl.Float64).is_finite()).then(pl.col(m).cast(pl.Float64))
                for m in measures
            ]
        )
        totals = _totals(floats)
        scored = []
        for name, expr, label in dims:
            scored += _score(frame, floats, totals, name, expr, label, table)
        rows += judge(scored, _linked(ctx, table), frame.height, ctx.options)
    result = pl.DataFrame(rows, schema=SCHEMA).sort(
        ["table", "eta_squared"], descending=[False, True], nulls_last=True
    )
    return PhaseResult(
        tables={"slices": result},
        summary=_summary(result, notes, ctx.upstream("semantic", "semantic") is None),
        figures={
            "pairs": result.height,
            "best_eta_squared": float(result["eta_squared"].max()) if result.height else None,
        },
    )


def _summary(result: pl.DataFrame, notes: list[str], no_semantic: bool) -> str:
    lines = [
        f"**{result.filter(pl.col('kept')).height} slices worth naming** of {result.height} "
        "dimension x measure pairs, ranked by eta squared."
    ]
    if no_semantic:
        lines.append("No semantic result: measures are numeric columns not named like ids.")
    best = (
        result.filter(pl.col("kept")).sort("eta_squared", descending=True, nulls_last=True).head(15)
    )
    if best.height:
        lines += ["", "| table | dimension | measure | eta^2 |", "|---|---|---|---|"]
        for r in best.iter_rows(named=True):
            lines.append(
                f"| {r['table']} | {r['dimension']} | {r['measure']} | {r['eta_squared']:.3f} |"
            )
    return summary_text(lines, notes)


SPEC = PhaseSpec(
    name="slicing",
    sections=(Section("Slices", "slices", ("statement", "eta_squared", "p_value")),),
    needs=("temporal", "semantic", "correlations"),
    findings=("slices",),
    run=run,
    version="2",
    description="Low-cardinality slice dimensions ranked by the variance they explain (eta "
    "squared), with per-slice count, mean and std.",
)
