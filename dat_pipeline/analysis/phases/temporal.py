"""Time columns: granularity, coverage, gaps, trend, seasonality and freshness (SPEC 4, temporal).

For every Date/Datetime column of the typed tables:
- granularity: the calendar unit nearest (on a log scale) to the median step between
  consecutive distinct sorted timestamps;
- coverage: periods holding at least one value / periods between the first and the last value
  (gaps are the missing expected periods);
- trend: Mann-Kendall (`scipy.stats.kendalltau` against time) on the per-period series: the mean
  of the table's main measure per period (its first float column of the semantic role `measure`),
  or the row count per period when the table has no measure; a finding when p < 0.001 and
  |tau| >= 0.2;
- seasonal strength: a classical additive decomposition (moving-average trend, mean seasonal
  profile), 1 - Var(resid) / Var(seasonal + resid), with the seasonal period of
  the granularity (7 daily, 24 hourly, 12 monthly, 52 weekly, 4 quarterly, 60 minutely/secondly),
  when the series holds at least two seasonal periods;
- freshness: days between the newest value and the `as_of` option (default: today).

Series longer than `MAX_POINTS` periods are rolled up to a coarser unit for trend and seasonality
(the note column says so). `business_cycles` reuses the series helpers of this module.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import numpy as np
import polars as pl

from dat_pipeline.analysis.findings import FINDING_SCHEMA, verdict
from dat_pipeline.analysis.inputs import column_roles, role_measures, table_roles
from dat_pipeline.analysis.phase import PhaseContext, PhaseResult, PhaseSpec, Section
from dat_pipeline.cleaning.rules import ROW_NUMBER

UNIT_SECONDS = {
    "second": 1.0,
    "minute": 60.0,
    "hour": 3600.0,
    "day": 86400.0,
    "week": 604800.0,
    "month": 2629746.0,
    "quarter": 7889238.0,
    "year": 31556952.0,
}
UNITS = list(UNIT_SECONDS)
SEASON = {"second": 60, "minute": 60, "hour": 24, "day": 7, "week": 52, "month": 12, "quarter": 4}
MAX_POINTS = 20_000
ID_NAME = re.compile(r"(^|_)(id|key|code|uuid|guid|no|nr|num)$|id$", re.IGNORECASE)

SCHEMA = {
    "table": pl.String,
    "column": pl.String,
    "granularity": pl.String,
    "start": pl.String,
    "end": pl.String,
    "expected_periods": pl.Int64,
    "missing_periods": pl.Int64,
    "coverage": pl.Float64,
    "trend": pl.String,
    "trend_p_value": pl.Float64,
    "seasonal_strength": pl.Float64,
    "freshness_days": pl.Float64,
    "note": pl.String,
    **FINDING_SCHEMA,
}
MAX_TREND_P = 0.001
MIN_TREND_POINTS = 12
MIN_TREND_TAU = 0.2  # a weaker monotonic trend is significant on long series but not worth naming


def time_columns(frame: pl.DataFrame) -> list[str]:
    return [
        c
        for c, t in frame.schema.items()
        if c != ROW_NUMBER and (t == pl.Date or isinstance(t, pl.Datetime))
    ]


def naive(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Datetime in microseconds without time zone (UTC wall clock); dates become midnight."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        expr = expr.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return expr.cast(pl.Datetime("us"))


def period_index(expr: pl.Expr, unit: str) -> pl.Expr:
    """Integer index of the period (of `unit`) holding each timestamp; consecutive periods
    have consecutive indexes. `expr` is a naive Datetime."""
    seconds = expr.dt.epoch("s")
    if unit in ("second", "minute", "hour", "day"):
        return (seconds // int(UNIT_SECONDS[unit])).cast(pl.Int64)
    if unit == "week":  # Monday-based weeks; 1970-01-01 was a Thursday
        return ((seconds // 86400 + 3) // 7).cast(pl.Int64)
    year = expr.dt.year().cast(pl.Int64)
    month = expr.dt.month().cast(pl.Int64)
    if unit == "month":
        return year * 12 + month - 1
    if unit == "quarter":
        return year * 4 + (month - 1) // 3
    return year


def period_start(index: int, unit: str) -> dt.datetime:
    """The first instant of the period with this index (inverse of `period_index`)."""
    epoch = dt.datetime(1970, 1, 1)
    if unit in ("second", "minute", "hour", "day"):
        return epoch + dt.timedelta(seconds=index * UNIT_SECONDS[unit])
    if unit == "week":
        return epoch + dt.timedelta(days=index * 7 - 3)
    if unit == "month":
        return dt.datetime(index // 12, index % 12 + 1, 1)
    if unit == "quarter":
        return dt.datetime(index // 4, (index % 4) * 3 + 1, 1)
    return dt.datetime(index, 1, 1)


def iso(value: dt.datetime, unit: str) -> str:
    if unit in ("day", "week", "month", "quarter", "year"):
        return value.date().isoformat()
    return value.isoformat()


def granularity_from_steps(steps_seconds: np.ndarray) -> str | None:
    steps = steps_seconds[steps_seconds > 0]
    if steps.size == 0:
        return None
    typical = float(np.median(steps))
    return min(UNITS, key=lambda u: abs(math.log(typical / UNIT_SECONDS[u])))


def coarser(unit: str) -> str | None:
    position = UNITS.index(unit)
    return UNITS[position + 1] if position + 1 < len(UNITS) else None


def measure_columns(frame: pl.DataFrame, limit: int = 10) -> list[str]:
    """Numeric columns that look like measures: not boolean, not named like an id, and not a
    unique integer sequence (a surrogate key)."""
    height = frame.height
    candidates = [
        (column, dtype)
        for column, dtype in frame.schema.items()
        if column != ROW_NUMBER and dtype.is_numeric() and not ID_NAME.search(column)
    ]
    if not candidates:
        return []
    # One pass for null counts and integer ranges; distinct counts (a hash of every value) only
    # for integer columns whose range is wide enough to hold `height` distinct values.
    exprs = []
    for column, dtype in candidates:
        exprs.append(pl.col(column).null_count().alias(f"n\x00{column}"))
        if dtype.is_integer():
            exprs += [
                pl.col(column).min().cast(pl.Float64).alias(f"lo\x00{column}"),
                pl.col(column).max().cast(pl.Float64).alias(f"hi\x00{column}"),
            ]
    stats = frame.select(exprs).row(0, named=True)
    maybe_unique = [
        column
        for column, dtype in candidates
        if dtype.is_integer()
        and height > 1
        and stats[f"n\x00{column}"] <= 1  # n_unique counts one null as a value
        and stats[f"hi\x00{column}"] - stats[f"lo\x00{column}"] + 1
        >= height - stats[f"n\x00{column}"]
    ]
    distinct = (
        frame.select([pl.col(c).n_unique() for c in maybe_unique]).row(0, named=True)
        if maybe_unique
        else {}
    )
    found = []
    for column, _dtype in candidates:
        if stats[f"n\x00{column}"] == height:
            continue
        if distinct.get(column) == height:
            continue
        found.append(column)
        if len(found) >= limit:
            break
    return found


def main_measure(frame: pl.DataFrame) -> str | None:
    measures = measure_columns(frame)
    schema = frame.schema
    floats = [c for c in measures if schema[c].is_float() or schema[c].is_decimal()]
    return (floats or measures or [None])[0]


def series(
    frame: pl.DataFrame, column: str, unit: str, measure: str | None, how: str = "sum"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(period indexes, values, present mask) over the full grid from the first to the last
    period: the sum (or mean) of `measure` per period, or the row count when measure is None.
    Missing periods hold 0 for counts and NaN for measures."""
    grid, values, present = series_many(frame, column, unit, [measure], how)
    return grid, values[measure], present


