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

from dat_pipeline.analysis.findings import FINDING_SCHEMA, verdict
from dat_pipeline.analysis.inputs import column_roles, table_roles
from dat_pipeline.analysis.phase import PhaseContext, PhaseResult, PhaseSpec, Section
from dat_pipeline.analysis.phases.column_profiles import NUMERIC, select_row
from dat_pipeline.cleaning.rules import ROW_NUMBER

SAMPLE_ROWS = 200_000
MAX_NUMERIC = 60
MAX_CATEGORICAL = 40
MAX_FD_COLUMNS = 40
CATEGORY_RANGE = (2, 50)
FD_SUPPORT = 0.98
MAX_TEXT_LENGTH = 200  # long texts take no part in dependencies

NEAR_UNIQUE = 0.95  # a determinant this distinct determines everything: structural, not searched
MIN_ROWS = 30  # the fewest rows a correlation or dependency needs to be a finding
MAX_P_VALUE = 0.001
MIN_EFFECT = {"pearson": 0.3, "spearman": 0.3, "cramers_v": 0.2}
DERIVED = 0.999  # |r| above this: one column is a linear function of the other
NOT_CORRELATED = {"identifier", "calendar_part", "clock_time", "foreign_key", "timestamp"}
STRUCTURAL = {"identifier", "calendar_part", "clock_time", "timestamp"}

