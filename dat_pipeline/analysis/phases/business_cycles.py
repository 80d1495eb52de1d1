"""Dominant cycles, their strength, and dated peaks and troughs (SPEC 4, business_cycles).

Per table, by its finest time column (from `temporal`): the row count per period and the MEAN of
every measure (the semantic role `measure`, at most 10 per table; identifiers, calendar parts and
clock times are never series) per period at the detected granularity (rolled up like `temporal`
when the grid exceeds its point cap); missing periods are linearly interpolated and the series is
linearly detrended. Then:
- `acf`: the first local peak of the autocorrelation function (statsmodels `acf`) reaching 90 %
  of the highest one, among peaks above the 95 % white-noise band Bonferroni-corrected for the
  lags scanned (and above 0.1: scanning hundreds of lags at 1.96/sqrt(n) finds peaks in noise);
  strength = the autocorrelation at that lag, period refined by a parabola through the peak;
- `periodogram`: the highest peak of `scipy.signal.periodogram` (zero-padded 8x for a finer
  period estimate), kept when Fisher's g test says p < 0.05; strength = the peak's share of the
  total power;
- `hp_filter`: when a dominant period was found and the series holds at least 24 points and 3
  cycles of it, the Hodrick-Prescott cycle component (lambda by granularity, Ravn-Uhlig scaling of 1600 per
  quarter); its peaks and troughs (local extrema at least half a dominant period apart, with a
  prominence of at least half the cycle's standard deviation) are the turning points; the cycle
  row reports the mean distance between peaks and the cycle's share of the series variance.

Periods count the unit in `unit` (the granularity the series was analysed at). `cycle_methods`
keeps every method's answer; `cycles` holds one row per series and period with the methods that
agree within 5 % and their spread: a period found by one method alone, or seen fewer than three
times, is not a finding (`kept` false, `reason`). A kept cycle names the highest and lowest point
of its mean profile (hour of day, weekday, month) and their ratio; turning points are dated only
for series with a kept cycle.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl

from dat_pipeline.analysis.findings import FINDING_SCHEMA, verdict
from dat_pipeline.analysis.inputs import column_roles, role_measures, summary_text, table_roles
from dat_pipeline.analysis.phase import PhaseContext, PhaseResult, PhaseSpec, Section
from dat_pipeline.analysis.phases import temporal as tm

MIN_POINTS = 12
MIN_ACF = 0.1
HP_MIN_POINTS = 24
MAX_TURNING_POINTS = 60
PERIODS_PER_QUARTER = {
    "second": 7889238.0,
    "minute": 131487.3,
    "hour": 2191.45,
    "day": 91.31,
    "week": 13.04,
    "month": 3.0,
    "quarter": 1.0,
    "year": 0.25,
}
AGREEMENT = 0.05  # periods of two methods within 5 % of each other agree
MAX_MEASURES = 10
# A period found in one series: what `cycle_methods` and `cycles` both start with.
PERIOD_SCHEMA = {
    "table": pl.String,
    "measure": pl.String,
    "time_column": pl.String,
    "period": pl.Float64,
    "unit": pl.String,
    "strength": pl.Float64,
    "method": pl.String,
}
METHOD_SCHEMA = {**PERIOD_SCHEMA, "p_value": pl.Float64}
CYCLE_SCHEMA = {
    **PERIOD_SCHEMA,
    "methods": pl.List(pl.String),
    "spread": pl.Float64,
    "p_value": pl.Float64,
    "points": pl.Int64,
    "peak_at": pl.String,
    "peak_ratio": pl.Float64,
    **FINDING_SCHEMA,
}
TURN_SCHEMA = {"table": pl.String, "measure": pl.String, "kind": pl.String, "at": pl.String}


def hp_lambda(unit: str) -> float:
    """Ravn-Uhlig: 1600 for quarterly data scaled by the 4th power of periods per quarter,
    capped where the sparse solver stays well conditioned."""
    return float(min(1600.0 * PERIODS_PER_QUARTER[unit] ** 4, 1e10))


def acf_peak(values: np.ndarray) -> tuple[float, float] | None:
    from scipy import signal, stats
    from statsmodels.tsa.stattools import acf

    n = values.size
    nlags = min(n // 2, 500)
    if nlags < 3 or np.ptp(values) == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        coefficients = acf(values, nlags=nlags, fft=True)
    band = max(stats.norm.ppf(1 - 0.025 / nlags) / math.sqrt(n), MIN_ACF)
    peaks, _ = signal.find_peaks(coefficients)
    peaks = [int(p) for p in peaks if p >= 2 and coefficients[p] > band]
    if not peaks:
        return None
    best = max(coefficients[p] for p in peaks)
    # the first lag reaching nearly the best height is the fundamental, not a harmonic multiple
    lag = next(p for p in peaks if coefficients[p] >= 0.9 * best)
    if 0 < lag < nlags:  # refine the lag with a parabola through the peak and its neighbours
        left, mid, right = coefficients[lag - 1], coefficients[lag], coefficients[lag + 1]
        curvature = left - 2 * mid + right
        offset = 0.5 * (left - right) / curvature if curvature != 0 else 0.0
        return lag + float(np.clip(offset, -0.5, 0.5)), float(mid)
    return float(lag), float(coefficients[lag])


def periodogram_peak(values: np.ndarray) -> tuple[float, float] | None:
    from scipy import signal

    n = values.size
    if np.ptp(values) == 0:
        return None
    freqs, power = signal.periodogram(values, detrend="linear")
    usable = (freqs > 0) & (freqs < 0.5) & (freqs >= 2.0 / n)
    if usable.sum() < 2 or power[usable].sum() == 0:
        return None
    spectrum = power[usable]
    g = float(spectrum.max() / spectrum.sum())
    m = spectrum.size
    p_value = min(1.0, m * (1 - g) ** (m - 1))  # Fisher's g test, first term
    if p_value >= 0.05:
        return None
    fine_freqs, fine_power = signal.periodogram(values, detrend="linear", nfft=8 * n)
    window = (fine_freqs >= 2.0 / n) & (fine_freqs < 0.5)
    best = np.argmax(np.where(window, fine_power, -1.0))
    return 1.0 / float(fine_freqs[best]), g, p_value


def hp_cycle(values: np.ndarray, unit: str):
    from statsmodels.tsa.filters.hp_filter import hpfilter

    cycle, _trend = hpfilter(values, lamb=hp_lambda(unit))
    return np.asarray(cycle)


def analyse_series(grid: np.ndarray, raw: np.ndarray, unit: str, base: dict):
    from scipy import signal

    cycles, turns = [], []
    finite = raw[np.isfinite(raw)]
    if finite.size < 2 or np.ptp(finite) == 0:
        return cycles, turns  # a constant series (one row every period) has no cycle
    values = signal.detrend(tm.interpolate(raw))
    found = {}
    for method, peak in (("acf", acf_peak(values)), ("periodogram", periodogram_peak(values))):
        if peak is not None:
            found[method] = peak
            p_value = peak[2] if len(peak) > 2 else None
            cycles.append(base | {"period": peak[0], "unit": unit, "strength": peak[1]})
            cycles[-1] |= {"method": method, "p_value": p_value}
    dominant = found.get("acf", found.get("periodogram"))
    if dominant is None or grid.size < HP_MIN_POINTS or grid.size < 3 * dominant[0]:
        return cycles, turns  # no cycle to date, or fewer than three of it
    period = dominant[0]
    filled = tm.interpolate(raw)
    cycle = hp_cycle(filled, unit)
    spread = float(np.std(cycle))
    if spread == 0:
        return cycles, turns
    distance = max(2, round(period / 2))
    peaks, _ = signal.find_peaks(cycle, distance=distance, prominence=0.5 * spread)
    troughs, _ = signal.find_peaks(-cycle, distance=distance, prominence=0.5 * spread)
    share = float(np.var(cycle) / np.var(filled)) if np.var(filled) > 0 else 0.0
    if peaks.size >= 2:
        cycles.append(
            base
            | {
                "period": float(np.mean(np.diff(peaks))),
                "unit": unit,
                "strength": share,
                "method": "hp_filter",
                "p_value": None,
            }
        )
    points = sorted([(int(i), "peak") for i in peaks] + [(int(i), "trough") for i in troughs])[
        -MAX_TURNING_POINTS:
    ]
    for index, kind in points:
        at = tm.iso(tm.period_start(int(grid[index]), unit), unit)
        turns.append({"table": base["table"], "measure": base["measure"], "kind": kind, "at": at})
    return cycles, turns


def _time_column(rows: list[dict]) -> dict:
    """The table's time column for cycles: the finest granularity, then the most periods."""
    return min(
        rows,
        key=lambda r: (tm.UNIT_SECONDS[r["granularity"]], -(r["expected_periods"] or 0)),
    )


