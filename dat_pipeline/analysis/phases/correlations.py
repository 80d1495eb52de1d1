"""Correlations phase: associations between columns and functional dependencies.

Pearson and Spearman for numeric pairs (pairwise non-null, all pairs at once through masked
matrix products), bias-corrected Cramér's V (Bergsma 2013) for categorical pairs, the correlation
ratio eta for numeric-categorical pairs, and single-column functional dependencies A -> B with
their support (share of rows agreeing with the majority B of their A; 1.0 = exact). Work is capped
for wide tables and computed on a row sample of large ones; the summary says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from dat_pipeline.analysis.phase import PhaseContext, PhaseResult, PhaseSpec
from dat_pipeline.analysis.phases.statistics import NUMERIC, ROW_NUMBER, select_row

SAMPLE_ROWS = 200_000
MAX_NUMERIC = 60
MAX_CATEGORICAL = 40
MAX_FD_COLUMNS = 40
CATEGORY_RANGE = (2, 50)
FD_SUPPORT = 0.98
MAX_TEXT_LENGTH = 200  # long texts take no part in dependencies

CORRELATIONS_SCHEMA = {
    "table": pl.String,
    "column_a": pl.String,
    "column_b": pl.String,
    "method": pl.String,
    "value": pl.Float64,
    "n": pl.Int64,
}
FD_SCHEMA = {
    "table": pl.String,
    "determinant": pl.List(pl.String),
    "dependent": pl.String,
    "support": pl.Float64,
}


def _codes(frame: pl.DataFrame, columns: list[str]) -> dict[str, tuple[np.ndarray, int]]:
    """Dense integer codes per column (-1 for null) and the number of distinct values."""
    if not columns:
        return {}
    coded = frame.select(
        [(pl.col(c).rank("dense").cast(pl.Int64) - 1).fill_null(-1).alias(c) for c in columns]
    )
    out = {}
    for c in columns:
        codes = coded[c].to_numpy()
        out[c] = (codes, int(codes.max()) + 1 if codes.size else 0)
    return out


def pairwise_pearson(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson r and pair counts for all column pairs of `values` (NaN = missing), using only
    rows where both columns are present, as matrix products."""
    present = ~np.isnan(values)
    mask = present.astype(np.float64)
    centred = values - np.nanmean(values, axis=0)
    x = np.where(present, centred, 0.0)
    n = mask.T @ mask
    sx = x.T @ mask  # sx[i, j]: sum of column i over rows where j is present too
    sxx = (x * x).T @ mask
    sxy = x.T @ x
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = sxy - sx * sx.T / n
        var_i = sxx - sx * sx / n
        r = cov / np.sqrt(var_i * var_i.T)
    return np.clip(r, -1.0, 1.0), n


def cramers_v(table: np.ndarray) -> float | None:
    """Bias-corrected Cramér's V (Bergsma 2013) of a contingency table."""
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    r, k = table.shape
    n = table.sum()
    if r < 2 or k < 2 or n < 2:
        return None
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    phi2 = max(0.0, chi2 / n - (k - 1) * (r - 1) / (n - 1))
    r_corr = r - (r - 1) ** 2 / (n - 1)
    k_corr = k - (k - 1) ** 2 / (n - 1)
    denominator = min(k_corr - 1, r_corr - 1)
    if denominator <= 0:
        return None
    return float(np.sqrt(phi2 / denominator))


def correlation_ratio(
    values: np.ndarray, codes: np.ndarray, groups: int
) -> tuple[float | None, int]:
    mask = ~np.isnan(values) & (codes >= 0)
    x, g = values[mask], codes[mask]
    n = int(x.size)
    if n < 3:
        return None, n
    counts = np.bincount(g, minlength=groups)
    if np.count_nonzero(counts) < 2:
        return None, n
    sums = np.bincount(g, weights=x, minlength=groups)
    mean = x.mean()
    total = float(((x - mean) ** 2).sum())
    if total <= 0:
        return None, n
    present = counts > 0
    between = float((counts[present] * (sums[present] / counts[present] - mean) ** 2).sum())
    return float(np.sqrt(min(1.0, between / total))), n


def fd_support(a: np.ndarray, ka: int, b: np.ndarray, kb: int) -> tuple[float, int, int]:
    """Share of rows (both non-null) whose B is the majority B of their A; rows and A values."""
    mask = (a >= 0) & (b >= 0)
    if not mask.all():
        a, b = a[mask], b[mask]
    n = int(a.size)
    if n == 0:
        return 0.0, 0, 0
    combined = a * kb + b
    if ka * kb <= 4_000_000:
        table = np.bincount(combined, minlength=ka * kb).reshape(ka, kb)
        agreeing = int(table.max(axis=1).sum())
        groups = int(np.count_nonzero(table.sum(axis=1)))
    else:
        pairs, counts = np.unique(combined, return_counts=True)
        owner = pairs // kb
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        agreeing = int(np.maximum.reduceat(counts, starts).sum())
        groups = int(starts.size)
    return agreeing / n, n, groups