def series_many(
    frame: pl.DataFrame, column: str, unit: str, measures: list[str | None], how: str = "sum"
) -> tuple[np.ndarray, dict[str | None, np.ndarray], np.ndarray]:
    """`series` for several measures at once: one group-by over the time column and only the
    columns it needs (a 10M-row table is not copied per measure)."""
    stamp = naive(pl.col(column), frame.schema[column])
    wanted = [m for m in dict.fromkeys(measures) if m is not None]
    # Parallel float sums differ in their last bits from run to run; rounding to 12 significant
    # digits keeps ties (and so rank statistics like Mann-Kendall) deterministic.
    aggregations = [pl.len().alias("__rows")] + [
        getattr(pl.col(m).cast(pl.Float64), how)().round_sig_figs(12).alias(f"v{i}")
        for i, m in enumerate(wanted)
    ]
    grouped = (
        frame.lazy()
        .select(column, *wanted)
        .filter(pl.col(column).is_not_null())
        .group_by(period_index(stamp, unit).alias("p"))
        .agg(aggregations)
        .sort("p")
        .collect()
    )
    if grouped.height == 0:
        empty = {m: np.array([]) for m in measures}
        return np.array([], dtype=np.int64), empty, np.array([], dtype=bool)
    first, last = int(grouped["p"][0]), int(grouped["p"][-1])
    grid = np.arange(first, last + 1, dtype=np.int64)
    present = np.zeros(grid.size, dtype=bool)
    offsets = grouped["p"].to_numpy() - first
    present[offsets] = True
    values: dict[str | None, np.ndarray] = {}
    for measure in measures:
        out = np.full(grid.size, 0.0 if measure is None else np.nan)
        source = "__rows" if measure is None else f"v{wanted.index(measure)}"
        out[offsets] = grouped[source].cast(pl.Float64).fill_null(np.nan).to_numpy()
        values[measure] = out
    return grid, values, present


