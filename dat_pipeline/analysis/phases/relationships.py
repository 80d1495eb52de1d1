"""Candidate keys and foreign keys as inclusion dependencies (SPEC 4, relationships).

A foreign key A.x -> B.y is reported when B.y is a candidate key (unique, non-null) and at least
`fk_min_containment` of A.x's distinct non-null values occur in B.y. Containment is computed on
distinct-value sets with semi-joins, never by comparing values in Python.

Containment alone is weak evidence when the referenced key is a dense integer range: any
integer column whose values fall inside 1..n is "contained" in an auto-increment id 1..n. So for
integer keys we estimate the chance that A.x's distinct values land in B.y by accident (the
density of B.y inside A.x's value range, raised to the number of distinct values) and, when
that chance is not small, require name evidence (x named like `<B>_id`, or the same
non-generic name as B.y). Names never decide the direction: they only break ties and raise the
confidence. Real keys have orphans: when the names agree strictly (`names_agree`) and B.y is a
candidate key, containment down to `fk_named_min_containment` (0.7) is accepted (SPEC 4.9).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from itertools import combinations

import polars as pl

from dat_pipeline.analysis.findings import FINDING_SCHEMA, verdict
from dat_pipeline.analysis.phase import PhaseContext, PhaseResult, PhaseSpec, Section
from dat_pipeline.cleaning.rules import ROW_NUMBER

GENERIC_NAMES = {"id", "key", "code", "pk", "uuid", "guid", "no", "num", "nr", "number", "ref"}
KEY_SUFFIXES = ("uuid", "guid", "id", "key", "code", "no", "num", "nr", "ref", "fk")
TABLE_PREFIXES = ("dim", "fact", "tbl", "fct", "lkp", "ref")
MAX_KEY_LENGTH = 200  # longer strings are text, not keys
MAX_TARGET_KEYS_PER_TABLE = 25
MAX_COMPOSITE_COLUMNS = 12
MAX_COMPOSITE_CANDIDATES = 25
MAX_COMPOSITE_TARGETS = 3  # composite keys per table tried as foreign-key targets
COMPOSITE_SAMPLE_ROWS = 20_000
SKETCH_SIZE = 256
SKETCH_SLACK = 0.1  # a 256-value sample estimates containment within a few %
CHANCE_LIMIT = 0.01  # accept containment without names only if it is this unlikely by chance
NAMED_MIN_CONTAINMENT = 0.7  # when the names agree and the target is a key (SPEC 4.9)


@dataclass
class CatalogColumn:
    """One column of the catalog the key search compares: its kind, counts and range."""

    table: str
    column: str
    kind: str | None  # int | str | date | datetime | None (not comparable)
    rows: int
    nulls: int
    distinct: int  # non-null distinct values
    minimum: object = None
    maximum: object = None
    max_length: int | None = None
    _values: pl.DataFrame | None = field(default=None, repr=False)

    @property
    def is_key(self) -> bool:
        return (
            self.kind is not None
            and self.rows >= 2
            and self.nulls == 0
            and self.distinct == self.rows
            and (self.max_length is None or self.max_length <= MAX_KEY_LENGTH)
        )

    @property
    def dense(self) -> bool:
        """An integer column holding every value of its range (an auto-increment id shape)."""
        if self.kind != "int" or self.distinct == 0:
            return False
        return self.distinct == int(self.maximum) - int(self.minimum) + 1


def _kind(dtype: pl.DataType) -> str | None:
    if dtype.is_integer():
        return "int"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum | pl.Categorical):
        return "str"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    return None


def _canonical(expr: pl.Expr, kind: str) -> pl.Expr:
    if kind == "int":
        return expr.cast(pl.Int64)
    if kind == "str":
        return expr.cast(pl.String)
    if kind == "datetime":
        return expr.cast(pl.Datetime("us"))
    return expr


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ses", "xes", "zes", "ches", "shes")) and len(word) > 4:
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def _table_stems(table: str) -> set[str]:
    parts = [p for p in re.split(r"[^a-z0-9]+", table.lower()) if p]
    while len(parts) > 1 and parts[0] in TABLE_PREFIXES:
        parts = parts[1:]
    whole = "".join(parts)
    stems = {whole, _singular(whole)}
    if parts:
        stems |= {parts[-1], _singular(parts[-1])}
    return {s for s in stems if len(s) >= 3}


def _column_stem(column: str) -> str:
    name = _norm(column)
    for suffix in KEY_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def name_evidence(from_column: str, to_table: str, to_column: str) -> bool:
    """True when the referencing column's name points at the referenced table or key:
    `customer_id`, `cust_id` or `billing_customer_id` -> customers, or the same non-generic
    name as the key (`product_id` -> `product_id`)."""
    x, y = _norm(from_column), _norm(to_column)
    if x == y and x not in GENERIC_NAMES:
        return True
    stem = _column_stem(from_column)
    if len(stem) < 3:
        return False
    for table_stem in _table_stems(to_table):
        if stem == table_stem or table_stem.startswith(stem):
            return True
        if len(table_stem) >= 4 and stem.endswith(table_stem):
            return True
    y_stem = _column_stem(to_column)
    return y not in GENERIC_NAMES and len(y_stem) >= 3 and y_stem == stem


class Catalog:
    """Per-column profiles and cached distinct-value sets of the typed tables."""

    def __init__(self, tables: dict[str, pl.DataFrame]):
        self.tables = {name: frame.drop(ROW_NUMBER, strict=False) for name, frame in tables.items()}
        self.columns: dict[tuple[str, str], CatalogColumn] = {}
        for name, frame in self.tables.items():
            self._profile(name, frame)

    def _profile(self, table: str, frame: pl.DataFrame) -> None:
        exprs: list[pl.Expr] = []
        kinds: dict[str, str | None] = {}
        for column, dtype in frame.schema.items():
            kind = _kind(dtype)
            kinds[column] = kind
            if kind is None or frame.height == 0:
                continue
            col = _canonical(pl.col(column), kind)
            exprs += [
                col.null_count().alias(f"n\x00{column}"),
                col.drop_nulls().n_unique().alias(f"d\x00{column}"),
                col.min().alias(f"lo\x00{column}"),
                col.max().alias(f"hi\x00{column}"),
            ]
            if kind == "str":
                exprs.append(col.str.len_bytes().max().alias(f"len\x00{column}"))
        stats = frame.select(exprs).row(0, named=True) if exprs else {}
        for column, kind in kinds.items():
            if kind is None or frame.height == 0:
                info = CatalogColumn(table, column, None, frame.height, frame.height, 0)
            else:
                info = CatalogColumn(
                    table,
                    column,
                    kind,
                    frame.height,
                    int(stats[f"n\x00{column}"]),
                    int(stats[f"d\x00{column}"]),
                    stats[f"lo\x00{column}"],
                    stats[f"hi\x00{column}"],
                    stats.get(f"len\x00{column}"),
                )
            self.columns[(table, column)] = info

    def values(self, info: CatalogColumn) -> pl.DataFrame:
        """The distinct non-null values of a column as a one-column frame named `v`."""
        if info._values is None:
            info._values = (
                self.tables[info.table]
                .select(_canonical(pl.col(info.column), info.kind).alias("v"))
                .drop_nulls()
                .unique()
            )
        return info._values


def _single_keys(catalog: Catalog) -> dict[str, list[CatalogColumn]]:
    keys: dict[str, list[CatalogColumn]] = {}
    for info in catalog.columns.values():
        if info.is_key:
            keys.setdefault(info.table, []).append(info)
    return keys


def _is_unique_pair(frame: pl.DataFrame, a: str, b: str) -> bool:
    pair = frame.select(a, b)
    if pair.null_count().sum_horizontal().item() > 0:
        return False
    if frame.height > COMPOSITE_SAMPLE_ROWS:
        # a duplicate in a prefix is a duplicate in the whole table: cheap rejection first
        head = pair.head(COMPOSITE_SAMPLE_ROWS)
        if head.unique().height < head.height:
            return False
    return pair.unique().height == frame.height


def _in_table_order(frame: pl.DataFrame, a: str, b: str) -> tuple[str, str]:
    return (a, b) if frame.columns.index(a) < frame.columns.index(b) else (b, a)


def _composite_keys(catalog: Catalog, table: str) -> list[tuple[str, str]]:
    frame = catalog.tables[table]
    if frame.height < 2:
        return []
    pool = [
        info
        for (name, _), info in catalog.columns.items()
        if name == table
        and info.kind is not None
        and info.nulls == 0
        and 2 <= info.distinct < info.rows
        and (info.max_length is None or info.max_length <= MAX_KEY_LENGTH)
    ]
    # prefer key-like names, then higher cardinality (more likely to complete a key)
    pool.sort(key=lambda i: (_column_stem(i.column) == _norm(i.column), -i.distinct))
    pool = pool[:MAX_COMPOSITE_COLUMNS]
    found = []
    for a, b in combinations(pool, 2):
        if a.distinct * b.distinct < frame.height:
            continue
        if _is_unique_pair(frame, a.column, b.column):
            found.append(_in_table_order(frame, a.column, b.column))
    return found


def _overlaps(a: CatalogColumn, b: CatalogColumn, min_containment: float) -> bool:
    if a.distinct < 2 or a.distinct > b.distinct / min_containment:
        return False
    if a.maximum < b.minimum or a.minimum > b.maximum:
        return False
    return not (a.kind == "str" and (a.max_length or 0) > MAX_KEY_LENGTH)


def _chance_containment(catalog: Catalog, a: CatalogColumn, b: CatalogColumn) -> float:
    """How likely A.x's distinct values fall in B.y by accident. For integers: the density of
    B.y over the range both columns share, raised to the number of A.x's distinct values in
    that range (values outside it are orphans either way)."""
    if a.kind == "str":
        return 0.0 if a.distinct >= 3 else 1.0
    if a.kind != "int":
        return 1.0  # dates and timestamps are dense by nature: names must say it
    lo, hi = max(int(a.minimum), int(b.minimum)), min(int(a.maximum), int(b.maximum))
    inside_b = catalog.values(b).filter(pl.col("v").is_between(lo, hi)).height
    inside_a = catalog.values(a).filter(pl.col("v").is_between(lo, hi)).height
    density = min(1.0, inside_b / (hi - lo + 1))
    return density**inside_a


@dataclass
class Candidate:
    a: CatalogColumn
    b: CatalogColumn
    containment: float
    names: bool
    chance: float

    @property
    def score(self) -> tuple:
        return (self.names, self.containment, self.b.rows)


def _confidence(containment: float, names: bool, chance: float, distinct: int, floor: float):
    margin = (containment - floor) / (1 - floor) if floor < 1 else 1.0
    support = min(1.0, math.log10(1 + distinct) / 2)
    evidence = 1.0 if names else 0.0
    surprise = 1.0 - min(1.0, chance / CHANCE_LIMIT) if chance < CHANCE_LIMIT else 0.0
    value = 0.45 + 0.2 * margin + 0.2 * evidence + 0.1 * support + 0.05 * surprise
    return round(min(1.0, value), 4)


def _sketch(catalog: Catalog, info: CatalogColumn) -> pl.DataFrame:
    """A uniform sample of a column's distinct values: the SKETCH_SIZE smallest by hash (the
    same values for every comparison), so containment can be estimated in one join."""
    values = catalog.values(info)
    if values.height > SKETCH_SIZE:
        values = values.with_columns(h=pl.col("v").hash(seed=0)).bottom_k(SKETCH_SIZE, by="h")
    return values.select("v")


def _estimated_containment(catalog: Catalog, pairs: list[tuple[CatalogColumn, CatalogColumn]]):
    """Containment of A's sketch in B for many pairs at once: one join per value kind."""
    estimates: dict[tuple[int, int], float] = {}
    by_kind: dict[str, list[tuple[CatalogColumn, CatalogColumn]]] = {}
    for a, b in pairs:
        by_kind.setdefault(a.kind, []).append((a, b))
    for group in by_kind.values():
        sources = {id(a): a for a, _ in group}
        targets = {id(b): b for _, b in group}
        sketch = pl.concat(
            [_sketch(catalog, a).with_columns(a=pl.lit(key)) for key, a in sources.items()]
        )
        sizes = dict(sketch.group_by("a").len().iter_rows())
        keys = pl.concat(
            [catalog.values(b).with_columns(b=pl.lit(key)) for key, b in targets.items()]
        )
        wanted = pl.DataFrame(
            [(id(a), id(b)) for a, b in group], schema=["a", "b"], orient="row"
        ).with_columns(pl.all().cast(pl.Int64))
        hits = (
            sketch.join(keys, on="v")
            .join(wanted, on=["a", "b"], how="semi")
            .group_by("a", "b")
            .len()
        )
        for a_key, b_key, count in hits.iter_rows():
            estimates[(a_key, b_key)] = count / sizes[a_key]
    return estimates