def _pick_columns(columns: pl.DataFrame, frame: pl.DataFrame) -> dict[str, list[str]]:
    schema = frame.schema
    numeric, categorical, fd = [], [], []
    for row in columns.iter_rows(named=True):
        c, kind, count, distinct = row["column"], row["type"], row["count"] or 0, row["distinct"]
        if c not in schema or count < 3 or not distinct or distinct < 2:
            continue
        unique_integers = kind == "integer" and distinct == count  # identifiers
        if kind in NUMERIC and row["std"] and not unique_integers:
            numeric.append((-(row["std"] ** 2), c))
        lo, hi = CATEGORY_RANGE
        if kind in ("string", "boolean") and lo <= distinct <= hi:
            categorical.append((row["null_count"], distinct, c))
        too_long = (row["mean_length"] or 0) > MAX_TEXT_LENGTH
        if not too_long:
            fd.append((row["null_count"], distinct, c))
    return {
        "numeric": [c for _, c in sorted(numeric)],
        "categorical": [c for *_, c in sorted(categorical)],
        "fd": [c for *_, c in sorted(fd)],
    }


def _correlate(
    name: str,
    sample: pl.DataFrame,
    numeric: list[str],
    categorical: list[str],
    codes: dict[str, tuple[np.ndarray, int]] | None = None,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if len(numeric) >= 2:
        floats = sample.select([pl.col(c).cast(pl.Float64) for c in numeric])
        ranks = floats.select([pl.col(c).rank("average").cast(pl.Float64) for c in numeric])
        for method, frame in (("pearson", floats), ("spearman", ranks)):
            values = frame.to_numpy().astype(np.float64, copy=False)
            r, n = pairwise_pearson(values)
            for i in range(len(numeric)):
                for j in range(i + 1, len(numeric)):
                    if n[i, j] >= 3 and np.isfinite(r[i, j]):
                        rows.append(_row(name, numeric[i], numeric[j], method, r[i, j], n[i, j]))
    if codes is None or not set(categorical) <= set(codes):
        codes = _codes(sample, categorical)
    for i, a in enumerate(categorical):
        ca, ka = codes[a]
        for b in categorical[i + 1 :]:
            cb, kb = codes[b]
            mask = (ca >= 0) & (cb >= 0)
            n = int(mask.sum())
            table = np.bincount(ca[mask] * kb + cb[mask], minlength=ka * kb).reshape(ka, kb)
            value = cramers_v(table)
            if value is not None:
                rows.append(_row(name, a, b, "cramers_v", value, n))
    if numeric and categorical:
        floats = sample.select([pl.col(c).cast(pl.Float64) for c in numeric])
        for x_name in numeric:
            x = floats[x_name].to_numpy().astype(np.float64, copy=False)
            for c in categorical:
                value, n = correlation_ratio(x, *codes[c])
                if value is not None:
                    rows.append(_row(name, c, x_name, "correlation_ratio", value, n))
    return rows


def _row(name: str, a: str, b: str, method: str, value: float, n: float) -> dict[str, Any]:
    return {
        "table": name,
        "column_a": a,
        "column_b": b,
        "method": method,
        "value": float(value),
        "n": int(n),
    }


def _dependencies(
    name: str,
    frame: pl.DataFrame,
    sample: pl.DataFrame,
    columns: list[str],
    codes: dict[str, tuple[np.ndarray, int]] | None = None,
) -> list[dict[str, Any]]:
    if codes is None or not set(columns) <= set(codes):
        codes = _codes(sample, columns)
    found: list[dict[str, Any]] = []
    for a in columns:
        ca, ka = codes[a]
        for b in columns:
            if a == b:
                continue
            cb, kb = codes[b]
            support, n, groups = fd_support(ca, ka, cb, kb)
            if n < 2 or groups >= n or groups < 2:
                continue  # A unique (trivial) or constant on these rows
            if kb < 2:
                continue
            exact = support >= 1.0
            if exact or (support >= FD_SUPPORT and groups <= 0.5 * n):
                found.append(
                    {"table": name, "determinant": [a], "dependent": b, "support": support}
                )
    if sample.height < frame.height:
        _verify_exact(frame, found)
    return found


def _verify_exact(frame: pl.DataFrame, found: list[dict[str, Any]]) -> None:
    """Exact dependencies seen on a sample are checked on every row (one select)."""
    exact = [fd for fd in found if fd["support"] >= 1.0][:200]
    exprs = []
    for i, fd in enumerate(exact):
        a, b = fd["determinant"][0], fd["dependent"]
        both = pl.col(a).is_not_null() & pl.col(b).is_not_null()
        exprs += [
            pl.struct(a, b).filter(both).n_unique().alias(f"{i}:pairs"),
            pl.col(a).filter(both).n_unique().alias(f"{i}:keys"),
            both.sum().alias(f"{i}:rows"),
        ]
    counts = select_row(frame, exprs)
    for i, fd in enumerate(exact):
        if counts[f"{i}:pairs"] != counts[f"{i}:keys"]:
            # Not exact on all rows: keep the sample's estimate just below 1.
            fd["support"] = 1.0 - 1.0 / max(2, counts[f"{i}:rows"])


def run(ctx: PhaseContext) -> PhaseResult:
    statistics = ctx.result("statistics").tables["columns"]
    sample_rows = int(ctx.option("correlation_sample_rows", SAMPLE_ROWS))
    correlation_rows: list[dict[str, Any]] = []
    fd_rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for name, frame in ctx.tables.items():
        ctx.log(f"correlations {name}")
        if frame.height < 3:
            notes.append(f"- `{name}`: {frame.height} rows, too few for correlations.")
            continue
        picked = _pick_columns(statistics.filter(pl.col("table") == name), frame)
        for kind, cap in (("numeric", MAX_NUMERIC), ("categorical", MAX_CATEGORICAL)):
            if len(picked[kind]) > cap:
                notes.append(
                    f"- `{name}`: {len(picked[kind])} {kind} columns, the {cap} "
                    + ("with the highest variance" if kind == "numeric" else "most complete")
                    + " were compared."
                )
                picked[kind] = picked[kind][:cap]
        if len(picked["fd"]) > MAX_FD_COLUMNS:
            notes.append(
                f"- `{name}`: dependencies searched among the {MAX_FD_COLUMNS} most complete "
                f"of {len(picked['fd'])} columns."
            )
            picked["fd"] = picked["fd"][:MAX_FD_COLUMNS]
        data = frame.drop(ROW_NUMBER, strict=False)
        sample = data.sample(n=sample_rows, seed=0) if data.height > sample_rows else data
        if sample.height < data.height:
            notes.append(
                f"- `{name}`: computed on a random sample of {sample.height:,} of "
                f"{data.height:,} rows (exact dependencies re-checked on all rows)."
            )
        # dense codes once per column, shared by Cramér's V, eta and the dependencies
        codes = _codes(sample, list(dict.fromkeys(picked["categorical"] + picked["fd"])))
        correlation_rows += _correlate(
            name, sample, picked["numeric"], picked["categorical"], codes
        )
        fd_rows += _dependencies(name, data, sample, picked["fd"], codes)

    correlations = pl.DataFrame(correlation_rows, schema=CORRELATIONS_SCHEMA)
    dependencies = pl.DataFrame(fd_rows, schema=FD_SCHEMA)
    strong = correlations.filter(pl.col("value").abs() >= 0.5).sort(
        pl.col("value").abs(), descending=True
    )
    summary = [
        f"{correlations.height} column pairs measured, {strong.height} with |value| >= 0.5; "
        f"{dependencies.filter(pl.col('support') >= 1.0).height} exact and "
        f"{dependencies.filter(pl.col('support') < 1.0).height} approximate "
        f"(support >= {FD_SUPPORT}) functional dependencies.",
    ]
    if strong.height:
        summary += ["", "| table | a | b | method | value | n |", "|---|---|---|---|---|---|"]
        summary += [
            f"| {r['table']} | {r['column_a']} | {r['column_b']} | {r['method']} | "
            f"{r['value']:.3f} | {r['n']} |"
            for r in strong.head(30).iter_rows(named=True)
        ]
    if dependencies.height:
        summary += ["", "| table | determinant | dependent | support |", "|---|---|---|---|"]
        summary += [
            f"| {r['table']} | {', '.join(r['determinant'])} | {r['dependent']} | "
            f"{r['support']:.4f} |"
            for r in dependencies.sort("support", descending=True).head(30).iter_rows(named=True)
        ]
    if notes:
        summary += ["", *notes]
    return PhaseResult(
        tables={"correlations": correlations, "functional_dependencies": dependencies},
        summary="\n".join(summary),
        figures={
            "pairs": correlations.height,
            "strong_pairs": strong.height,
            "functional_dependencies": dependencies.height,
        },
    )


SPEC = PhaseSpec(
    name="correlations",
    needs=("statistics",),
    run=run,
    version="1",
    description="Pearson, Spearman, Cramér's V and correlation ratio between columns; exact and "
    "approximate functional dependencies.",
)