def interpolate(values: np.ndarray) -> np.ndarray:
    good = np.isfinite(values)
    if good.all() or not good.any():
        return np.nan_to_num(values)
    positions = np.arange(values.size)
    return np.interp(positions, positions[good], values[good])


def analysis_unit(first: int, last: int, unit: str) -> tuple[str | None, int]:
    """The unit for series analysis: `unit`, rolled up while the grid exceeds MAX_POINTS."""
    span_seconds = (last - first + 1) * UNIT_SECONDS[unit]
    while unit is not None and span_seconds / UNIT_SECONDS[unit] > MAX_POINTS:
        unit = coarser(unit)
    if unit is None:
        return None, 0
    return unit, int(span_seconds / UNIT_SECONDS[unit]) + 1


def seasonal_strength(values: np.ndarray, period: int) -> float:
    """1 - Var(resid) / Var(seasonal + resid) of a classical additive decomposition: the trend a
    centred moving average over one period, the seasonal part the mean detrended value at each
    position of the period. Linear in the series (STL on a year of hours took seconds) and
    within a few hundredths of STL's figure on the series we test."""
    n = values.size
    if period < 2 or n < 2 * period:
        return 0.0
    weights = np.ones(period + (1 - period % 2)) / period
    if period % 2 == 0:  # a 2 x period moving average centres an even period
        weights[0] = weights[-1] = 0.5 / period
    trend = np.convolve(values, weights, mode="same")
    half = weights.size // 2
    trend[:half], trend[n - half :] = trend[half], trend[n - half - 1]
    detrended = values - trend
    positions = np.arange(n) % period
    profile = np.bincount(positions, weights=detrended, minlength=period) / np.bincount(
        positions, minlength=period
    )
    seasonal = profile[positions] - profile.mean()
    resid = detrended - seasonal
    spread = float(np.var(seasonal + resid))
    if spread == 0:
        return 0.0
    return float(max(0.0, 1.0 - np.var(resid) / spread))


def as_of_datetime(option) -> dt.datetime:
    if option is None:
        return dt.datetime.combine(dt.date.today(), dt.time())
    if isinstance(option, dt.datetime):
        return option.replace(tzinfo=None)
    if isinstance(option, dt.date):
        return dt.datetime.combine(option, dt.time())
    return dt.datetime.fromisoformat(str(option)).replace(tzinfo=None)


def profile_column(
    frame: pl.DataFrame,
    table: str,
    column: str,
    as_of: dt.datetime,
    measure: str | bool | None = False,
) -> dict:
    """One time column; `measure` is the series' measure (None: the row count; False: pick the
    table's main measure by name and type)."""
    row = {name: None for name in SCHEMA} | {"table": table, "column": column}
    row |= verdict("no significant trend", "", 0.0, 0.0, [column])
    dtype = frame.schema[column]
    stamps = (
        frame.select(naive(pl.col(column), dtype).alias("t"))
        .get_column("t")
        .drop_nulls()
        .unique()
        .sort()
    )
    if stamps.len() == 0:
        row["note"] = "table is empty" if frame.height == 0 else "no non-null values"
        return row
    start, end = stamps[0], stamps[-1]
    row["freshness_days"] = (as_of - end).total_seconds() / 86400
    if stamps.len() == 1:
        row["start"] = row["end"] = iso(start, "day" if dtype == pl.Date else "")
        row["note"] = "single timestamp: no step, granularity or trend"
        return row
    steps = stamps.diff().drop_nulls().dt.total_microseconds().to_numpy() / 1e6
    unit = granularity_from_steps(steps)
    row["granularity"] = unit
    row["start"], row["end"] = iso(start, unit), iso(end, unit)
    indexes = frame.select(period_index(naive(pl.col(column), dtype), unit).alias("p")).get_column(
        "p"
    )
    first, last = int(indexes.min()), int(indexes.max())
    present = indexes.drop_nulls().n_unique()
    row["expected_periods"] = last - first + 1
    row["missing_periods"] = row["expected_periods"] - present
    row["coverage"] = present / row["expected_periods"]

    reasons = []
    work_unit, points = analysis_unit(first, last, unit)
    if work_unit is None:
        row["note"] = "span too long for trend analysis"
        return row
    if work_unit != unit:
        reasons.append(f"trend and seasonality computed per {work_unit} ({points} points)")
    if measure is False:
        measure = main_measure(frame)
    _, values, _ = series(frame, column, work_unit, measure, how="mean")
    basis = f"mean `{measure}`" if measure else "row count"
    finite = np.isfinite(values)
    if finite.sum() >= 3 and np.ptp(values[finite]) > 0:
        from scipy import stats

        tau, p_value = stats.kendalltau(np.nonzero(finite)[0], values[finite])
        row["trend_p_value"] = float(p_value)
        significant = p_value < 0.05
        row["trend"] = "none" if not significant else ("increasing" if tau > 0 else "decreasing")
        if p_value < MAX_TREND_P and abs(tau) >= MIN_TREND_TAU and finite.sum() >= MIN_TREND_POINTS:
            text = (
                f"{basis} per {work_unit} is {row['trend']} over "
                f"{row['start']} .. {row['end']} (Mann-Kendall tau = {tau:.2f}, "
                f"p = {p_value:.1g}, {int(finite.sum())} {work_unit}s)"
            )
            row |= verdict(
                None, text, abs(float(tau)), row["coverage"], [column, measure or column]
            )
    else:
        row["trend"] = "none"
        reasons.append(f"too few or constant periods for a trend ({basis})")
    period = SEASON.get(work_unit)
    if period is None:
        reasons.append(f"no seasonal period for {work_unit} granularity")
    elif values.size < 2 * period + 1:
        reasons.append(f"fewer than 2 seasonal periods of {period} {work_unit}s for seasonality")
    else:
        filled = interpolate(values)
        if np.ptp(filled) == 0:
            row["seasonal_strength"] = 0.0
        else:
            row["seasonal_strength"] = seasonal_strength(filled, period)
    row["note"] = "; ".join(reasons) or None
    return row