def _containments(catalog: Catalog, pairs: list[tuple[CatalogColumn, CatalogColumn]], floor: float):
    """Exact containment of A in B for the pairs reaching `floor`: sketches first, then an
    exact semi-join only for the pairs whose estimate comes close."""
    estimates = _estimated_containment(catalog, pairs) if pairs else {}
    measured: dict[tuple[int, int], float] = {}
    for a, b in pairs:
        estimate = estimates.get((id(a), id(b)), 0.0)
        if estimate < floor - SKETCH_SLACK:
            continue
        if a.distinct > SKETCH_SIZE:  # the sketch was a sample: measure exactly
            hit = catalog.values(a).join(catalog.values(b), on="v", how="semi").height
            estimate = hit / a.distinct
        if estimate >= floor:
            measured[(id(a), id(b))] = estimate
    return measured


def names_agree(from_column: str, to_table: str, to_column: str) -> bool:
    """The strict name match that lets a key with orphans through (SPEC 4.9): the same
    non-generic name (`tailnum` -> `tailnum`), or the parent table's name plus the key's name
    (`customer_id` -> customers.id)."""
    x, y = _norm(from_column), _norm(to_column)
    if x == y:
        return x not in GENERIC_NAMES
    return any(x == stem + y for stem in _table_stems(to_table))


