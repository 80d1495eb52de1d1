"""The analysis report of a source: one JSON document (the contract of issue 7), rendered as
Markdown for people and as a self-contained HTML page.

Everything comes from the stored result tables; phases that failed, or could not run because a
phase they need failed, contribute nothing and are listed with the dependents they blocked.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import polars as pl

from dat_pipeline.analysis.findings import (
    FINDING_SCHEMA,
    MAX_FINDINGS,
    candidates,
    derived_aliases,
    rank,
)
from dat_pipeline.analysis.phase import Section
from dat_pipeline.analysis.runner import ANALYSIS_DIR, AnalysisRunner, PhaseState
from dat_pipeline.cleaning.rules import ROW_NUMBER
from dat_pipeline.files import write_text_atomic

REPORT_FORMATS = ("md", "html", "json")
# Phases whose stored results the report uses: current ones, and stale ones (source or code
# changed since; the phase table says so) rather than nothing.
_USABLE = ("ok", "stale")
_EMPTY_TOPOLOGY = {
    "components": [],
    "fact_tables": [],
    "dimension_tables": [],
    "shape": "none",
    "cycles": [],
}


def _clean(value: Any) -> Any:
    """JSON-safe values: NaN/inf as null, dates as ISO text, nested containers cleaned."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def _json_field(value: Any, default: Any) -> Any:
    """A result column holding JSON text, parsed (the default when null or not JSON)."""
    if value is None:
        return default
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return default


class _Results:
    """Usable result tables of a source's phases, by phase and table name."""

    def __init__(self, runner: AnalysisRunner, source: str, states: Sequence[PhaseState]):
        self.runner = runner
        self.source = source
        self.usable = {s.phase for s in states if s.state in _USABLE}

    def table(self, phase: str, name: str) -> pl.DataFrame | None:
        if phase not in self.usable:
            return None
        result = self.runner.load_result(self.source, phase)
        if result is None or name not in result.tables:
            return None
        return result.tables[name]

    def rows(self, phase: str, name: str, fields: Sequence[str] = ()) -> list[dict[str, Any]]:
        frame = self.table(phase, name)
        if frame is None:
            return []
        rows = frame.to_dicts()
        if fields:
            rows = [{f: row.get(f) for f in fields} | row for row in rows]
        return [_clean(row) for row in rows]

    def kept(
        self, phase: str, name: str, fields: Sequence[str] = (), every: bool = False
    ) -> list[dict[str, Any]]:
        """The rows of a findings table that are findings (the complete table stays in the
        phase's Parquet artifact, every row with `kept` and `reason`), with their statement;
        `every`: all rows (validation lists its passing checks too)."""
        rows = self.rows(phase, name)
        if rows and "kept" not in rows[0]:
            return self.rows(phase, name, fields)
        picked = [row for row in rows if every or row.get("kept")]
        drop = set(FINDING_SCHEMA) - {"statement"}
        picked = [{k: v for k, v in row.items() if k not in drop} for row in picked]
        if fields:
            picked = [{f: row.get(f) for f in fields} | row for row in picked]
        return picked


def _index(rows: Iterable[dict[str, Any]], *keys: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(row.get(k) for k in keys): row for row in rows}


def _merge_reasons(*groups: Any) -> list[str]:
    reasons: list[str] = []
    for group in groups:
        if group is None:
            continue
        items = [group] if isinstance(group, str) else list(group)
        for item in items:
            if item and item not in reasons:
                reasons.append(str(item))
    return reasons


