"""The ranked findings of a source: what a person should read first (issue 19).

Every phase marks the rows of its findings tables (`PhaseSpec.findings`) with `kept` and, when
kept, a plain `statement` with its numbers, an `effect` and a `coverage` (both 0..1). The report
ranks the kept rows of all phases by an interest score:

    score = weight(phase) * effect * (0.5 + 0.5 * coverage)

- effect: |r| or Cramér's V for correlations, eta (the square root of eta squared) for slices, the
  autocorrelation at the period for cycles, Kendall's |tau| for trends, the support of a
  dependency, a foreign key's confidence (at least 0.9 when it has orphans: a broken reference is
  worth reading), 0.5 plus the failing share for a failed check;
- coverage: the share of the table's rows the finding rests on;
- weight, the surprise against the columns' roles: effects in measures (cycles, slices,
  correlations) are what an analyst looks for (1.0, 0.95); trends 0.85; failed checks 0.8;
  dependencies between attributes 0.75; foreign keys are expected in a multi-table source (0.7).

At most `MAX_FINDINGS`; two findings about the same columns of the same table from the same phase
say the same thing, and only the higher-scored one is listed (a cycle's period is part of what it
says: a daily and a weekly cycle of one measure are two findings); so do a measure's daily,
weekly or yearly cycle and its slice by hour, weekday or month. A finding that reads the same but
for its table and numbers (the same association in `sales_q1` and `sales_q2`) is listed once,
with the other tables in `evidence.also_in` (not foreign keys: each referencing table is a
fact of its own).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import polars as pl

# Every row of a findings table says whether it is a finding (`kept`) or why not (`reason`); a kept
# row has a plain `statement` with its numbers, an `effect` and a `coverage` in 0..1 (the report's
# interest score is built from them) and `about`, the columns of `table` it is about.
FINDING_SCHEMA = {
    "kept": pl.Boolean,
    "reason": pl.String,
    "statement": pl.String,
    "effect": pl.Float64,
    "coverage": pl.Float64,
    "about": pl.List(pl.String),
}


def verdict(reason: str | None, statement: str, effect: float, coverage: float, about: list[str]):
    """The finding columns of one row: kept when there is no reason against it."""
    return {
        "kept": reason is None,
        "reason": reason,
        "statement": statement if reason is None else None,
        "effect": float(min(1.0, max(0.0, effect))),
        "coverage": float(min(1.0, max(0.0, coverage))),
        "about": about,
    }


MAX_FINDINGS = 25
WEIGHTS = {
    "business_cycles": 1.0,
    "slicing": 1.0,
    "correlations": 0.95,
    "temporal": 0.85,
    "validation": 0.8,
    "relationships": 0.7,
}
FD_WEIGHT = 0.75
EVIDENCE = (
    "method",
    "value",
    "n",
    "p_value",
    "ci_low",
    "ci_high",
    "support",
    "determinant_values",
    "eta_squared",
    "period",
    "unit",
    "methods",
    "spread",
    "strength",
    "peak_at",
    "peak_ratio",
    "containment",
    "orphans",
    "cardinality",
    "confidence",
    "failed",
    "trend",
    "trend_p_value",
)


def _weight(phase: str, table_name: str) -> float:
    if table_name == "functional_dependencies":
        return FD_WEIGHT
    return WEIGHTS.get(phase, 0.6)


def candidates(
    findings_tables: Mapping[str, Iterable[str]],
    load: Callable[[str, str], pl.DataFrame | None],
) -> list[dict[str, Any]]:
    """The kept rows of every phase's findings tables as unranked findings."""
    found = []
    for phase, names in findings_tables.items():
        for name in names:
            frame = load(phase, name)
            if frame is None or "kept" not in frame.columns:
                continue
            for row in frame.filter(pl.col("kept")).iter_rows(named=True):
                score = _weight(phase, name) * row["effect"] * (0.5 + 0.5 * row["coverage"])
                found.append(
                    {
                        "phase": phase,
                        "table": row.get("table"),
                        "columns": list(row.get("about") or []),
                        "statement": row["statement"],
                        "score": round(score, 4),
                        "evidence": {k: row[k] for k in EVIDENCE if row.get(k) is not None},
                        "_period": round(row["period"]) if row.get("period") else None,
                        "_part": _part(row),
                    }
                )
    return found