def _single_fks(
    catalog: Catalog, keys: dict[str, list[CatalogColumn]], floor: float, named_floor: float
):
    targets: list[CatalogColumn] = []
    for infos in keys.values():
        ranked = sorted(infos, key=lambda i: (_column_stem(i.column) == _norm(i.column),))
        targets += ranked[:MAX_TARGET_KEYS_PER_TABLE]
    pairs, named = [], []
    for b in targets:
        for a in catalog.columns.values():
            if a.kind != b.kind or (a.table == b.table and a.column == b.column):
                continue
            agree = named_floor < floor and names_agree(a.column, b.table, b.column)
            if not _overlaps(a, b, named_floor if agree else floor):
                continue
            if a.kind in ("date", "datetime") and not name_evidence(a.column, b.table, b.column):
                continue
            (named if agree else pairs).append((a, b))
    measured = _containments(catalog, pairs, floor)
    measured |= _containments(catalog, named, named_floor)
    pairs += named
    found: list[Candidate] = []
    for a, b in pairs:
        containment = measured.get((id(a), id(b)))
        if containment is None:
            continue
        names = name_evidence(a.column, b.table, b.column)
        chance = _chance_containment(catalog, a, b)
        if not names and chance >= CHANCE_LIMIT:
            continue
        found.append(Candidate(a, b, containment, names, chance))
    return _resolve(found)


