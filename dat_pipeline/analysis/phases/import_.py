"""import: the source's tables as raw text with row numbers, and what could not be read.

The runner reads the files (phases do no I/O) and hands them over as `ctx.tables`; this phase
passes them on as `raw__<table>` and summarises them in `tables`. Files that no adapter can read
arrive as `ctx.options["_source_problems"]` and are listed with their reason, never fatal.
"""

from __future__ import annotations

import polars as pl

from dat_pipeline.analysis.inputs import data_columns
from dat_pipeline.analysis.phase import PhaseContext, PhaseResult, PhaseSpec
from dat_pipeline.cleaning.rules import ROW_NUMBER

RAW_PREFIX = "raw__"
TABLES_SCHEMA = {
    "table": pl.String,
    "path": pl.String,
    "source_table": pl.String,
    "rows": pl.Int64,
    "source_rows": pl.Int64,
    "columns": pl.Int64,
    "status": pl.String,
    "reason": pl.String,
}


def run(ctx: PhaseContext) -> PhaseResult:
    files: dict[str, dict[str, str]] = ctx.option("_source_refs", {})
    sampled: dict[str, int] = ctx.option("_source_sampled", {})
    rows: list[dict[str, object]] = []
    tables: dict[str, pl.DataFrame] = {}
    for name in sorted(ctx.tables):
        frame = ctx.tables[name]
        if ROW_NUMBER not in frame.columns:
            frame = frame.with_row_index(ROW_NUMBER).with_columns(pl.col(ROW_NUMBER).cast(pl.Int64))
        columns = data_columns(frame)
        text = frame.select(
            pl.col(ROW_NUMBER).cast(pl.Int64), *[pl.col(c).cast(pl.String) for c in columns]
        )
        tables[f"{RAW_PREFIX}{name}"] = text
        ref = files.get(name, {})
        status, reason = "ok", None
        if not columns:
            status, reason = "empty", "the table has no columns"
        elif text.height == 0:
            status, reason = "empty", "the table has a header but no data rows"
        elif name in sampled:
            reason = f"a bounded sample: the first {text.height:,} of {sampled[name]:,} rows"
        rows.append(
            {
                "table": name,
                "path": ref.get("path"),
                "source_table": ref.get("table"),
                "rows": text.height,
                "source_rows": sampled.get(name, text.height),
                "columns": len(columns),
                "status": status,
                "reason": reason,
            }
        )
    for problem in ctx.option("_source_problems", []):
        rows.append(
            {
                "table": None,
                "path": problem.get("path"),
                "source_table": problem.get("table"),
                "rows": None,
                "source_rows": None,
                "columns": None,
                "status": "unreadable",
                "reason": problem.get("reason"),
            }
        )
    summary_frame = pl.DataFrame(rows, schema=TABLES_SCHEMA)
    tables["tables"] = summary_frame
    readable = summary_frame.filter(pl.col("status") != "unreadable")
    total_rows = int(readable["rows"].sum() or 0)
    lines = [f"Imported **{readable.height}** tables, {total_rows:,} rows, every value as text."]
    for row in summary_frame.iter_rows(named=True):
        if row["status"] == "unreadable":
            lines.append(f"- `{row['path']}`: not imported: {row['reason']}")
        else:
            note = f" ({row['reason']})" if row["reason"] else ""
            lines.append(
                f"- `{row['table']}`: {row['rows']:,} rows x {row['columns']} columns{note}"
            )
    return PhaseResult(
        tables=tables,
        summary="\n".join(lines),
        figures={
            "tables": readable.height,
            "rows": total_rows,
            "unreadable": summary_frame.height - readable.height,
        },
    )


SPEC = PhaseSpec(
    name="import",
    needs=(),
    run=run,
    version="4",
    description="The source's tables as raw text with row numbers (`raw__<table>`), and a "
    "`tables` summary naming any file that could not be read and why.",
)