CORRELATIONS_SCHEMA = {
    "table": pl.String,
    "column_a": pl.String,
    "column_b": pl.String,
    "method": pl.String,
    "value": pl.Float64,
    "n": pl.Int64,
    "p_value": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    **FINDING_SCHEMA,
}
FD_SCHEMA = {
    "table": pl.String,
    "determinant": pl.List(pl.String),
    "dependent": pl.String,
    "support": pl.Float64,
    "n": pl.Int64,
    "determinant_values": pl.Int64,
    **FINDING_SCHEMA,
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
    found = _cramers_v(table)
    return None if found is None else found[0]


def _cramers_v(table: np.ndarray) -> tuple[float, float, int] | None:
    """V, the chi-square statistic and its degrees of freedom."""
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
    return float(np.sqrt(phi2 / denominator)), chi2, (r - 1) * (k - 1)


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
    numeric, categorical, fd, determinants = [], [], [], set()
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
            if distinct < NEAR_UNIQUE * count:
                determinants.add(c)
    fd_columns = [c for *_, c in sorted(fd)]
    return {
        "numeric": [c for _, c in sorted(numeric)],
        "categorical": [c for *_, c in sorted(categorical)],
        "fd": fd_columns,
        "determinants": [c for c in fd_columns if c in determinants],
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
            found = _cramers_v(table)
            if found is not None:
                rows.append(
                    _row(name, a, b, "cramers_v", found[0], n)
                    | {"_chi2": found[1], "_dof": found[2]}
                )
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
    row = {
        "table": name,
        "column_a": a,
        "column_b": b,
        "method": method,
        "value": float(value),
        "n": int(n),
        "p_value": None,
        "ci_low": None,
        "ci_high": None,
    }
    return row


def _uncertainty(rows: list[dict[str, Any]]) -> None:
    """p-values and 95 % intervals of all rows at once (vectorized): Fisher's z interval (scaled by 1.06 for Spearman, Fieller et al.) and the t test for
    r; the chi-square test for Cramér's V."""
    from scipy import special  # the distributions' tails, without importing scipy.stats

    linear = [r for r in rows if r["method"] in ("pearson", "spearman") and r["n"] > 3]
    if linear:
        r = np.clip([row["value"] for row in linear], -0.999999, 0.999999)
        n = np.array([row["n"] for row in linear], dtype=np.float64)
        scale = np.array([1.06 if row["method"] == "spearman" else 1.0 for row in linear])
        z, se = np.arctanh(r), scale / np.sqrt(n - 3)
        t = r * np.sqrt((n - 2) / (1 - r * r))
        df = n - 2
        p = special.betainc(df / 2, 0.5, df / (df + t * t))  # two-sided Student t
        low, high = np.tanh(z - 1.96 * se), np.tanh(z + 1.96 * se)
        for i, row in enumerate(linear):
            row |= {"p_value": float(p[i]), "ci_low": float(low[i]), "ci_high": float(high[i])}
    tested = [r for r in rows if "_chi2" in r]
    if tested:
        chi2 = np.array([row.pop("_chi2") for row in tested])
        dof = np.array([row.pop("_dof") for row in tested])
        p = special.chdtrc(dof, chi2)
        for i, row in enumerate(tested):
            row["p_value"] = float(p[i])


def _dependencies(
    name: str,
    frame: pl.DataFrame,
    sample: pl.DataFrame,
    columns: list[str],
    codes: dict[str, tuple[np.ndarray, int]] | None = None,
    determinants: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Single-column dependencies A -> B among `columns`; A only among `determinants` (a
    near-unique column determines everything: structural, not searched)."""
    if codes is None or not set(columns) <= set(codes):
        codes = _codes(sample, columns)
    found: list[dict[str, Any]] = []
    for a in columns if determinants is None else determinants:
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
                    {
                        "table": name,
                        "determinant": [a],
                        "dependent": b,
                        "support": support,
                        "n": n,
                        "determinant_values": groups,
                    }
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


def _judge_correlations(
    rows: list[dict[str, Any]], roles: dict[str, str], linked: set[frozenset], height: int
) -> list[dict[str, Any]]:
    """Finding columns of each measured pair: only associations worth naming are kept, one per
    pair of columns (Pearson and Spearman say the same thing: the stronger is kept)."""
    best: dict[frozenset, float] = {}
    for row in rows:
        if row["method"] in ("pearson", "spearman"):
            pair = frozenset((row["column_a"], row["column_b"]))
            best[pair] = max(best.get(pair, 0.0), abs(row["value"]))
    judged = []
    for row in rows:
        a, b, method, value = row["column_a"], row["column_b"], row["method"], row["value"]
        pair = frozenset((a, b))
        role = next(
            (f"`{c}` is a {roles[c]}" for c in (a, b) if roles.get(c) in NOT_CORRELATED), None
        )
        if method == "correlation_ratio":
            reason = "a dimension against a measure: reported by slicing (eta squared)"
        elif role and method != "cramers_v":
            reason = role
        elif pair in linked:
            reason = "linked by a functional dependency (reported there)"
        elif method != "cramers_v" and abs(value) >= DERIVED:
            reason = (
                f"derived: one column is a linear function of the other (|r| = {abs(value):.4f})"
            )
        elif row["n"] < MIN_ROWS:
            reason = f"{row['n']} rows (< {MIN_ROWS})"
        elif abs(value) < MIN_EFFECT[method]:
            reason = f"weak (|{method}| < {MIN_EFFECT[method]})"
        elif row["p_value"] is not None and row["p_value"] >= MAX_P_VALUE:
            reason = f"not significant (p = {row['p_value']:.2g})"
        elif method != "cramers_v" and abs(value) < best.get(pair, 0.0):
            reason = "the same pair is reported by the stronger of Pearson and Spearman"
        else:
            reason = None
        if method == "cramers_v":
            text = f"`{a}` and `{b}` are associated (Cramér's V = {value:.2f}, n = {row['n']:,})"
        else:
            direction = "rise together" if value > 0 else "move in opposite directions"
            text = (
                f"`{a}` and `{b}` {direction} ({method} r = {value:.3f}, 95 % CI "
                f"{row['ci_low']:.3f}..{row['ci_high']:.3f}, n = {row['n']:,})"
                if row["ci_low"] is not None
                else f"`{a}` and `{b}` {direction} ({method} r = {value:.2f}, n = {row['n']:,})"
            )
        coverage = row["n"] / height if height else 0.0
        judged.append(row | verdict(reason, text, abs(value), coverage, [a, b]))
    return judged


def _judge_dependencies(
    rows: list[dict[str, Any]], roles: dict[str, str], height: int
) -> list[dict[str, Any]]:
    """Dependencies a date implies for its own parts, or that an identifier implies, are
    structural; of a one-to-one pair (A -> B and B -> A) one direction is reported."""
    exact = {(r["determinant"][0], r["dependent"]) for r in rows if r["support"] >= 1.0}
    # of a one-to-one pair the smaller name speaks for both: its twin's other dependencies follow
    twin = {a: b for a, b in exact if (b, a) in exact and b < a}
    judged = []
    for row in rows:
        a, b = row["determinant"][0], row["dependent"]
        structural = next(
            (f"`{c}` is a {roles[c]}" for c in (a, b) if roles.get(c) in STRUCTURAL), None
        )
        if structural:
            reason = f"structural: {structural}"
        elif row["n"] < MIN_ROWS:
            reason = f"{row['n']} rows (< {MIN_ROWS})"
        elif (b, a) in exact and (a, b) in exact and b < a:
            reason = f"one-to-one with `{b}`: reported as {b} -> {a}"
        elif a in twin and (twin[a], b) in exact:
            reason = f"follows from `{twin[a]}` -> `{b}` (`{a}` is one to one with `{twin[a]}`)"
        else:
            reason = None
        kind = "determines" if row["support"] >= 1.0 else "almost determines"
        text = (
            f"`{a}` {kind} `{b}` ({row['determinant_values']:,} values of {a}, "
            f"{row['support']:.1%} of {row['n']:,} rows agree)"
        )
        if (b, a) in exact and (a, b) in exact:
            text = f"`{a}` and `{b}` map one to one ({row['determinant_values']:,} values)"
        judged.append(row | verdict(reason, text, row["support"], row["n"] / height, [a, b]))
    return judged


def run(ctx: PhaseContext) -> PhaseResult:
    statistics = ctx.result("statistics").tables["columns"]
    sample_rows = int(ctx.option("correlation_sample_rows", SAMPLE_ROWS))
    all_roles = column_roles(ctx)
    correlation_rows: list[dict[str, Any]] = []
    fd_rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for name, frame in ctx.tables.items():
        ctx.log(f"correlations {name}")
        if frame.height < 3:
            notes.append(f"- `{name}`: {frame.height} rows, too few for correlations.")
            continue
        picked = _pick_columns(statistics.filter(pl.col("table") == name), frame)
        roles = table_roles(all_roles, name)
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
            picked["determinants"] = [c for c in picked["determinants"] if c in picked["fd"]]
        data = frame.drop(ROW_NUMBER, strict=False)
        sample = data.sample(n=sample_rows, seed=0) if data.height > sample_rows else data
        if sample.height < data.height:
            notes.append(
                f"- `{name}`: computed on a random sample of {sample.height:,} of "
                f"{data.height:,} rows (exact dependencies re-checked on all rows)."
            )
        # dense codes once per column, shared by Cramér's V, eta and the dependencies
        codes = _codes(sample, list(dict.fromkeys(picked["categorical"] + picked["fd"])))
        found = _dependencies(name, data, sample, picked["fd"], codes, picked["determinants"])
        fd_rows += _judge_dependencies(found, roles, data.height)
        linked = {frozenset((r["determinant"][0], r["dependent"])) for r in found}
        table_rows = _correlate(name, sample, picked["numeric"], picked["categorical"], codes)
        _uncertainty(table_rows)
        correlation_rows += _judge_correlations(table_rows, roles, linked, data.height)

    correlations = pl.DataFrame(correlation_rows, schema=CORRELATIONS_SCHEMA)
    dependencies = pl.DataFrame(fd_rows, schema=FD_SCHEMA)
    strong = correlations.filter(pl.col("kept")).sort(pl.col("value").abs(), descending=True)
    summary = [
        f"{correlations.height} column pairs measured, {strong.height} worth naming; "
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
            for r in dependencies.filter(pl.col("kept"))
            .sort("support", descending=True)
            .head(30)
            .iter_rows(named=True)
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
    sections=(
        Section("Correlations", "correlations", ("statement", "method", "value", "p_value")),
        Section("Functional dependencies", "functional_dependencies", ("statement", "support")),
    ),
    needs=("statistics", "semantic"),
    run=run,
    version="2",
    description="Pearson, Spearman, Cramér's V and correlation ratio between columns; exact and "
    "approximate functional dependencies; the ones worth naming are kept as findings.",
    findings=("correlations", "functional_dependencies"),
)
