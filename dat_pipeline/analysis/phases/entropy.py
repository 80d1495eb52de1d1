"""Per column and table uncertainty and a readiness verdict (SPEC 4, entropy).

Per column:
- `entropy`: Shannon entropy of the non-null value frequencies divided by log(distinct values)
  (0 for fewer than two values); on a uniform sample of `SAMPLE_ROWS` rows for bigger tables;
- uncertainty layers, each 0-1 (outliers: `statistical_quality` when present, else values outside
  the Tukey fences of the `statistics` quartiles):
  structural = max(1 - type confidence (typing), key ambiguity: 0.5 for a column `semantic` calls
  a key that is not a candidate key);
  value = 1 - (1 - null share)(1 - outlier share (statistical_quality, the larger method))(1 -
  parse failure share (typing failed / (parsed + failed)));
  semantic = 1 - semantic confidence;
  relational = for key and foreign-key columns: 1 - the best confidence of a relationship using
  the column, 0.5 for a column `semantic` calls a foreign key that references no key found;
- `score` = 1 - prod(1 - layer): the chance that at least one layer is a problem;
- readiness: `blocked` when the table is empty, over 50 % of values are null, or the type
  confidence is under 0.8; `investigate` when any layer exceeds 0.2; `ready` otherwise.

An upstream result that is absent leaves its inputs unknown (counted as 0) and says so in the
reasons. A table is `blocked` when it is empty or at least half its columns are blocked,
`investigate` when any column is not ready.
"""

from __future__ import annotations

import math

import polars as pl

from dat_pipeline.analysis.phase import PhaseContext, PhaseResult, PhaseSpec
from dat_pipeline.cleaning.rules import ROW_NUMBER

SAMPLE_ROWS = 1_000_000
BLOCK_NULLS = 0.5
BLOCK_TYPE_CONFIDENCE = 0.8
INVESTIGATE = 0.2
COLUMN_SCHEMA = {
    "table": pl.String,
    "column": pl.String,
    "entropy": pl.Float64,
    "structural": pl.Float64,
    "value": pl.Float64,
    "semantic": pl.Float64,
    "relational": pl.Float64,
    "score": pl.Float64,
    "readiness": pl.String,
    "reasons": pl.List(pl.String),
}
TABLE_SCHEMA = {"table": pl.String, "readiness": pl.String, "reasons": pl.List(pl.String)}


def _lookup(frame: pl.DataFrame | None, fields: list[str]) -> dict[tuple[str, str], dict]:
    if frame is None or not {"table", "column", *fields} <= set(frame.columns):
        return {}
    return {
        (r["table"], r["column"]): r
        for r in frame.select("table", "column", *fields).iter_rows(named=True)
    }


def normalized_entropy(frame: pl.DataFrame, column: str) -> tuple[float, int]:
    counts = (
        frame.get_column(column).drop_nulls().rename("v").value_counts(name="n").get_column("n")
    )
    distinct = counts.len()
    if distinct < 2:
        return 0.0, distinct
    p = counts.cast(pl.Float64) / counts.sum()
    h = float(-(p * p.log()).sum())
    return min(1.0, h / math.log(distinct)), distinct


def _union(*shares: float) -> float:
    product = 1.0
    for share in shares:
        product *= 1.0 - min(1.0, max(0.0, share))
    return 1.0 - product