def _role_measure(ctx: PhaseContext, table: str, frame: pl.DataFrame) -> str | bool | None:
    """The table's main measure from the semantic roles (a float one first); False without roles."""
    roles = column_roles(ctx)
    if not roles:
        return False
    measures = role_measures(table_roles(roles, table), frame)
    schema = frame.schema
    floats = [c for c in measures if schema[c].is_float() or schema[c].is_decimal()]
    return (floats or measures or [None])[0]


def run(ctx: PhaseContext) -> PhaseResult:
    as_of = as_of_datetime(ctx.option("as_of", None))
    rows = []
    for table, frame in ctx.tables.items():
        columns = time_columns(frame)
        measure = _role_measure(ctx, table, frame) if columns else None
        for column in columns:
            ctx.log(f"temporal: {table}.{column}")
            rows.append(profile_column(frame, table, column, as_of, measure))
    result = pl.DataFrame(rows, schema=SCHEMA)
    return PhaseResult(
        tables={"temporal": result},
        summary=_summary(result, as_of),
        figures={
            "time_columns": result.height,
            "with_trend": result.filter(pl.col("trend").is_in(["increasing", "decreasing"])).height,
        },
    )


def _fmt(value, pattern: str = "{:.3f}") -> str:
    return "" if value is None else pattern.format(value)


def _summary(result: pl.DataFrame, as_of: dt.datetime) -> str:
    if result.height == 0:
        return "No date or datetime columns."
    lines = [
        f"**{result.height} time columns** (freshness as of {as_of.date().isoformat()}; trend "
        "by Mann-Kendall on the main measure's mean per period, or the row count).",
        "",
        "| column | granularity | span | coverage | trend (p) | seasonal | fresh (days) | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result.head(40).iter_rows(named=True):
        lines.append(
            f"| {r['table']}.{r['column']} | {r['granularity'] or ''} "
            f"| {r['start'] or ''} .. {r['end'] or ''} | {_fmt(r['coverage'], '{:.1%}')} "
            f"| {r['trend'] or ''} ({_fmt(r['trend_p_value'], '{:.2g}')}) "
            f"| {_fmt(r['seasonal_strength'], '{:.2f}')} | {_fmt(r['freshness_days'], '{:.1f}')} "
            f"| {r['note'] or ''} |"
        )
    return "\n".join(lines)


SPEC = PhaseSpec(
    name="temporal",
    sections=(
        Section(
            "Time columns",
            "temporal",
            (
                "table",
                "column",
                "granularity",
                "start",
                "end",
                "missing_periods",
                "trend",
                "seasonal_strength",
                "freshness_days",
            ),
        ),
    ),
    needs=("typing", "semantic"),
    findings=("temporal",),
    run=run,
    version="3",
    description="Time columns: granularity, coverage and gaps, Mann-Kendall trend, seasonal "
    "strength (classical decomposition), freshness.",
)