def _measures(ctx: PhaseContext, table: str, frame: pl.DataFrame) -> list[str]:
    roles = column_roles(ctx)
    if not roles:
        return tm.measure_columns(frame)
    return role_measures(table_roles(roles, table), frame)[:MAX_MEASURES]


_LABELS = {
    ("hour", 24): lambda i: f"{i % 24:02d}:00",
    ("day", 7): lambda i: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][(i + 3) % 7],
    ("month", 12): lambda i: [
        "Jan",
        "Feb",
        "Mar",
        "Apr",
        "May",
        "Jun",
        "Jul",
        "Aug",
        "Sep",
        "Oct",
        "Nov",
        "Dec",
    ][i % 12],
    ("minute", 60): lambda i: f"minute {i % 60}",
    ("quarter", 4): lambda i: f"Q{i % 4 + 1}",
}


def _profile(grid: np.ndarray, raw: np.ndarray, period: float, unit: str):
    """Mean per position in the cycle: (label of the highest, of the lowest, their ratio)."""
    length = round(period)
    label = _LABELS.get((unit, length))
    if label is None or length < 2:
        return None
    values = tm.interpolate(raw)
    positions = grid % length
    means = np.array([values[positions == k].mean() for k in range(length)])
    high, low = int(np.argmax(means)), int(np.argmin(means))
    ratio = float(means[high] / means[low]) if means[low] > 0 else None
    return label(high), label(low), ratio