def _resolve(found: list[Candidate]) -> list[Candidate]:
    """Keep one direction for mutual inclusions (both sides keys) and, per referencing column,
    drop candidates without name evidence when one has it."""
    by_pair = {(c.a.table, c.a.column, c.b.table, c.b.column): c for c in found}
    kept = []
    for c in found:
        reverse = by_pair.get((c.b.table, c.b.column, c.a.table, c.a.column))
        if reverse is not None:
            mine = (c.containment, c.names, c.b.rows, c.b.table)
            theirs = (reverse.containment, reverse.names, reverse.b.rows, reverse.b.table)
            if mine < theirs:
                continue
        kept.append(c)
    by_source: dict[tuple[str, str], list[Candidate]] = {}
    for c in kept:
        by_source.setdefault((c.a.table, c.a.column), []).append(c)
    result = []
    for group in by_source.values():
        if any(c.names for c in group):
            group = [c for c in group if c.names]
        result += group
    return result


def _pair_values(frame: pl.DataFrame, columns: list[str], kinds: list[str]) -> pl.DataFrame:
    return (
        frame.select(
            [
                _canonical(pl.col(c), k).alias(f"v{i}")
                for i, (c, k) in enumerate(zip(columns, kinds, strict=True))
            ]
        )
        .drop_nulls()
        .unique()
    )


