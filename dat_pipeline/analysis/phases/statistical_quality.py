"""Statistical quality phase: Benford's law on amounts, outliers, and 0-100 quality scores.

Benford is tested only where it applies (positive amounts spanning at least two orders of
magnitude, at least 300 of them, not identifiers) on the first significant digit, with Nigrini's
mean absolute deviation and a chi-square p-value. Outliers use IQR fences (1.5) and the robust
(modified) z-score |0.6745 (x - median) / MAD| > 3.5. All counts are one `select` per table.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import polars as pl

from dat_pipeline.analysis.inputs import data_columns, rows_by_column
from dat_pipeline.analysis.phase import PhaseContext, PhaseResult, PhaseSpec, Section
from dat_pipeline.analysis.phases.column_profiles import NUMERIC, select_row

BENFORD_MIN_N = 300
BENFORD_MIN_ORDERS = 2.0
# Nigrini (2012), first-digit test: MAD thresholds of the conformity classes.
BENFORD_CLASSES = ((0.006, "close"), (0.012, "acceptable"), (0.015, "marginal"))
BENFORD_EXPECTED = np.log10(1 + 1 / np.arange(1, 10))
IQR_K = 1.5
ROBUST_Z = 3.5
# Values that are numbers but not amounts: Benford does not apply to them.
NOT_AMOUNT = re.compile(
    r"(^|[_\s.-])(id|key|code|zip|postal|postcode|plz|phone|tel|year|yr|month|day|hour|"
    r"lat|latitude|lon|lng|long|longitude|age|rank|index|idx|no|num|number|seq)($|[_\s.-])",
    re.IGNORECASE,
)
CAMEL_ID = re.compile(r"[a-z0-9](Id|ID|Key|Code|No)$")

BENFORD_SCHEMA = {
    "table": pl.String,
    "column": pl.String,
    "n": pl.Int64,
    "mad": pl.Float64,
    "conformity": pl.String,
    "p_value": pl.Float64,
}
OUTLIERS_SCHEMA = {
    "table": pl.String,
    "column": pl.String,
    "method": pl.String,
    "count": pl.Int64,
    "lower": pl.Float64,
    "upper": pl.Float64,
}
COLUMN_QUALITY_SCHEMA = {
    "table": pl.String,
    "column": pl.String,
    "completeness": pl.Float64,
    "uniqueness": pl.Float64,
    "validity": pl.Float64,
    "score": pl.Float64,
    "reasons": pl.List(pl.String),
}
TABLE_QUALITY_SCHEMA = {"table": pl.String, "score": pl.Float64, "reasons": pl.List(pl.String)}


def conformity(mad: float) -> str:
    for limit, label in BENFORD_CLASSES:
        if mad < limit:
            return label
    return "nonconformity"


def first_digit(value: pl.Expr) -> pl.Expr:
    """First significant digit of positive values (0.0042 -> 4), robust to float rounding."""
    mantissa = value / pl.lit(10.0).pow(value.log10().floor())
    mantissa = (
        pl.when(mantissa >= 10).then(mantissa / 10).when(mantissa < 1).then(mantissa * 10)
    ).otherwise(mantissa)
    return mantissa.floor().clip(1, 9).cast(pl.Int8)


def _key(column: str, stat: str) -> str:
    return f"{column}\x00{stat}"


def _benford_candidates(columns: pl.DataFrame) -> tuple[list[str], list[str]]:
    """Numeric columns that may be amounts, and notes on those skipped by name or uniqueness."""
    chosen, skipped = [], []
    for row in columns.iter_rows(named=True):
        if row["type"] not in NUMERIC or not row["count"]:
            continue
        if NOT_AMOUNT.search(row["column"]) or CAMEL_ID.search(row["column"]):
            skipped.append(f"`{row['column']}` (name suggests a code, not an amount)")
        elif row["type"] == "integer" and row["distinct"] == row["count"] and row["count"] > 1:
            skipped.append(f"`{row['column']}` (unique integers: an identifier)")
        else:
            chosen.append(row["column"])
    return chosen, skipped


def _benford(
    name: str,
    frame: pl.DataFrame,
    candidates: list[str],
    min_n: int = BENFORD_MIN_N,
    min_orders: float = BENFORD_MIN_ORDERS,
) -> tuple[list[dict], dict[str, str]]:
    def positive(c: str) -> pl.Expr:
        x = pl.col(c).cast(pl.Float64)
        return pl.when((x > 0) & x.is_finite()).then(x)

    # Counts and range first (cheap); first digits only of the columns that qualify.
    exprs = []
    for c in candidates:
        exprs += [
            positive(c).count().alias(_key(c, "n")),
            positive(c).min().alias(_key(c, "lo")),
            positive(c).max().alias(_key(c, "hi")),
        ]
    found = select_row(frame, exprs)
    rows, notes = [], {}
    tested = []
    for c in candidates:
        n, lo, hi = found[_key(c, "n")], found[_key(c, "lo")], found[_key(c, "hi")]
        if n < min_n:
            notes[c] = f"not tested: {n} positive values (< {min_n})"
            continue
        orders = math.log10(hi / lo) if lo and hi else 0.0
        if orders < min_orders:
            notes[c] = (
                f"not tested: values span {orders:.1f} orders of magnitude (< {min_orders:g})"
            )
            continue
        tested.append(c)
    found.update(
        select_row(
            frame,
            [
                first_digit(positive(c).drop_nulls())
                .value_counts(name="__count")
                .implode()
                .alias(_key(c, "digits"))
                for c in tested
            ],
        )
    )
    for c in tested:
        n = found[_key(c, "n")]
        observed = np.zeros(9)
        for item in found[_key(c, "digits")]:
            observed[int(item[c]) - 1] = item["__count"]
        mad = float(np.mean(np.abs(observed / n - BENFORD_EXPECTED)))
        from scipy import stats as scipy_stats

        p_value = float(scipy_stats.chisquare(observed, BENFORD_EXPECTED * n).pvalue)
        label = conformity(mad)
        rows.append(
            {
                "table": name,
                "column": c,
                "n": int(n),
                "mad": mad,
                "conformity": label,
                "p_value": p_value,
            }
        )
    return rows, notes


def _outliers(
    name: str,
    frame: pl.DataFrame,
    columns: pl.DataFrame,
    iqr_k: float = IQR_K,
    robust_z: float = ROBUST_Z,
) -> list[dict]:
    numeric = [
        r for r in columns.iter_rows(named=True) if r["type"] in NUMERIC and (r["count"] or 0) > 0
    ]
    centre = []
    for r in numeric:
        x = pl.col(r["column"]).cast(pl.Float64)
        # The median is the statistics phase's p50 (the same linear quantile); computed here
        # only when it is missing (non-finite values).
        p50 = r.get("p50")
        median = x.median() if p50 is None else pl.lit(float(p50))
        deviation = (x - median).abs()
        centre += [
            median.alias(_key(r["column"], "median")),
            deviation.median().alias(_key(r["column"], "mad")),
            deviation.mean().alias(_key(r["column"], "meanad")),
        ]
    found = select_row(frame, centre)
    fences: list[tuple[str, str, float, float]] = []
    for r in numeric:
        c = r["column"]
        if r["p25"] is not None and r["p75"] is not None:
            iqr = r["p75"] - r["p25"]
            fences.append((c, "iqr", r["p25"] - iqr_k * iqr, r["p75"] + iqr_k * iqr))
        median, mad, meanad = (found[_key(c, k)] for k in ("median", "mad", "meanad"))
        if median is None:
            continue
        # Modified z-score (Iglewicz & Hoaglin); when MAD is 0 use the mean absolute deviation
        # scaled by 1.253314, as IBM SPSS does.
        spread = mad / 0.6745 if mad else 1.253314 * (meanad or 0.0)
        fences.append((c, "robust_z", median - robust_z * spread, median + robust_z * spread))
    counts = select_row(
        frame,
        [
            ((pl.col(c) < lower) | (pl.col(c) > upper)).sum().alias(_key(c, method))
            for c, method, lower, upper in fences
        ],
    )
    return [
        {
            "table": name,
            "column": c,
            "method": method,
            "count": int(counts[_key(c, method)] or 0),
            "lower": lower,
            "upper": upper,
        }
        for c, method, lower, upper in fences
    ]


def _column_score(
    row: dict[str, Any],
    rows: int,
    typing_row: dict[str, Any] | None,
    outliers: dict[str, int],
) -> dict[str, Any]:
    reasons: list[str] = []
    count = row["count"] or 0
    raw_nulls = typing_row["null_count"] if typing_row else row["null_count"]
    completeness = 1 - raw_nulls / rows if rows else None
    uniqueness = row["distinct"] / count if count else None
    validity = typing_row["confidence"] if typing_row else (1.0 if count else None)
    if rows == 0:
        return _quality(row, None, None, None, 0.0, ["table is empty"])
    if raw_nulls >= rows:
        return _quality(row, completeness, None, None, 0.0, ["all values are null"])
    score = 100.0
    if completeness is not None and completeness < 1:
        score -= 50 * (1 - completeness)
        reasons.append(f"{1 - completeness:.1%} of values missing")
    if validity is not None and validity < 1:
        score -= 50 * (1 - validity)
        failed = typing_row["failed"] if typing_row else 0
        reasons.append(f"{failed} values ({1 - validity:.1%}) did not parse as {row['type']}")
    if outliers and count:
        flagged = min(outliers.values())
        if flagged:
            share = flagged / count
            # Outliers are often real (skewed amounts): they lower the score a little only.
            score -= min(5.0, 100 * share)
            reasons.append(f"{flagged} outliers ({share:.1%}) by both IQR fences and robust z")
    if row["distinct"] == 1 and count > 1:
        score -= 10
        reasons.append("constant column (one distinct value)")
    if rows == 1:
        reasons.append("single row: uniqueness and outliers are not meaningful")
    return _quality(row, completeness, uniqueness, validity, score, reasons)


def _quality(
    row: dict[str, Any],
    completeness: float | None,
    uniqueness: float | None,
    validity: float | None,
    score: float,
    reasons: list[str],
) -> dict[str, Any]:
    return {
        "table": row["table"],
        "column": row["column"],
        "completeness": completeness,
        "uniqueness": uniqueness,
        "validity": validity,
        "score": round(min(100.0, max(0.0, score)), 1),
        "reasons": reasons,
    }


def _table_score(
    name: str, frame: pl.DataFrame, column_scores: list[dict[str, Any]]
) -> dict[str, Any]:
    data = data_columns(frame)
    if frame.height == 0:
        return {"table": name, "score": 0.0, "reasons": ["table is empty"]}
    if not data:
        return {"table": name, "score": 0.0, "reasons": ["table has no columns"]}
    reasons: list[str] = []
    score = float(np.mean([c["score"] for c in column_scores])) if column_scores else 0.0
    if frame.height == 1:
        reasons.append("single row: statistics are not meaningful")
    else:
        # Distinct 64-bit row hashes: exact but for a ~1e-6 collision chance at 10M rows, and
        # without the row-encoded copy of every row that `struct(...).n_unique()` builds.
        duplicates = frame.height - frame.select(data).hash_rows(seed=0).n_unique()
        if duplicates:
            share = duplicates / frame.height
            score -= min(20.0, 100 * share)
            reasons.append(f"{duplicates} rows ({share:.1%}) are duplicates of another row")
    worst = sorted((c for c in column_scores if c["score"] < 90), key=lambda c: c["score"])
    for c in worst[:5]:
        detail = "; ".join(c["reasons"][:2])
        reasons.append(f"column `{c['column']}` scores {c['score']:.0f} ({detail})")
    if len(worst) > 5:
        reasons.append(f"{len(worst) - 5} more columns score below 90")
    return {"table": name, "score": round(min(100.0, max(0.0, score)), 1), "reasons": reasons}


def run(ctx: PhaseContext) -> PhaseResult:
    # thresholds are per-source options with these defaults (issue 18)
    min_n = int(ctx.option("benford_min_n", BENFORD_MIN_N))
    min_orders = float(ctx.option("benford_min_orders", BENFORD_MIN_ORDERS))
    iqr_k = float(ctx.option("outlier_iqr_k", IQR_K))
    robust_z = float(ctx.option("outlier_robust_z", ROBUST_Z))
    statistics = ctx.result("statistics").tables["columns"]
    typing_columns = ctx.upstream("typing", "columns")
    benford_rows, outlier_rows, column_rows, table_rows = [], [], [], []
    skipped_notes: list[str] = []
    for name, frame in ctx.tables.items():
        ctx.log(f"statistical quality {name}")
        columns = statistics.filter(pl.col("table") == name)
        typing_rows = rows_by_column(typing_columns, name)
        candidates, skipped = _benford_candidates(columns)
        rows, untested = _benford(name, frame, candidates, min_n, min_orders)
        skipped += [f"`{c}` ({note})" for c, note in untested.items()]
        benford_rows += rows
        if skipped:
            skipped_notes.append(f"- `{name}`: Benford skipped for " + ", ".join(skipped[:10]))
        outliers = _outliers(name, frame, columns, iqr_k, robust_z)
        outlier_rows += outliers
        by_column: dict[str, dict[str, int]] = {}
        for o in outliers:
            by_column.setdefault(o["column"], {})[o["method"]] = o["count"]
        scores = [
            _column_score(
                r,
                frame.height,
                typing_rows.get(r["column"]),
                by_column.get(r["column"], {}),
            )
            for r in columns.iter_rows(named=True)
        ]
        column_rows += scores
        table_rows.append(_table_score(name, frame, scores))

    benford = pl.DataFrame(benford_rows, schema=BENFORD_SCHEMA)
    tables = pl.DataFrame(table_rows, schema=TABLE_QUALITY_SCHEMA)
    summary = [
        f"Quality of {len(table_rows)} tables; Benford tested on {benford.height} amount columns "
        f"(positive values, >= {min_n}, spanning >= {min_orders:g} orders of "
        "magnitude, first significant digit, Nigrini MAD).",
        "",
        "| table | score | reasons |",
        "|---|---|---|",
        *[
            f"| {t['table']} | {t['score']:.0f} | {'; '.join(t['reasons'][:3])} |"
            for t in table_rows[:50]
        ],
    ]
    if benford.height:
        summary += ["", "| table | column | n | MAD | conformity |", "|---|---|---|---|---|"]
        summary += [
            f"| {b['table']} | {b['column']} | {b['n']} | {b['mad']:.4f} | {b['conformity']} |"
            for b in benford_rows[:50]
        ]
    if skipped_notes:
        summary += ["", *skipped_notes]
    return PhaseResult(
        tables={
            "benford": benford,
            "outliers": pl.DataFrame(outlier_rows, schema=OUTLIERS_SCHEMA),
            "column_quality": pl.DataFrame(column_rows, schema=COLUMN_QUALITY_SCHEMA),
            "table_quality": tables,
        },
        summary="\n".join(summary),
        figures={
            "benford_tested": benford.height,
            "mean_table_score": round(float(tables["score"].mean()), 1) if tables.height else None,
        },
    )


SPEC = PhaseSpec(
    name="statistical_quality",
    sections=(
        Section("Benford", "quality.benford", ("table", "column", "n", "mad", "conformity")),
        Section("Outliers", "quality.outliers", ("table", "column", "method", "count")),
    ),
    needs=("statistics",),
    run=run,
    version="1",
    description="Benford test on amounts, IQR and robust-z outliers, completeness, uniqueness, "
    "validity and a 0-100 quality score per column and table.",
)
