"""Dominant cycles, their strength, and dated peaks and troughs (SPEC 4, business_cycles).

For every time column with a granularity (from `temporal`) and every measure of its table (numeric
columns not named like ids, at most 10 per table), the measure is SUMMED per period at the
detected granularity (rolled up like `temporal` when the grid exceeds its point cap); missing
periods are linearly interpolated and the series is linearly detrended. Then:
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

Periods count the unit in `unit` (the granularity the series was analysed at).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl

from dat_pipeline.analysis.phase import PhaseContext, PhaseResult, PhaseSpec
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
CYCLE_SCHEMA = {
    "table": pl.String,
    "measure": pl.String,
    "time_column": pl.String,
    "period": pl.Float64,
    "unit": pl.String,
    "strength": pl.Float64,
    "method": pl.String,
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
    return 1.0 / float(fine_freqs[best]), g


def hp_cycle(values: np.ndarray, unit: str):
    from statsmodels.tsa.filters.hp_filter import hpfilter

    cycle, _trend = hpfilter(values, lamb=hp_lambda(unit))
    return np.asarray(cycle)


def analyse_series(grid: np.ndarray, raw: np.ndarray, unit: str, base: dict):
    from scipy import signal

    cycles, turns = [], []
    values = signal.detrend(tm.interpolate(raw))
    found = {}
    for method, peak in (("acf", acf_peak(values)), ("periodogram", periodogram_peak(values))):
        if peak is not None:
            found[method] = peak
            cycles.append(base | {"period": peak[0], "unit": unit, "strength": peak[1]})
            cycles[-1]["method"] = method
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
            }
        )
    points = sorted([(int(i), "peak") for i in peaks] + [(int(i), "trough") for i in troughs])[
        -MAX_TURNING_POINTS:
    ]
    for index, kind in points:
        at = tm.iso(tm.period_start(int(grid[index]), unit), unit)
        turns.append({"table": base["table"], "measure": base["measure"], "kind": kind, "at": at})
    return cycles, turns


def run(ctx: PhaseContext) -> PhaseResult:
    temporal = ctx.result("temporal").tables["temporal"]
    cycles, turns, notes = [], [], []
    for row in temporal.filter(pl.col("granularity").is_not_null()).iter_rows(named=True):
        table, column = row["table"], row["column"]
        frame = ctx.tables.get(table)
        if frame is None or column not in frame.columns:
            continue
        measures = tm.measure_columns(frame)
        if not measures:
            notes.append(f"{table}.{column}: no numeric measure")
            continue
        stamps = frame.select(tm.naive(pl.col(column), frame.schema[column]).alias("t"))
        indexes = stamps.select(tm.period_index(pl.col("t"), row["granularity"]))
        first, last = indexes.to_series().min(), indexes.to_series().max()
        unit, _ = tm.analysis_unit(int(first), int(last), row["granularity"])
        if unit is None:
            continue
        # every measure of the table in one group-by over the time column
        grid, sums, _present = tm.series_many(frame, column, unit, measures, how="sum")
        for measure in measures:
            raw = sums[measure]
            if grid.size < MIN_POINTS:
                notes.append(f"{table}.{measure} by {column}: {grid.size} {unit}s, too short")
                continue
            ctx.log(f"business_cycles: {table}.{measure} by {column}")
            base = {"table": table, "measure": measure, "time_column": column}
            found, points = analyse_series(grid, raw, unit, base)
            cycles += found
            turns += points
    cycle_frame = pl.DataFrame(cycles, schema=CYCLE_SCHEMA)
    turn_frame = pl.DataFrame(turns, schema=TURN_SCHEMA)
    return PhaseResult(
        tables={"cycles": cycle_frame, "turning_points": turn_frame},
        summary=_summary(cycle_frame, turn_frame, notes),
        figures={"cycles": cycle_frame.height, "turning_points": turn_frame.height},
    )


def _summary(cycles: pl.DataFrame, turns: pl.DataFrame, notes: list[str]) -> str:
    lines = [
        f"**{cycles.height} cycles, {turns.height} turning points** (measures summed per period, "
        "linearly detrended).",
        "",
    ]
    if cycles.height:
        lines += ["| measure | time | period | strength | method |", "|---|---|---|---|---|"]
        for r in cycles.head(40).iter_rows(named=True):
            lines.append(
                f"| {r['table']}.{r['measure']} | {r['time_column']} "
                f"| {r['period']:.2f} {r['unit']} | {r['strength']:.2f} | {r['method']} |"
            )
    if notes:
        lines += ["", "Skipped: " + "; ".join(notes[:20])]
    return "\n".join(lines)


SPEC = PhaseSpec(
    name="business_cycles",
    needs=("temporal",),
    run=run,
    version="1",
    description="Dominant cycle lengths (ACF, periodogram), Hodrick-Prescott cycle with dated "
    "peaks and troughs.",
)