def consolidate(methods: list[dict], grid: np.ndarray, raw: np.ndarray, label: str) -> list[dict]:
    """One row per period the methods found: the methods agreeing within AGREEMENT of each other,
    their spread; kept when at least two agree and the series holds three cycles."""
    rows, left = [], sorted(methods, key=lambda m: (m["method"] != "acf", m["period"]))
    while left:
        reference = left[0]["period"]
        group = [m for m in left if abs(m["period"] - reference) <= AGREEMENT * reference]
        left = [m for m in left if m not in group]
        periods = [m["period"] for m in group]
        period = float(np.mean(periods))
        spread = (max(periods) - min(periods)) / period if period else 0.0
        first = group[0]
        unit = first["unit"]
        names = [m["method"] for m in group]
        strength = next((m["strength"] for m in group if m["method"] == "acf"), first["strength"])
        p_value = next((m["p_value"] for m in group if m["method"] == "periodogram"), None)
        if len(group) < 2:
            others = ", ".join(
                f"{m['method']} {m['period']:.1f}" for m in methods if m not in group
            )
            reason = f"found by {names[0]} only" + (f" (others: {others})" if others else "")
        elif grid.size < 3 * period:
            reason = f"fewer than 3 cycles in {grid.size} {unit}s"
        else:
            reason = None
        text = (
            f"{label} repeats every {period:.1f} {unit}s ({' and '.join(names)} agree within "
            f"{spread:.1%}; strength {strength:.2f})"
        )
        shape = _profile(grid, raw, period, unit) if reason is None else None
        peak_at = ratio = None
        if shape is not None:
            peak_at, low_at, ratio = shape
            text += f"; highest at {peak_at}" + (
                f", {ratio:.1f}x the lowest at {low_at}" if ratio else f", lowest at {low_at}"
            )
        base = {k: first[k] for k in ("table", "measure", "time_column")}
        about = [c for c in (first["measure"], first["time_column"]) if c]
        rows.append(
            base
            | {
                "period": period,
                "unit": unit,
                "strength": strength,
                "method": "+".join(names),
                "methods": names,
                "spread": spread,
                "p_value": p_value,
                "points": int(grid.size),
                "peak_at": peak_at,
                "peak_ratio": ratio,
            }
            | verdict(reason, text, abs(strength), 1.0, about)
        )
    return rows


