"""Typing phase: infer the narrowest type of every raw text column and cast it, vectorized.

Inference runs on a row sample turned into one long (column, value) frame, so every candidate
parser is one Polars expression over all columns at once (a 2,000-column table costs the same
handful of expressions as a 2-column one). The chosen parser is then applied to the whole column
in one `select`; values that fail to parse become null and are listed in `quarantine`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from dat_pipeline.analysis.phase import PhaseContext, PhaseResult, PhaseSpec

NULL_TOKENS = ["", "NA", "N/A", "null", "NULL", "None", "NaN", "-"]
TYPES = ("boolean", "integer", "decimal", "float", "date", "datetime", "time", "string")
TRUE_TOKENS = ["true", "yes", "y", "t"]
FALSE_TOKENS = ["false", "no", "n", "f"]
ROW_NUMBER = "_row_number"
# Values longer than this cannot be a number, date or time; parsers skip them (1 MB texts stay cheap).
MAX_PARSE_BYTES = 64
MAX_LONG_ROWS = 2_000_000
MAX_SAMPLE_ROWS = 100_000

_US_NUMBER = r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$|^[+-]?\.\d+$|^[+-]?\d+(\.\d+)?[eE][+-]?\d+$"
_EU_NUMBER = r"^[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$"
_US_INTEGER = r"^[+-]?(\d{1,3}(,\d{3})+|\d+)$"
_EU_INTEGER = r"^[+-]?(\d{1,3}(\.\d{3})+|\d+)$"
_SPACE_GROUPED = r"^[+-]?\d{1,3}([ \x{00a0}\x{202f}']\d{3})+([.,]\d+)?$"
_CURRENCY_SYMBOLS = r"[€$£¥]"
_CURRENCY_MARK = r"[€$£¥]|^[A-Z]{3}\s+[+-]?[\d(.]|[\d)]\s+[A-Z]{3}$"
_DMY_PREFIX = r"^(\d{1,2})[/.-](\d{1,2})[/.-]\d{4}"

ISO_DATE_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%d %b %Y", "%b %d, %Y", "%d %B %Y", "%B %d, %Y"]
DMY_DATE_FORMATS = ["%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y"]
MDY_DATE_FORMATS = ["%m/%d/%Y", "%m-%d-%Y"]
ISO_DATETIME_FORMATS = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S"]
ISO_DATETIME_TZ_FORMAT = "%Y-%m-%d %H:%M:%S%.f%z"
DMY_DATETIME_FORMATS = ["%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d.%m.%Y %H:%M:%S"]
MDY_DATETIME_FORMATS = ["%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M"]
TIME_FORMATS = ["%H:%M:%S%.f", "%H:%M"]


@dataclass
class ColumnPlan:
    """What inference decided for one column (used to build its full-column cast)."""

    type: str = "string"
    style: str = "us"  # number style: "us" (1,234.5) or "eu" (1.234,5)
    order: str = "dmy"  # day/month order for slash dates
    money: bool = False
    date_format: str | None = None
    reasons: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Expressions (all take a normalized text expression: stripped, null tokens already null)


def normalize(raw: pl.Expr) -> pl.Expr:
    stripped = raw.str.strip_chars()
    return pl.when(stripped.is_in(NULL_TOKENS)).then(None).otherwise(stripped)


def _short(value: pl.Expr) -> pl.Expr:
    return pl.when(value.str.len_bytes() <= MAX_PARSE_BYTES).then(value)


def _number_core(value: pl.Expr) -> pl.Expr:
    """Strip currency signs/codes, percent, accounting parentheses and space grouping."""
    core = (
        value.str.replace_all(_CURRENCY_SYMBOLS, "")
        .str.replace(r"^[A-Z]{3}\s+", "")
        .str.replace(r"\s+[A-Z]{3}$", "")
        .str.replace(r"%$", "")
        .str.strip_chars()
        .str.replace(r"^\((.+)\)$", "-${1}")
        .str.replace(r"^([+-])\s+", "${1}")
    )
    return (
        pl.when(core.str.contains(_SPACE_GROUPED))
        .then(core.str.replace_all(r"[ \x{00a0}\x{202f}']", ""))
        .otherwise(core)
    )


def _percent_scale(value: pl.Expr) -> pl.Expr:
    return pl.when(value.str.ends_with("%")).then(0.01).otherwise(1.0)


def _number(value: pl.Expr, style: str) -> pl.Expr:
    """Float64 value of a formatted number in the given style, null when it does not parse."""
    core = _number_core(_short(value))
    if style == "eu":
        ok = core.str.contains(_EU_NUMBER)
        text = core.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
    else:
        ok = core.str.contains(_US_NUMBER) & ~core.str.contains(r"^[+-]?\d{16,}$")
        text = core.str.replace_all(",", "", literal=True)
    parsed = text.cast(pl.Float64, strict=False) * _percent_scale(value)
    return pl.when(ok).then(parsed)


def _integer(value: pl.Expr, style: str) -> pl.Expr:
    short = _short(value)
    core = short.str.replace_all(r"[ \x{00a0}\x{202f}']", "")
    if style == "eu":
        ok = core.str.contains(_EU_INTEGER)
        text = core.str.replace_all(".", "", literal=True)
    else:
        ok = core.str.contains(_US_INTEGER)
        text = core.str.replace_all(",", "", literal=True)
    grouped_ok = short.str.contains(_SPACE_GROUPED) | ~short.str.contains(r"[\s'\x{00a0}\x{202f}]")
    return pl.when(ok & grouped_ok).then(text.cast(pl.Int64, strict=False))


def _boolean(value: pl.Expr) -> pl.Expr:
    lower = _short(value).str.to_lowercase()
    return (
        pl.when(lower.is_in(TRUE_TOKENS))
        .then(True)
        .when(lower.is_in(FALSE_TOKENS))
        .then(False)
        .otherwise(None)
    )


def _date_formats(order: str) -> list[str]:
    return ISO_DATE_FORMATS + (DMY_DATE_FORMATS if order == "dmy" else MDY_DATE_FORMATS)


def _date(value: pl.Expr, formats: list[str]) -> pl.Expr:
    short = _short(value)
    return pl.coalesce([short.str.to_date(fmt, strict=False) for fmt in formats])


def _datetime_text(value: pl.Expr) -> pl.Expr:
    return (
        _short(value)
        .str.replace(r"^(\d{4}-\d{2}-\d{2})T", "${1} ")
        .str.replace(r"(\d)\s*[Zz]$", "${1}")
    )


def _datetime(value: pl.Expr, order: str) -> pl.Expr:
    text = _datetime_text(value)
    slash = DMY_DATETIME_FORMATS if order == "dmy" else MDY_DATETIME_FORMATS
    parsers = [
        text.str.to_datetime(fmt, strict=False, time_unit="us")
        for fmt in ISO_DATETIME_FORMATS + slash
    ]
    parsers.append(
        text.str.to_datetime(ISO_DATETIME_TZ_FORMAT, strict=False, time_unit="us")
        .dt.convert_time_zone("UTC")
        .dt.replace_time_zone(None)
    )
    parsers.append(_date(value, _date_formats(order)).cast(pl.Datetime("us")))
    return pl.coalesce(parsers)


def _time(value: pl.Expr) -> pl.Expr:
    short = _short(value)
    return pl.coalesce([short.str.to_time(fmt, strict=False) for fmt in TIME_FORMATS])


def typed_expr(raw: pl.Expr, plan: ColumnPlan) -> pl.Expr:
    """The full-column cast for a plan (raw text in, typed values out, failures null)."""
    value = normalize(raw)
    if plan.type == "boolean":
        return _boolean(value)
    if plan.type == "integer":
        return _integer(value, plan.style)
    if plan.type in ("decimal", "float"):
        return _number(value, plan.style)
    if plan.type == "date":
        return _date(value, _date_formats(plan.order))
    if plan.type == "datetime":
        return _datetime(value, plan.order)
    if plan.type == "time":
        return _time(value)
    return pl.when(raw.str.strip_chars().is_in(NULL_TOKENS)).then(None).otherwise(raw)


# ---------------------------------------------------------------------------------------------
# Inference on a sample


def _candidate_flags(value: pl.Expr) -> dict[str, pl.Expr]:
    """Per value booleans (and two ints) whose per-column sums drive the type decision."""
    short = _short(value)
    core = _number_core(short)
    flags: dict[str, pl.Expr] = {
        "nonnull": value.is_not_null(),
        "boolean": _boolean(value).is_not_null(),
        "int_us": _integer(value, "us").is_not_null(),
        "int_eu": _integer(value, "eu").is_not_null(),
        "num_us": _number(value, "us").is_not_null(),
        "num_eu": _number(value, "eu").is_not_null(),
        "us_only": core.str.contains(_US_NUMBER) & ~core.str.contains(_EU_NUMBER),
        "eu_only": core.str.contains(_EU_NUMBER) & ~core.str.contains(_US_NUMBER),
        "currency": short.str.contains(_CURRENCY_MARK),
        "percent": short.str.contains(r"\d\s*%$"),
        "grouped": short.str.contains(r"\d[,. \x{00a0}\x{202f}']\d{3}([.,]|$)"),
        "leading_zero": short.str.contains(r"^[+-]?0\d+$"),
        "dd_evidence": short.str.extract(_DMY_PREFIX, 1).cast(pl.Int32, strict=False) > 12,
        "mm_evidence": short.str.extract(_DMY_PREFIX, 2).cast(pl.Int32, strict=False) > 12,
        "datetime_dmy": _datetime(value, "dmy").is_not_null(),
        "datetime_mdy": _datetime(value, "mdy").is_not_null(),
        "time": _time(value).is_not_null(),
    }
    for fmt in ISO_DATE_FORMATS + DMY_DATE_FORMATS + MDY_DATE_FORMATS:
        flags[f"date:{fmt}"] = short.str.to_date(fmt, strict=False).is_not_null()
    text = _datetime_text(value)
    for fmt in ISO_DATETIME_FORMATS + DMY_DATETIME_FORMATS + MDY_DATETIME_FORMATS:
        flags[f"datetime:{fmt}"] = text.str.to_datetime(fmt, strict=False).is_not_null()
    flags[f"datetime:{ISO_DATETIME_TZ_FORMAT}"] = text.str.to_datetime(
        ISO_DATETIME_TZ_FORMAT, strict=False, time_unit="us"
    ).is_not_null()
    return flags


def _sample_counts(raw: pl.DataFrame, columns: list[str]) -> dict[str, dict[str, int]]:
    if not columns or raw.height == 0:
        return {}
    rows = max(1_000, min(MAX_SAMPLE_ROWS, MAX_LONG_ROWS // len(columns)))
    sample = raw.sample(n=rows, seed=0) if raw.height > rows else raw
    long = sample.select(columns).unpivot(variable_name="column", value_name="raw")
    value = normalize(pl.col("raw"))
    flags = _candidate_flags(value)
    counted = long.select(
        "column", *[flag.fill_null(False).alias(name) for name, flag in flags.items()]
    )
    sums = counted.group_by("column").agg([pl.col(name).sum() for name in flags])
    return {row["column"]: row for row in sums.iter_rows(named=True)}


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _pick_in_family(shares: dict[str, float], threshold: float) -> str | None:
    """Narrowest type of a family reaching the threshold among those parsing the most values."""
    best = max(shares.values())
    if best < threshold:
        return None
    return next(kind for kind, share in shares.items() if share >= best - 1e-12)


def plan_column(counts: dict[str, int], threshold: float) -> ColumnPlan:
    """Decide type, number style and date order for one column from its sample counts."""
    plan = ColumnPlan()
    nonnull = counts["nonnull"]
    if nonnull == 0:
        plan.reasons.append("all values are null")
        return plan
    plan.style = "eu" if counts["eu_only"] > counts["us_only"] else "us"
    plan.money = counts["currency"] >= 0.5 * nonnull
    dd, mm = counts["dd_evidence"], counts["mm_evidence"]
    dmy_count = sum(counts[f"date:{fmt}"] for fmt in DMY_DATE_FORMATS) + counts["datetime_dmy"]
    mdy_count = sum(counts[f"date:{fmt}"] for fmt in MDY_DATE_FORMATS) + counts["datetime_mdy"]
    order_reason = None
    if dd and not mm:
        plan.order = "dmy"
        order_reason = "day/month order from values with a first part > 12"
    elif mm and not dd:
        plan.order = "mdy"
        order_reason = "month/day order from values with a second part > 12"
    elif dd and mm:
        plan.order = "dmy" if dmy_count >= mdy_count else "mdy"
        order_reason = "values disagree on day/month order; the majority order was kept"
    elif dmy_count:
        plan.order = "dmy"
        order_reason = "ambiguous day/month order (no part > 12): assumed dd/mm/yyyy"

    share = {
        "boolean": _share(counts["boolean"], nonnull),
        "integer": _share(counts[f"int_{plan.style}"], nonnull),
        "decimal": _share(counts[f"num_{plan.style}"], nonnull) if plan.money else 0.0,
        "float": _share(counts[f"num_{plan.style}"], nonnull),
    }
    date_fmts = _date_formats(plan.order)
    share["date"] = _share(sum(counts[f"date:{fmt}"] for fmt in date_fmts), nonnull)
    share["datetime"] = _share(counts[f"datetime_{plan.order}"], nonnull)
    share["time"] = _share(counts["time"], nonnull)

    chosen: str | None = "boolean" if share["boolean"] >= threshold else None
    if chosen is None:
        numeric = _pick_in_family({k: share[k] for k in ("integer", "decimal", "float")}, threshold)
        if numeric == "integer" and counts["leading_zero"] >= 0.005 * nonnull:
            plan.reasons.append("integers with leading zeros kept as text (codes)")
        else:
            chosen = numeric
    if chosen is None:
        chosen = _pick_in_family({k: share[k] for k in ("date", "datetime")}, threshold)
    if chosen is None and share["time"] >= threshold:
        chosen = "time"
    if chosen is None:
        plan.type = "string"
        if not plan.reasons:
            best = max((k for k in share), key=lambda k: share[k])
            if share[best] > 0:
                plan.reasons.append(
                    f"best candidate {best} parsed {share[best]:.1%} of sampled values "
                    f"(< {threshold:.0%})"
                )
        return plan

    plan.type = chosen
    if chosen in ("integer", "decimal", "float"):
        if plan.money:
            plan.reasons.append("money: currency signs/codes removed")
        if counts["percent"]:
            plan.reasons.append("percent: values with % divided by 100")
        if plan.style == "eu":
            plan.reasons.append("European number format (decimal comma, '.' or space grouping)")
        elif counts["grouped"]:
            plan.reasons.append("thousands separators removed")
    if chosen == "date":
        used = {fmt: counts[f"date:{fmt}"] for fmt in date_fmts if counts[f"date:{fmt}"]}
        _describe_formats(plan, used)
    elif chosen == "datetime":
        slash = DMY_DATETIME_FORMATS if plan.order == "dmy" else MDY_DATETIME_FORMATS
        fmts = [*ISO_DATETIME_FORMATS, *slash, ISO_DATETIME_TZ_FORMAT]
        used = {fmt: counts[f"datetime:{fmt}"] for fmt in fmts if counts[f"datetime:{fmt}"]}
        _describe_formats(plan, used)
        if counts[f"datetime:{ISO_DATETIME_TZ_FORMAT}"]:
            plan.reasons.append("UTC offsets converted to naive UTC")
    elif chosen == "time":
        plan.date_format = TIME_FORMATS[0] if counts["time"] else None
    if chosen in ("date", "datetime") and order_reason and (dmy_count or mdy_count):
        plan.reasons.append(order_reason)
    return plan


def _describe_formats(plan: ColumnPlan, used: dict[str, int]) -> None:
    if not used:
        return
    ranked = sorted(used.items(), key=lambda item: -item[1])
    plan.date_format = ranked[0][0]
    if len(ranked) > 1:
        total = sum(used.values())
        mix = ", ".join(f"{fmt} {count / total:.0%}" for fmt, count in ranked)
        plan.reasons.append(f"mixed formats: {mix}")


# ---------------------------------------------------------------------------------------------
# Whole tables

COLUMNS_SCHEMA = {
    "table": pl.String,
    "column": pl.String,
    "type": pl.String,
    "confidence": pl.Float64,
    "null_count": pl.Int64,
    "parsed": pl.Int64,
    "failed": pl.Int64,
    "date_format": pl.String,
    "reason": pl.String,
}
QUARANTINE_SCHEMA = {
    "table": pl.String,
    "column": pl.String,
    ROW_NUMBER: pl.Int64,
    "raw_value": pl.String,
}


def dtype_type(dtype: pl.DataType) -> str:
    """Our type name for a Polars dtype (for columns that arrive already typed)."""
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_integer():
        return "integer"
    if isinstance(dtype, pl.Decimal):
        return "decimal"
    if dtype.is_float():
        return "float"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if dtype == pl.Time:
        return "time"
    return "string"


def type_table(
    name: str, raw: pl.DataFrame, threshold: float
) -> tuple[pl.DataFrame, list[dict], pl.DataFrame]:
    """Typed frame, per-column rows for `columns`, and the quarantine rows of one table."""
    if ROW_NUMBER not in raw.columns:
        raw = raw.with_row_index(ROW_NUMBER, offset=1).with_columns(
            pl.col(ROW_NUMBER).cast(pl.Int64)
        )
    data_columns = [c for c in raw.columns if c != ROW_NUMBER]
    text_columns = [c for c in data_columns if raw.schema[c] == pl.String]
    counts = _sample_counts(raw, text_columns)
    plans = {c: plan_column(counts.get(c) or {"nonnull": 0}, threshold) for c in text_columns}

    typed = raw.select(
        pl.col(ROW_NUMBER),
        *[
            typed_expr(pl.col(c), plans[c]).alias(c) if c in plans else pl.col(c)
            for c in data_columns
        ],
    )
    alias = {c: f"__typed_{i}" for i, c in enumerate(text_columns)}
    both = raw.with_columns([typed[c].alias(alias[c]) for c in text_columns])
    stat_exprs = []
    for c in data_columns:
        if c in plans:
            present = normalize(pl.col(c)).is_not_null()
            stat_exprs += [
                (~present).sum().alias(f"{c}\x00null"),
                pl.col(alias[c]).is_not_null().sum().alias(f"{c}\x00parsed"),
            ]
        else:
            stat_exprs += [
                pl.col(c).null_count().alias(f"{c}\x00null"),
                pl.col(c).is_not_null().sum().alias(f"{c}\x00parsed"),
            ]
    stats = both.select(stat_exprs).row(0, named=True) if stat_exprs else {}

    rows, quarantined = [], []
    for c in data_columns:
        nulls = int(stats[f"{c}\x00null"] or 0)
        parsed = int(stats[f"{c}\x00parsed"] or 0)
        nonnull = raw.height - nulls
        failed = nonnull - parsed
        plan = plans.get(c)
        reasons = list(plan.reasons) if plan else ["typed by the source"]
        kind = plan.type if plan else dtype_type(raw.schema[c])
        if raw.height == 0:
            reasons = ["table is empty"]
        elif nonnull == 0 and "all values are null" not in reasons:
            reasons.append("all values are null")
        if failed:
            reasons.append(f"{failed} values did not parse as {kind} (quarantined)")
            quarantined.append(
                both.filter(present_expr(c) & pl.col(alias[c]).is_null()).select(
                    pl.lit(name).alias("table"),
                    pl.lit(c).alias("column"),
                    pl.col(ROW_NUMBER).cast(pl.Int64),
                    pl.col(c).alias("raw_value"),
                )
            )
        rows.append(
            {
                "table": name,
                "column": c,
                "type": kind,
                "confidence": parsed / nonnull if nonnull else None,
                "null_count": nulls,
                "parsed": parsed,
                "failed": failed,
                "date_format": plan.date_format if plan else None,
                "reason": "; ".join(reasons) or None,
            }
        )
    quarantine = pl.concat(quarantined) if quarantined else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    return typed, rows, quarantine


def present_expr(column: str) -> pl.Expr:
    return normalize(pl.col(column)).is_not_null()


def run(ctx: PhaseContext) -> PhaseResult:
    threshold = float(ctx.option("type_threshold", 0.95))
    tables: dict[str, pl.DataFrame] = {}
    rows: list[dict] = []
    quarantines: list[pl.DataFrame] = []
    for name, raw in ctx.tables.items():
        ctx.log(f"typing {name}: {raw.height} rows x {raw.width} columns")
        typed, column_rows, quarantine = type_table(name, raw, threshold)
        tables[f"typed__{name}"] = typed
        rows += column_rows
        quarantines.append(quarantine)
    columns = pl.DataFrame(rows, schema=COLUMNS_SCHEMA)
    quarantine = pl.concat(quarantines) if quarantines else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    counts = columns.group_by("type").len().sort("len", descending=True)
    typed_counts = ", ".join(f"{n} {t}" for t, n in counts.iter_rows()) or "none"
    low = columns.filter(pl.col("failed") > 0)
    summary = [
        f"Typed {columns.height} columns in {len(ctx.tables)} tables "
        f"(threshold {threshold:.0%}): {typed_counts}.",
        f"{quarantine.height} values quarantined in {low.height} columns.",
    ]
    if low.height:
        summary.append("")
        summary.append("| table | column | type | confidence | failed |")
        summary.append("|---|---|---|---|---|")
        for row in low.sort("failed", descending=True).head(20).iter_rows(named=True):
            summary.append(
                f"| {row['table']} | {row['column']} | {row['type']} | "
                f"{row['confidence']:.3f} | {row['failed']} |"
            )
    return PhaseResult(
        tables={"columns": columns, "quarantine": quarantine, **tables},
        summary="\n".join(summary),
        figures={
            "columns": columns.height,
            "quarantined_values": quarantine.height,
            "types": dict(counts.iter_rows()),
        },
    )


SPEC = PhaseSpec(
    name="typing",
    needs=("import",),
    run=run,
    version="1",
    description="Infer the narrowest type of every column, cast it and quarantine what fails.",
)