class Upstream:
    """Everything entropy reads from earlier phases, with what is missing."""

    def __init__(self, ctx: PhaseContext):
        self.missing = [p for p in ("typing", "semantic", "relationships") if p not in ctx.results]
        # thresholds are per-source options with these defaults
        self.block_nulls = float(ctx.option("entropy_block_nulls", BLOCK_NULLS))
        self.block_type = float(ctx.option("entropy_block_type_confidence", BLOCK_TYPE_CONFIDENCE))
        self.investigate = float(ctx.option("entropy_investigate", INVESTIGATE))
        self.typing = _lookup(ctx.upstream("typing", "columns"), ["confidence", "parsed", "failed"])
        self.semantic = _lookup(
            ctx.upstream("semantic", "semantic"), ["semantic_type", "confidence", "role"]
        )
        self.outliers: dict[tuple[str, str], int] = {}
        self.fences: dict[tuple[str, str], tuple[float, float]] = {}
        outliers = ctx.upstream("statistical_quality", "outliers")
        stats = ctx.upstream("statistics", "columns")
        if outliers is not None and {"table", "column", "count"} <= set(outliers.columns):
            best = outliers.group_by("table", "column").agg(pl.col("count").max())
            self.outliers = {(t, c): int(n or 0) for t, c, n in best.iter_rows()}
        elif stats is not None and {"table", "column", "p25", "p75"} <= set(stats.columns):
            # statistical_quality is not upstream of entropy: Tukey fences from the quartiles
            quartiles = stats.select("table", "column", "p25", "p75").drop_nulls()
            for table, column, p25, p75 in quartiles.iter_rows():
                try:
                    low, high = float(p25), float(p75)
                except (TypeError, ValueError):
                    continue
                self.fences[(table, column)] = (low - 1.5 * (high - low), high + 1.5 * (high - low))
        else:
            self.missing.append("statistics")
        self.keys: set[tuple[str, str]] = set()
        self.key_tables: dict[str, int] = {}
        keys = ctx.upstream("relationships", "candidate_keys")
        if keys is not None:
            for table, columns in keys.select("table", "columns").iter_rows():
                for column in columns:
                    self.keys.add((table, column))
                if len(columns) == 1:
                    self.key_tables[table] = self.key_tables.get(table, 0) + 1
        self.relationship: dict[tuple[str, str], float] = {}
        rels = ctx.upstream("relationships", "relationships")
        if rels is not None:
            for r in rels.iter_rows(named=True):
                for table, columns in (
                    (r["from_table"], r["from_columns"]),
                    (r["to_table"], r["to_columns"]),
                ):
                    for column in columns:
                        key = (table, column)
                        self.relationship[key] = max(
                            self.relationship.get(key, 0.0), r["confidence"] or 0.0
                        )
        self.dependencies: dict[tuple[str, str], list[str]] = {}
        fds = ctx.upstream("correlations", "functional_dependencies")
        if fds is not None and {"table", "determinant", "dependent", "support"} <= set(fds.columns):
            exact = fds.filter(pl.col("support") >= 1.0)
            for table, determinant, dependent in exact.select(
                "table", "determinant", "dependent"
            ).iter_rows():
                self.dependencies.setdefault((table, dependent), []).append(", ".join(determinant))


def _column(
    up: Upstream,
    frame: pl.DataFrame,
    sample: pl.DataFrame,
    table: str,
    column: str,
    dtype: pl.DataType | None = None,
):
    reasons: list[str] = []
    key = (table, column)
    rows = frame.height
    nulls = frame.get_column(column).null_count()
    null_share = nulls / rows if rows else 1.0
    entropy, _distinct = normalized_entropy(sample, column) if rows else (0.0, 0)

    typed = up.typing.get(key)
    type_confidence = None
    parse_failures = 0.0
    if typed is None:
        source = "no typing result" if "typing" in up.missing else "not in the typing result"
        reasons.append(f"type confidence unknown ({source})")
    else:
        type_confidence = typed["confidence"]
        parsed, failed = typed["parsed"] or 0, typed["failed"] or 0
        parse_failures = failed / (parsed + failed) if parsed + failed else 0.0
    semantic_row = up.semantic.get(key)
    role = semantic_row["role"] if semantic_row else None
    ambiguity = 0.0
    if role == "identifier" and key not in up.keys and "relationships" not in up.missing:
        ambiguity = 0.5
        reasons.append("semantic calls it an identifier but it is not unique and non-null")
    structural = max(
        1.0 - type_confidence
        if type_confidence is not None and type_confidence == type_confidence
        else 0.0,
        ambiguity,
    )

    non_null = rows - nulls
    outliers = up.outliers.get(key, 0)
    fences = up.fences.get(key)
    dtype = frame.schema[column] if dtype is None else dtype
    if fences is not None and dtype.is_numeric():
        values = frame.get_column(column).cast(pl.Float64)
        outliers = int(((values < fences[0]) | (values > fences[1])).sum())
    outlier_share = outliers / non_null if non_null else 0.0
    value = _union(null_share, outlier_share, parse_failures)

    if semantic_row is None:
        semantic = 0.0
        source = "no semantic result" if "semantic" in up.missing else "not in the semantic result"
        reasons.append(f"semantic type unknown ({source})")
    else:
        confidence = semantic_row["confidence"]
        semantic = 1.0 - confidence if confidence is not None and confidence == confidence else 0.0

    if key in up.relationship:
        relational = 1.0 - up.relationship[key]
    elif role == "foreign_key" and "relationships" not in up.missing:
        relational = 0.5
        reasons.append("looks like a foreign key but references no key found")
    else:
        relational = 0.0

    layers = {
        "structural": structural,
        "value": value,
        "semantic": semantic,
        "relational": relational,
    }
    score = _union(*layers.values())
    blockers = []
    if rows == 0:
        blockers.append("table is empty")
    elif null_share > up.block_nulls:
        blockers.append(f"{null_share:.0%} of values are null")
    if (
        type_confidence is not None
        and type_confidence == type_confidence
        and type_confidence < up.block_type
    ):
        blockers.append(f"type confidence {type_confidence:.2f} < {up.block_type}")
    high = [
        f"{name} uncertainty {level:.2f} > {up.investigate}"
        for name, level in layers.items()
        if level > up.investigate
    ]
    if blockers:
        readiness = "blocked"
    elif high:
        readiness = "investigate"
    else:
        readiness = "ready"
    if outlier_share > 0:
        reasons.append(f"{outlier_share:.1%} outliers")
    if parse_failures > 0:
        reasons.append(f"{parse_failures:.1%} values failed to parse")
    for determinant in up.dependencies.get(key, [])[:3]:
        reasons.append(f"determined by {determinant} (functional dependency)")
    return {
        "table": table,
        "column": column,
        "entropy": entropy,
        **layers,
        "score": score,
        "readiness": readiness,
        "reasons": blockers + high + reasons,
    }