def run(ctx: PhaseContext) -> PhaseResult:
    temporal = ctx.result("temporal").tables["temporal"]
    cycles, methods, turns, notes = [], [], [], []
    by_table: dict[str, list[dict]] = {}
    for row in temporal.filter(pl.col("granularity").is_not_null()).iter_rows(named=True):
        frame = ctx.tables.get(row["table"])
        if frame is not None and row["column"] in frame.columns:
            by_table.setdefault(row["table"], []).append(row)
    for table, rows in by_table.items():
        frame = ctx.tables[table]
        row = _time_column(rows)
        column = row["column"]
        skipped = [r["column"] for r in rows if r is not row]
        if skipped:
            notes.append(f"{table}: cycles by {column}, not by {', '.join(skipped)}")
        stamps = frame.select(tm.naive(pl.col(column), frame.schema[column]).alias("t"))
        indexes = stamps.select(tm.period_index(pl.col("t"), row["granularity"])).to_series()
        unit, _ = tm.analysis_unit(int(indexes.min()), int(indexes.max()), row["granularity"])
        if unit is None:
            continue
        measures = _measures(ctx, table, frame)
        # the row count and every measure's mean per period in one group-by over the time column
        grid, counts, _present = tm.series_many(frame, column, unit, [None], how="sum")
        _, means, _ = tm.series_many(frame, column, unit, measures, how="mean")
        series = {None: counts[None]} | {m: means[m] for m in measures}
        if grid.size < MIN_POINTS:
            notes.append(f"{table} by {column}: {grid.size} {unit}s, too short")
            continue
        for measure, raw in series.items():
            ctx.log(f"business_cycles: {table}.{measure or '(rows)'} by {column}")
            label = (
                f"`{table}` rows per {unit}"
                if measure is None
                else (f"mean `{measure}` per {unit}")
            )
            base = {"table": table, "measure": measure, "time_column": column}
            found, points = analyse_series(grid, raw, unit, base)
            methods += found
            judged = consolidate(found, grid, raw, label)
            cycles += judged
            if any(c["kept"] for c in judged):
                turns += points
    cycle_frame = pl.DataFrame(cycles, schema=CYCLE_SCHEMA)
    turn_frame = pl.DataFrame(turns, schema=TURN_SCHEMA)
    return PhaseResult(
        tables={
            "cycles": cycle_frame,
            "cycle_methods": pl.DataFrame(methods, schema=METHOD_SCHEMA),
            "turning_points": turn_frame,
        },
        summary=_summary(cycle_frame, turn_frame, notes),
        figures={
            "cycles": cycle_frame.filter(pl.col("kept")).height,
            "turning_points": turn_frame.height,
        },
    )


def _summary(cycles: pl.DataFrame, turns: pl.DataFrame, notes: list[str]) -> str:
    lines = [
        f"**{cycles.height} cycles, {turns.height} turning points** (measures summed per period, "
        "linearly detrended).",
        "",
    ]
    kept = cycles.filter(pl.col("kept"))
    lines[0] = (
        f"**{kept.height} cycles** (of {cycles.height} periods found; kept when two methods agree "
        f"within {AGREEMENT:.0%}), **{turns.height} turning points**; the row count and the mean "
        "of each measure per period, linearly detrended."
    )
    if kept.height:
        lines += ["| series | time | period | strength | methods |", "|---|---|---|---|---|"]
        for r in kept.head(40).iter_rows(named=True):
            lines.append(
                f"| {r['table']}.{r['measure'] or '(rows)'} | {r['time_column']} "
                f"| {r['period']:.2f} {r['unit']} | {r['strength']:.2f} | {r['method']} |"
            )
    return summary_text(lines, notes)


SPEC = PhaseSpec(
    name="business_cycles",
    sections=(
        Section("Cycles", "cycles", ("statement", "period", "unit", "spread", "p_value")),
        Section("Turning points", "turning_points", ("table", "measure", "kind", "at")),
    ),
    needs=("temporal", "semantic"),
    findings=("cycles",),
    run=run,
    version="2",
    description="Dominant cycle lengths (ACF, periodogram), Hodrick-Prescott cycle with dated "
    "peaks and troughs.",
)