CYCLE_PARTS = {("hour", 24): "hour", ("day", 7): "weekday", ("month", 12): "month"}
SLICE_PARTS = {"hour": "hour", "weekday": "weekday", "dow": "weekday", "month": "month"}


def _part(row: Mapping[str, Any]) -> tuple | None:
    """(table, measure, calendar part) of a daily/weekly/yearly cycle or of a slice by hour,
    weekday or month: a measure's daily cycle and its slice by hour say the same thing."""
    if row.get("period") and row.get("measure"):
        part = CYCLE_PARTS.get((row.get("unit"), round(row["period"])))
        return (row.get("table"), row["measure"], part) if part else None
    if row.get("dimension") and row.get("measure"):
        part = SLICE_PARTS.get(row["dimension"].rsplit(".", 1)[-1].lower())
        return (row.get("table"), row["measure"], part) if part else None
    return None


def _shape(item: Mapping[str, Any]) -> tuple:
    """What a finding says without its table and numbers."""
    text = item["statement"]
    if item.get("table"):
        text = text.replace(str(item["table"]), "<table>")
    return (item["phase"], frozenset(item["columns"]), re.sub(r"-?[\d][\d.,]*", "#", text))


def derived_aliases(
    load: Callable[[str, str], pl.DataFrame | None],
) -> dict[tuple[str, str], str]:
    """(table, column) -> the column it is a linear function of (correlations says `derived`):
    what is said of `fare_eur` when it is `0.9 * fare` is said of `fare`."""
    frame = load("correlations", "correlations")
    if frame is None or "reason" not in frame.columns:
        return {}
    rows = frame.filter(pl.col("reason").str.starts_with("derived"))
    aliases: dict[tuple[str, str], str] = {}
    for table, a, b in rows.select("table", "column_a", "column_b").iter_rows():
        canonical = aliases.get((table, a), a)
        aliases.setdefault((table, b), canonical)
    return aliases


def rank(
    found: list[dict[str, Any]],
    limit: int = MAX_FINDINGS,
    aliases: Mapping[tuple[str, str], str] | None = None,
) -> list[dict[str, Any]]:
    """The best `limit` findings, one per thing said, numbered from 1; of findings that differ
    only by a derived column, the one about the original column is listed."""
    aliases = aliases or {}

    def canonical(table: Any, columns: Iterable[str]) -> list[str]:
        return [aliases.get((table, c), c) for c in columns]

    def order(item: dict[str, Any]) -> tuple:
        aliased = any((item["table"], c) in aliases for c in item["columns"])
        return (-item["score"], aliased, item["phase"], item["statement"])

    ranked, said, shapes = [], set(), {}
    for item in sorted(found, key=order):
        shape = _shape(item) if item["phase"] != "relationships" else None  # each is its own
        if shape in shapes:  # the same finding in a table of the same shape (sales_q1, sales_q2)
            shapes[shape]["evidence"].setdefault("also_in", []).append(item["table"])
            continue
        columns = frozenset(canonical(item["table"], item["columns"]))
        key = (item["phase"], item["table"], columns, item.pop("_period"))
        part = item.pop("_part")
        if part is not None:
            part = (part[0], aliases.get((part[0], part[1]), part[1]), part[2])
        if key in said or (part is not None and part in said):
            continue
        said.update({key, part} - {None})
        ranked.append({"rank": len(ranked) + 1, **item})
        if shape is not None:
            shapes[shape] = ranked[-1]
        if len(ranked) == limit:
            break
    return ranked