def _table_entries(results: _Results) -> list[dict[str, Any]]:
    imported = [
        row
        for row in results.rows("import", "tables")
        if row.get("status") != "unreadable" and row.get("table")
    ]
    stats_tables = _index(results.rows("statistics", "tables"), "table")
    table_quality = _index(results.rows("statistical_quality", "table_quality"), "table")
    entropy_tables = _index(results.rows("entropy", "tables"), "table")
    typing_columns = results.rows("typing", "columns")
    statistics = _index(results.rows("statistics", "columns"), "table", "column")
    semantic = _index(results.rows("semantic", "semantic"), "table", "column")
    column_quality = _index(
        results.rows("statistical_quality", "column_quality"), "table", "column"
    )
    entropy = _index(results.rows("entropy", "columns"), "table", "column")

    names = [row["table"] for row in imported] or sorted(
        {row["table"] for row in typing_columns if row.get("table")}
    )
    rows_by_table = {row["table"]: row.get("rows") for row in imported}
    entries = []
    for name in names:
        columns_of_table = [row for row in typing_columns if row.get("table") == name]
        if not columns_of_table:
            columns_of_table = [{"table": name, "column": c} for c in _raw_columns(results, name)]
        columns = []
        for typed in columns_of_table:
            column = typed.get("column")
            if column == ROW_NUMBER:
                continue
            key = (name, column)
            stats = statistics.get(key, {})
            sem = semantic.get(key, {})
            quality = column_quality.get(key, {})
            ent = entropy.get(key, {})
            columns.append(
                {
                    "name": column,
                    "type": typed.get("type"),
                    "type_confidence": typed.get("confidence"),
                    "null_fraction": stats.get("null_fraction"),
                    "distinct": stats.get("distinct"),
                    "semantic_type": sem.get("semantic_type"),
                    "role": sem.get("role"),
                    "role_evidence": sem.get("role_evidence"),
                    "quality_score": quality.get("score"),
                    "entropy": ent.get("entropy"),
                    "readiness": ent.get("readiness"),
                    "reasons": _merge_reasons(
                        ent.get("reasons"), quality.get("reasons"), typed.get("reason")
                    ),
                    "date_format": typed.get("date_format"),
                    "semantic_confidence": sem.get("confidence"),
                    "semantic_evidence": sem.get("evidence"),
                }
            )
        quality = table_quality.get((name,), {})
        ent = entropy_tables.get((name,), {})
        rows = stats_tables.get((name,), {}).get("rows", rows_by_table.get(name))
        entries.append(
            {
                "name": name,
                "rows": rows,
                "quality_score": quality.get("score"),
                "readiness": ent.get("readiness"),
                "reasons": _merge_reasons(ent.get("reasons"), quality.get("reasons")),
                "columns": columns,
            }
        )
    return entries


def _raw_columns(results: _Results, table: str) -> list[str]:
    if "import" not in results.usable:
        return []
    path = results.runner.phase_dir(results.source, "import") / f"raw__{table}.parquet"
    if not path.is_file():
        return []
    return [c for c in pl.read_parquet_schema(path) if c != ROW_NUMBER]


def _topology(results: _Results) -> dict[str, Any]:
    rows = results.rows("topology", "topology")
    if not rows:
        return dict(_EMPTY_TOPOLOGY)
    row = rows[0]
    topology = {
        key: _json_field(row.get(key), default)
        for key, default in _EMPTY_TOPOLOGY.items()
        if key != "shape"
    }
    topology["shape"] = row.get("shape") or "none"
    topology["roles"] = results.rows("topology", "roles")
    return topology


def _phase_entries(runner: AnalysisRunner, states: Sequence[PhaseState]) -> list[dict[str, Any]]:
    by_phase = {s.phase: s for s in states}
    entries = []
    for state in states:
        blocked = [
            d for d in runner.graph.descendants(state.phase) if by_phase[d].state == "blocked"
        ]
        entries.append(
            {
                "phase": state.phase,
                "state": state.state,
                "duration_s": state.duration_s,
                "data_version": state.fingerprint,
                "finished_at": state.finished_at,
                "error": state.error,
                "blocked_by": list(state.blocked_by),
                "blocks": blocked if state.state == "failed" else [],
            }
        )
    return entries


def _temporal_rows(results: _Results, fields: Sequence[str]) -> list[dict[str, Any]]:
    """Every time column (not only those with a trend finding); `reason` says why a column has
    no granularity or trend, `trend_statement` is the finding when there is one."""
    rows = []
    for row in results.rows("temporal", "temporal", fields):
        note, statement = row.pop("note", None), row.pop("statement", None)
        for key in ("kept", "effect", "coverage", "about"):
            row.pop(key, None)
        rows.append(row | {"reason": note, "trend_statement": statement})
    return rows