def _composite_fks(catalog: Catalog, composite: dict[str, list[tuple[str, str]]], floor: float):
    rows = []
    for to_table, pairs in composite.items():
        for y1, y2 in pairs:
            b1, b2 = catalog.columns[(to_table, y1)], catalog.columns[(to_table, y2)]
            sources = [
                a
                for (t, _), a in catalog.columns.items()
                if t != to_table
                and a.kind
                and a.distinct >= 1
                and ((a.kind == "str" and (a.max_length or 0) <= MAX_KEY_LENGTH) or a.kind != "str")
            ]
            pairs = [
                (a, b)
                for b in (b1, b2)
                for a in sources
                if a.kind == b.kind and not (a.maximum < b.minimum or a.minimum > b.maximum)
            ]
            measured = _containments(catalog, pairs, floor)
            for from_table in catalog.tables:
                if from_table == to_table:
                    continue
                cols = [a for a in sources if a.table == from_table]
                first = [a for a in cols if (id(a), id(b1)) in measured]
                second = [a for a in cols if (id(a), id(b2)) in measured]
                options = [(x1, x2) for x1 in first for x2 in second if x1.column != x2.column]
                options.sort(
                    key=lambda p: (
                        -(
                            name_evidence(p[0].column, to_table, y1)
                            + name_evidence(p[1].column, to_table, y2)
                        )
                    )
                )
                for x1, x2 in options[:MAX_COMPOSITE_CANDIDATES]:
                    names = name_evidence(x1.column, to_table, y1) or name_evidence(
                        x2.column, to_table, y2
                    )
                    if not names and x1.kind != "str" and x2.kind != "str":
                        continue
                    a_frame = catalog.tables[from_table]
                    mine = _pair_values(a_frame, [x1.column, x2.column], [x1.kind, x2.kind])
                    theirs = _pair_values(catalog.tables[to_table], [y1, y2], [b1.kind, b2.kind])
                    if mine.height == 0:
                        continue
                    hit = mine.join(theirs, on=["v0", "v1"], how="semi").height
                    containment = hit / mine.height
                    if containment < floor:
                        continue
                    present = a_frame.select(
                        _canonical(pl.col(x1.column), x1.kind).alias("v0"),
                        _canonical(pl.col(x2.column), x2.kind).alias("v1"),
                    ).drop_nulls()
                    orphans = present.join(theirs, on=["v0", "v1"], how="anti").height
                    cardinality = "1:1" if mine.height == present.height else "N:1"
                    rows.append(
                        {
                            "from_table": from_table,
                            "from_columns": [x1.column, x2.column],
                            "to_table": to_table,
                            "to_columns": [y1, y2],
                            "containment": containment,
                            "orphans": orphans,
                            "cardinality": cardinality,
                            "confidence": _confidence(containment, names, 0.0, mine.height, floor),
                        }
                    )
                    break  # one composite reference per (table, key)
    return rows


KEY_SCHEMA = {"table": pl.String, "columns": pl.List(pl.String), "unique_fraction": pl.Float64}
REL_SCHEMA = {
    "from_table": pl.String,
    "from_columns": pl.List(pl.String),
    "to_table": pl.String,
    "to_columns": pl.List(pl.String),
    "containment": pl.Float64,
    "orphans": pl.Int64,
    "cardinality": pl.String,
    "confidence": pl.Float64,
    "table": pl.String,
    **FINDING_SCHEMA,
}


def _judged(row: dict, rows: int) -> dict:
    """A foreign key is a finding; its statement gives containment and orphans."""
    source = f"{row['from_table']}({', '.join(row['from_columns'])})"
    target = f"{row['to_table']}({', '.join(row['to_columns'])})"
    text = (
        f"`{source}` references `{target}` ({row['cardinality']}): {row['containment']:.1%} of "
        f"its values found"
    )
    if row["orphans"]:
        share = row["orphans"] / rows if rows else 0.0
        text += f", {row['orphans']:,} orphan rows ({share:.1%}) point nowhere"
    effect = row["confidence"] if not row["orphans"] else max(row["confidence"], 0.9)
    return (
        row | {"table": row["from_table"]} | verdict(None, text, effect, 1.0, row["from_columns"])
    )