def _table_verdict(table: str, frame: pl.DataFrame, columns: list[dict]) -> dict:
    if frame.height == 0:
        return {"table": table, "readiness": "blocked", "reasons": ["table is empty"]}
    if not columns:
        return {"table": table, "readiness": "blocked", "reasons": ["table has no columns"]}
    blocked = [c["column"] for c in columns if c["readiness"] == "blocked"]
    unsure = [c["column"] for c in columns if c["readiness"] == "investigate"]
    reasons = []
    if blocked:
        reasons.append(
            f"{len(blocked)} of {len(columns)} columns blocked: {', '.join(blocked[:10])}"
        )
    if unsure:
        reasons.append(
            f"{len(unsure)} of {len(columns)} columns to investigate: {', '.join(unsure[:10])}"
        )
    if len(blocked) * 2 >= len(columns):
        readiness = "blocked"
    elif blocked or unsure:
        readiness = "investigate"
    else:
        readiness = "ready"
    return {"table": table, "readiness": readiness, "reasons": reasons}


def run(ctx: PhaseContext) -> PhaseResult:
    up = Upstream(ctx)
    column_rows, table_rows = [], []
    sampled = []
    for table, frame in ctx.tables.items():
        frame = frame.drop(ROW_NUMBER, strict=False)
        sample = frame
        if frame.height > SAMPLE_ROWS:
            sample = frame.sample(n=SAMPLE_ROWS, seed=0)
            sampled.append(table)
        schema = frame.schema  # building a Schema is costly on wide frames: once per table
        rows = [
            _column(up, frame, sample, table, column, dtype) for column, dtype in schema.items()
        ]
        column_rows += rows
        table_rows.append(_table_verdict(table, frame, rows))
    columns = pl.DataFrame(column_rows, schema=COLUMN_SCHEMA)
    tables = pl.DataFrame(table_rows, schema=TABLE_SCHEMA)
    return PhaseResult(
        tables={"columns": columns, "tables": tables},
        summary=_summary(columns, tables, up.missing, sampled),
        figures={
            f"{state}_columns": columns.filter(pl.col("readiness") == state).height
            for state in ("ready", "investigate", "blocked")
        },
    )


def _summary(columns: pl.DataFrame, tables: pl.DataFrame, missing: list[str], sampled: list[str]):
    counts = {
        s: columns.filter(pl.col("readiness") == s).height
        for s in ("ready", "investigate", "blocked")
    }
    lines = [
        f"**{counts['ready']} ready, {counts['investigate']} to investigate, "
        f"{counts['blocked']} blocked** columns.",
    ]
    if missing:
        lines.append(
            f"Absent upstream results (their inputs count as unknown): {', '.join(missing)}."
        )
    if sampled:
        lines.append(f"Entropy on a {SAMPLE_ROWS:,}-row sample for: {', '.join(sampled)}.")
    lines += ["", "| table | readiness | reasons |", "|---|---|---|"]
    for r in tables.iter_rows(named=True):
        lines.append(f"| {r['table']} | {r['readiness']} | {'; '.join(r['reasons'])} |")
    return "\n".join(lines)


SPEC = PhaseSpec(
    name="entropy",
    needs=("statistics", "semantic", "relationships", "correlations"),
    run=run,
    version="1",
    description="Normalized Shannon entropy and layered uncertainty per column, with a "
    "ready / investigate / blocked verdict per column and table.",
)