def build_report(runner: AnalysisRunner, source_name: str) -> dict[str, Any]:
    """The JSON report of a source (issue 7 item 5: keep the names; fields may be added)."""
    states = runner.states(source_name)
    results = _Results(runner, source_name, states)
    phases = _phase_entries(runner, states)
    summaries = {}
    for state in states:
        if state.state in _USABLE:
            meta = runner.read_meta(source_name, state.phase)
            summaries[state.phase] = meta.summary if meta else ""
    correlations = [
        {
            "table": row.get("table"),
            "columns": [row.get("column_a"), row.get("column_b")],
            "method": row.get("method"),
            "value": row.get("value"),
            "n": row.get("n"),
            "p_value": row.get("p_value"),
            "ci": [row.get("ci_low"), row.get("ci_high")],
            "statement": row.get("statement"),
        }
        for row in results.kept("correlations", "correlations")
    ]
    slices = [
        {**row, "slices": _json_field(row.get("slices"), [])}
        for row in results.kept("slicing", "slices")
    ]
    findings_tables = {name: spec.findings for name, spec in runner.graph.specs.items()}
    found = candidates(findings_tables, results.table)
    findings = rank(found, aliases=derived_aliases(results.table))
    validation = [
        {**row, "examples": _json_field(row.get("examples"), [])}
        for row in results.kept("validation", "checks", every=True)
    ]
    report = {
        "source": source_name,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "findings": findings,
        "roles": results.rows("semantic", "semantic", ("table", "column", "role", "role_evidence")),
        "tables": _table_entries(results),
        "candidate_keys": results.rows("relationships", "candidate_keys", ("table", "columns")),
        "relationships": results.kept(
            "relationships", "relationships", _section_fields("relationships")
        ),
        "correlations": correlations,
        "functional_dependencies": results.kept(
            "correlations",
            "functional_dependencies",
            ("table", "determinant", "dependent", "support", "statement"),
        ),
        "temporal": _temporal_rows(results, _section_fields("temporal")),
        "cycles": results.kept(
            "business_cycles",
            "cycles",
            (
                "table",
                "measure",
                "time_column",
                "period",
                "unit",
                "strength",
                "method",
                "methods",
                "spread",
                "p_value",
                "statement",
            ),
        ),
        "turning_points": results.rows(
            "business_cycles", "turning_points", ("table", "measure", "kind", "at")
        ),
        "slices": slices,
        "topology": _topology(results),
        "quality": {
            "benford": results.rows(
                "statistical_quality", "benford", ("table", "column", "n", "mad", "conformity")
            ),
            "outliers": results.rows(
                "statistical_quality", "outliers", ("table", "column", "method", "count")
            ),
        },
        "validation": validation,
        "phases": phases,
        "failed_phases": [
            {"phase": p["phase"], "error": p["error"], "blocked": p["blocks"]}
            for p in phases
            if p["state"] == "failed"
        ],
        "unreadable": [
            {"path": row.get("path"), "reason": row.get("reason")}
            for row in results.rows("import", "tables")
            if row.get("status") == "unreadable"
        ],
        "summaries": summaries,
    }
    return _clean(report)


# -- Markdown and HTML -----------------------------------------------------------------------
def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, list | dict):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    text = " ".join(text.split())
    if len(text) > 120:
        text = text[:117] + "..."
    return text.replace("|", "\\|")


def _md_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], limit: int = 50) -> str:
    if not rows:
        return "_none_"
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"\n_{len(rows) - limit} more rows in the JSON report._")
    return "\n".join(lines)