def run(ctx: PhaseContext) -> PhaseResult:
    floor = float(ctx.option("fk_min_containment", 0.9))
    named_floor = float(ctx.option("fk_named_min_containment", NAMED_MIN_CONTAINMENT))
    catalog = Catalog(ctx.tables)
    keys = _single_keys(catalog)
    composite = {t: _composite_keys(catalog, t) for t in catalog.tables if not keys.get(t)}
    ctx.log(f"relationships: {sum(map(len, keys.values()))} single keys")

    singles = _single_fks(catalog, keys, floor, min(floor, named_floor))
    rel_rows = []
    for c in singles:
        a_frame = catalog.tables[c.a.table]
        present = a_frame.select(_canonical(pl.col(c.a.column), c.a.kind).alias("v")).drop_nulls()
        orphans = present.join(catalog.values(c.b), on="v", how="anti").height
        rel_rows.append(
            {
                "from_table": c.a.table,
                "from_columns": [c.a.column],
                "to_table": c.b.table,
                "to_columns": [c.b.column],
                "containment": c.containment,
                "orphans": orphans,
                "cardinality": "1:1" if c.a.distinct == present.height else "N:1",
                "confidence": _confidence(c.containment, c.names, c.chance, c.a.distinct, floor),
            }
        )
    targets = {t: p[:MAX_COMPOSITE_TARGETS] for t, p in composite.items() if p}
    rel_rows += _composite_fks(catalog, targets, floor)

    # bridge tables: two referencing columns that together identify a row
    by_table: dict[str, list[str]] = {}
    for row in rel_rows:
        if len(row["from_columns"]) == 1:
            by_table.setdefault(row["from_table"], []).append(row["from_columns"][0])
    for table, columns in by_table.items():
        frame = catalog.tables[table]
        for a, b in combinations(sorted(set(columns)), 2):
            pair = _in_table_order(frame, a, b)
            if pair not in composite.get(table, []) and _is_unique_pair(frame, a, b):
                composite.setdefault(table, []).append(pair)

    key_rows = [
        {"table": info.table, "columns": [info.column], "unique_fraction": 1.0}
        for infos in keys.values()
        for info in infos
    ] + [
        {"table": t, "columns": list(pair), "unique_fraction": 1.0}
        for t, pairs in composite.items()
        for pair in pairs
    ]
    key_frame = pl.DataFrame(key_rows, schema=KEY_SCHEMA).sort("table", maintain_order=True)
    rel_rows = [_judged(r, catalog.tables[r["from_table"]].height) for r in rel_rows]
    rel_frame = pl.DataFrame(rel_rows, schema=REL_SCHEMA).sort(
        ["from_table", "to_table"], maintain_order=True
    )
    return PhaseResult(
        tables={"candidate_keys": key_frame, "relationships": rel_frame},
        summary=_summary(key_frame, rel_frame, floor),
        figures={
            "candidate_keys": key_frame.height,
            "relationships": rel_frame.height,
            "orphan_rows": int(rel_frame["orphans"].sum()) if rel_frame.height else 0,
        },
    )


def _summary(keys: pl.DataFrame, rels: pl.DataFrame, floor: float) -> str:
    lines = [
        f"**{keys.height} candidate keys, {rels.height} foreign keys** "
        f"(containment of distinct values >= {floor:g}; `orphans` counts referencing rows "
        "whose value is missing from the referenced key).",
        "",
    ]
    if rels.height:
        lines += [
            "| from | to | containment | orphans | cardinality | confidence |",
            "|---|---|---|---|---|---|",
        ]
        for r in rels.head(30).iter_rows(named=True):
            lines.append(
                f"| {r['from_table']}({', '.join(r['from_columns'])}) "
                f"| {r['to_table']}({', '.join(r['to_columns'])}) | {r['containment']:.3f} "
                f"| {r['orphans']} | {r['cardinality']} | {r['confidence']:.2f} |"
            )
    return "\n".join(lines)


SPEC = PhaseSpec(
    name="relationships",
    sections=(
        Section("Candidate keys", "candidate_keys", ("table", "columns")),
        Section(
            "Relationships",
            "relationships",
            (
                "from_table",
                "from_columns",
                "to_table",
                "to_columns",
                "containment",
                "orphans",
                "cardinality",
                "confidence",
            ),
        ),
    ),
    needs=("typing",),
    findings=("relationships",),
    run=run,
    version="2",
    description="Candidate keys and foreign keys (inclusion dependencies) with containment, "
    "orphans, cardinality and confidence.",
)
