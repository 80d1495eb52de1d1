"""Checks derived from what earlier phases learned, with failing counts and examples (SPEC 4).

- `email_format`: columns `semantic` types as email: non-null values not shaped `local@domain.tld`;
- `latitude_range` / `longitude_range`: semantic latitude / longitude values outside [-90, 90] /
  [-180, 180] (or not numeric);
- `key_unique`: candidate keys from `relationships` plus id-named columns `semantic` calls
  identifiers: rows that are null or repeat an earlier row's key (rows - distinct non-null keys);
- `foreign_key_resolves`: every relationship: referencing rows whose (non-null) value is missing
  from the referenced key;
- `date_not_future`: every date/datetime column: values after the `as_of` option (default: today;
  a datetime counts as future from the day after `as_of`).

`examples` is a JSON list of up to 5 `{"_row_number": n, "value": v}` objects.
"""

from __future__ import annotations

import datetime as dt
import json

import polars as pl

from dat_pipeline.analysis.findings import FINDING_SCHEMA, verdict
from dat_pipeline.analysis.phase import PhaseContext, PhaseResult, PhaseSpec, Section
from dat_pipeline.analysis.phases import temporal as tm
from dat_pipeline.analysis.phases.semantic import is_id_name
from dat_pipeline.cleaning.rules import ROW_NUMBER

EMAIL = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$"
EXAMPLES = 5
KEY_REPEAT_SHARE = 0.005  # a key meant to be unique breaks in a few rows, not in many
SCHEMA = {
    "check": pl.String,
    "table": pl.String,
    "column": pl.String,
    "failed": pl.Int64,
    "examples": pl.String,
    **FINDING_SCHEMA,
}
WORDS = {
    "email_format": "are not valid e-mail addresses",
    "latitude_range": "are not latitudes in -90..90",
    "longitude_range": "are not longitudes in -180..180",
    "key_unique": "are null or repeat another row's key",
    "date_not_future": "lie in the future",
}


def _examples(frame: pl.DataFrame, mask: pl.Expr, value: pl.Expr) -> tuple[int, str]:
    # The mask first (one boolean column), values only of the failing rows: no full-length
    # copy of the checked values on a 10M-row table.
    flags = frame.select(mask.fill_null(False).alias("m")).to_series()
    failed = int(flags.sum())
    if not failed:
        return 0, "[]"
    if ROW_NUMBER not in frame.columns:
        frame = frame.with_row_index(ROW_NUMBER).with_columns(pl.col(ROW_NUMBER).cast(pl.Int64))
    failing = frame.filter(flags).select(
        pl.col(ROW_NUMBER).alias("_row_number"), value.alias("value")
    )
    sample = failing.head(EXAMPLES).select(
        "_row_number", pl.col("value").cast(pl.String).str.slice(0, 200)
    )
    return failed, json.dumps(sample.to_dicts(), default=str)


def _row(check: str, table: str, column: str, failed: int, examples: str) -> dict:
    return {
        "check": check,
        "table": table,
        "column": column,
        "failed": failed,
        "examples": examples,
    }


def _semantic_columns(ctx: PhaseContext, kind: str, field: str = "semantic_type"):
    frame = ctx.upstream("semantic", "semantic")
    if frame is None or field not in frame.columns:
        return []
    pairs = frame.filter(pl.col(field) == kind).select("table", "column").iter_rows()
    return [(t, c) for t, c in pairs if t in ctx.tables and c in ctx.tables[t].columns]


def _email_checks(ctx: PhaseContext) -> list[dict]:
    rows = []
    for table, column in _semantic_columns(ctx, "email"):
        value = pl.col(column).cast(pl.String).str.strip_chars()
        mask = value.is_not_null() & ~value.str.contains(EMAIL)
        rows.append(_row("email_format", table, column, *_examples(ctx.tables[table], mask, value)))
    return rows


def _range_checks(ctx: PhaseContext) -> list[dict]:
    rows = []
    for kind, bound in (("latitude", 90.0), ("longitude", 180.0)):
        for table, column in _semantic_columns(ctx, kind):
            raw = pl.col(column)
            number = raw.cast(pl.Float64, strict=False)
            mask = raw.is_not_null() & (number.is_null() | (number.abs() > bound))
            frame = ctx.tables[table]
            rows.append(_row(f"{kind}_range", table, column, *_examples(frame, mask, raw)))
    return rows


def _key_checks(ctx: PhaseContext) -> list[dict]:
    keys: list[tuple[str, tuple[str, ...]]] = []
    candidate_keys = ctx.upstream("relationships", "candidate_keys")
    if candidate_keys is not None:
        for table, columns in candidate_keys.select("table", "columns").iter_rows():
            keys.append((table, tuple(columns)))
    # identifiers named like one are meant to be unique (`flights.flight`, a flight number, is not)
    keys += [
        (t, (c,)) for t, c in _semantic_columns(ctx, "identifier", field="role") if is_id_name(c)
    ]
    rows = []
    for table, columns in dict.fromkeys(keys):
        frame = ctx.tables.get(table)
        if frame is None or not set(columns) <= set(frame.columns) or frame.height == 0:
            continue
        cols = list(columns)
        value = pl.concat_str([pl.col(c).cast(pl.String) for c in cols], separator="|")
        any_null = pl.any_horizontal([pl.col(c).is_null() for c in cols])
        key = pl.col(cols[0]) if len(cols) == 1 else pl.struct(cols)
        repeated = ~key.is_first_distinct()  # a later occurrence of a value seen before
        mask = any_null | repeated
        rows.append(_row("key_unique", table, ", ".join(cols), *_examples(frame, mask, value)))
    return rows