def _pick(rows: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> list[list[Any]]:
    return [[row.get(f) for f in fields] for row in rows]


def _findings_markdown(findings: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = ["## Findings", ""]
    if not findings:
        return [*lines, "_No finding: nothing stood out._", ""]
    for item in findings:
        where = f"`{item['table']}`, " if item.get("table") else ""
        also = (item.get("evidence") or {}).get("also_in")
        if also:
            where = f"`{item['table']}` and {', '.join(f'`{t}`' for t in also)}, "
        lines.append(
            f"{item['rank']}. {item['statement']} ({where}{item['phase']}, score "
            f"{item['score']:.2f})"
        )
    lines += [
        "",
        f"_At most {MAX_FINDINGS}, ranked by score = weight of the kind of finding x effect x "
        "(0.5 + 0.5 x share of rows it rests on); every computation, kept or not and why, stays "
        "in the phases' result tables._",
        "",
    ]
    return lines


def _path(report: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value: Any = report
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return list(value or [])


def _section_fields(key: str) -> tuple[str, ...]:
    """The fields of the report table `key`, as its phase's spec declares them (one list for the
    JSON report and the Markdown table)."""
    from dat_pipeline.analysis.graph import default_graph

    return next(
        section.fields
        for spec in default_graph().specs.values()
        for section in spec.sections
        if section.key == key
    )


def render_markdown(report: Mapping[str, Any], sections: Sequence[Section] = ()) -> str:
    """A report a person can read, from the JSON report; `sections` (the phases' report tables,
    default: those of the registered phases) follow the findings and the tables."""
    if not sections:
        from dat_pipeline.analysis.graph import default_graph

        sections = [s for spec in default_graph().specs.values() for s in spec.sections]
    out: list[str] = [
        f"# Analysis of `{report['source']}`",
        "",
        f"Generated {report.get('generated_at', '')}.",
        "",
        "## Phases",
        "",
        _md_table(
            ["phase", "state", "duration s", "data version", "note"],
            [
                [
                    p["phase"],
                    p["state"],
                    p["duration_s"],
                    (p["data_version"] or "")[:12],
                    p["error"]
                    or (f"blocked by {', '.join(p['blocked_by'])}" if p["blocked_by"] else ""),
                ]
                for p in report.get("phases", [])
            ],
        ),
    ]
    out[4:4] = _findings_markdown(report.get("findings") or [])
    for failed in report.get("failed_phases", []):
        blocked = ", ".join(failed["blocked"]) or "nothing"
        out += ["", f"**{failed['phase']} failed**: {failed['error']}. It blocked: {blocked}."]
    for item in report.get("unreadable", []):
        out += ["", f"Not imported: `{item['path']}`: {item['reason']}"]

    out += ["", "## Tables", ""]
    out.append(
        _md_table(
            ["table", "rows", "columns", "quality", "readiness", "reasons"],
            [
                [
                    t["name"],
                    t["rows"],
                    len(t["columns"]),
                    t["quality_score"],
                    t["readiness"],
                    "; ".join(t["reasons"]),
                ]
                for t in report.get("tables", [])
            ],
        )
    )
    for table in report.get("tables", []):
        out += ["", f"### `{table['name']}`", ""]
        out.append(
            _md_table(
                [
                    "column",
                    "type",
                    "confidence",
                    "nulls",
                    "distinct",
                    "semantic",
                    "role",
                    "quality",
                    "entropy",
                    "readiness",
                    "reasons",
                ],
                [
                    [
                        c["name"],
                        c["type"],
                        c["type_confidence"],
                        c["null_fraction"],
                        c["distinct"],
                        c["semantic_type"],
                        c["role"],
                        c["quality_score"],
                        c["entropy"],
                        c["readiness"],
                        "; ".join(c["reasons"]),
                    ]
                    for c in table["columns"]
                ],
                limit=200,
            )
        )

    for spec in sections:
        rows = _path(report, spec.key)
        out += ["", f"## {spec.title}", "", _md_table(spec.fields, _pick(rows, spec.fields))]

    topology = report.get("topology") or _EMPTY_TOPOLOGY
    out += [
        "",
        "## Topology",
        "",
        f"- shape: **{topology.get('shape')}**",
        f"- fact tables: {', '.join(topology.get('fact_tables') or []) or 'none'}",
        f"- dimension tables: {', '.join(topology.get('dimension_tables') or []) or 'none'}",
        f"- components: {json.dumps(topology.get('components') or [])}",
        f"- cycles: {json.dumps(topology.get('cycles') or [])}",
    ]
    summaries = report.get("summaries") or {}
    if summaries:
        out += ["", "## Phase summaries"]
        for phase, summary in summaries.items():
            if summary:
                out += ["", f"### {phase}", "", summary.strip()]
    return "\n".join(out) + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1200px;
padding:0 1rem;color:#1f2328}
table{border-collapse:collapse;margin:.5rem 0;font-size:.85rem}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}
code{background:#f6f8fa;padding:0 .2rem}
h1,h2,h3{border-bottom:1px solid #eaecef;padding-bottom:.2rem}
"""


def render_html(markdown: str, title: str) -> str:
    """The Markdown report as one self-contained HTML page (no scripts, no external files)."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n"
        f"<body>\n{body}</body></html>\n"
    )


def render_report(runner: AnalysisRunner, source_name: str, fmt: str = "md") -> str:
    """The report as text: JSON, Markdown or a self-contained HTML page."""
    if fmt not in REPORT_FORMATS:
        raise ValueError(f"report format {fmt!r} is not one of {REPORT_FORMATS}")
    report = build_report(runner, source_name)
    if fmt == "json":
        return json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n"
    text = render_markdown(report)
    return render_html(text, f"Analysis of {source_name}") if fmt == "html" else text


def write_report(runner: AnalysisRunner, source_name: str, fmt: str = "md") -> Path:
    """Write `<data root>/analysis/<source>/report.<fmt>` atomically; returns its path."""
    text = render_report(runner, source_name, fmt)
    target = runner.data_root / ANALYSIS_DIR / source_name / f"report.{fmt}"
    write_text_atomic(target, text)
    return target