def _fk_checks(ctx: PhaseContext) -> list[dict]:
    relationships = ctx.upstream("relationships", "relationships")
    if relationships is None:
        return []
    rows = []
    for r in relationships.iter_rows(named=True):
        source, target = ctx.tables.get(r["from_table"]), ctx.tables.get(r["to_table"])
        src_cols, dst_cols = list(r["from_columns"]), list(r["to_columns"])
        if source is None or target is None:
            continue
        if not set(src_cols) <= set(source.columns) or not set(dst_cols) <= set(target.columns):
            continue
        names = [f"k{i}" for i in range(len(src_cols))]
        wanted = target.select(
            [pl.col(c).cast(pl.String).alias(n) for c, n in zip(dst_cols, names, strict=True)]
        ).unique()
        keyed = source.select(
            pl.col(ROW_NUMBER)
            if ROW_NUMBER in source.columns
            else pl.int_range(pl.len()).alias(ROW_NUMBER),
            *[pl.col(c).cast(pl.String).alias(n) for c, n in zip(src_cols, names, strict=True)],
        ).drop_nulls(names)
        orphans = keyed.join(wanted, on=names, how="anti")
        value = pl.concat_str([pl.col(n) for n in names], separator="|")
        sample = (
            orphans.sort(ROW_NUMBER)
            .head(EXAMPLES)
            .select(pl.col(ROW_NUMBER).alias("_row_number"), value.alias("value"))
        )
        rows.append(
            _row(
                "foreign_key_resolves",
                r["from_table"],
                ", ".join(src_cols),
                orphans.height,
                json.dumps(sample.to_dicts(), default=str),
            )
        )
    return rows


def _future_checks(ctx: PhaseContext) -> list[dict]:
    as_of = tm.as_of_datetime(ctx.option("as_of", None))
    rows = []
    for table, frame in ctx.tables.items():
        for column in tm.time_columns(frame):
            if frame.schema[column] == pl.Date:
                mask = pl.col(column) > pl.lit(as_of.date())
            else:
                limit = as_of + dt.timedelta(days=1) if as_of.time() == dt.time() else as_of
                mask = tm.naive(pl.col(column), frame.schema[column]) >= pl.lit(limit)
            rows.append(
                _row("date_not_future", table, column, *_examples(frame, mask, pl.col(column)))
            )
    return rows


def run(ctx: PhaseContext) -> PhaseResult:
    rows = []
    for builder in (_email_checks, _range_checks, _key_checks, _fk_checks, _future_checks):
        rows += builder(ctx)
    heights = {t: f.height for t, f in ctx.tables.items()}
    checks = pl.DataFrame([_judged(r, heights.get(r["table"], 0)) for r in rows], schema=SCHEMA)
    failing = checks.filter(pl.col("failed") > 0)
    missing = [p for p in ("semantic", "relationships") if p not in ctx.results]
    return PhaseResult(
        tables={"checks": checks},
        summary=_summary(checks, failing, missing),
        figures={"checks": checks.height, "failing_checks": failing.height},
    )


def _judged(row: dict, height: int) -> dict:
    """A failing check is a finding, but for unresolved foreign keys (relationships says it)."""
    if not row["failed"]:
        reason = "passes"
    elif row["check"] == "foreign_key_resolves":
        reason = "reported by relationships as orphans"
    elif row["check"] == "key_unique" and row["failed"] > KEY_REPEAT_SHARE * height:
        reason = f"more than {KEY_REPEAT_SHARE:.1%} repeat: an identifier, not a broken key"
    else:
        reason = None
    share = row["failed"] / height if height else 0.0
    text = (
        f"{row['failed']:,} values ({share:.1%}) of `{row['table']}.{row['column']}` "
        f"{WORDS.get(row['check'], 'fail ' + row['check'])}"
    )
    about = [c.strip() for c in row["column"].split(",")]
    return row | verdict(reason, text, min(1.0, 0.5 + share), 1.0, about)


def _summary(checks: pl.DataFrame, failing: pl.DataFrame, missing: list[str]) -> str:
    lines = [f"**{checks.height} checks, {failing.height} failing.**"]
    if missing:
        lines.append(f"Results absent, their checks skipped: {', '.join(missing)}.")
    if failing.height:
        lines += ["", "| check | table | column | failed |", "|---|---|---|---|"]
        for r in failing.head(40).iter_rows(named=True):
            lines.append(f"| {r['check']} | {r['table']} | {r['column']} | {r['failed']} |")
    return "\n".join(lines)


SPEC = PhaseSpec(
    name="validation",
    sections=(
        Section(
            "Validation checks", "validation", ("check", "table", "column", "failed", "examples")
        ),
    ),
    needs=("semantic", "relationships"),
    findings=("checks",),
    checks={
        "derived_checks_pass": "Every check the validation phase derived (emails, ranges, keys, "
        "foreign keys, dates) passes."
    },
    run=run,
    version="2",
    description="Checks derived from the findings (emails, coordinates, unique keys, resolving "
    "foreign keys, no future dates) with failing counts and example rows.",
)
