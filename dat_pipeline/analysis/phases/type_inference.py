"""Typing phase: infer the narrowest type of every raw text column and cast it, vectorized.

Inference runs on a row sample turned into one long (column, value) frame, so every candidate
parser is one Polars expression over all columns at once (a 2,000-column table costs the same
handful of expressions as a 2-column one). The chosen parser is then applied to the whole column
in one `select`; values that fail to parse become null and are listed in `quarantine`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from dat_pipeline.analysis.inputs import data_columns
from dat_pipeline.analysis.phase import PhaseContext, PhaseResult, PhaseSpec
from dat_pipeline.cleaning.rules import ROW_NUMBER

NULL_TOKENS = ["", "NA", "N/A", "null", "NULL", "None", "NaN", "-"]
TRUE_TOKENS = ["true", "yes", "y", "t"]
FALSE_TOKENS = ["false", "no", "n", "f"]
# Values longer than this cannot be a number, date or time; parsers skip them (1 MB texts stay cheap).
MAX_PARSE_BYTES = 64
# A column holding a value this long is reported as long text (a reason, not an error).
LONG_TEXT_BYTES = 1_000
MAX_LONG_ROWS = 1_000_000
MAX_SAMPLE_ROWS = 50_000
BATCH_CELLS = 20_000_000

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
    plain: bool = True  # numbers carry no currency, percent or grouping: a plain cast suffices
    order: str = "dmy"  # day/month order for slash dates
    money: bool = False
    formats: list[str] = field(default_factory=list)  # date/time formats seen in the sample
    date_format: str | None = None
    reasons: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Parsers: each takes a normalized text expression (stripped, null tokens already null) and
# returns typed values, null where the value does not parse.


def normalize(raw: pl.Expr) -> pl.Expr:
    stripped = raw.str.strip_chars()
    return pl.when(stripped.is_in(NULL_TOKENS)).then(None).otherwise(stripped)


def _short(value: pl.Expr) -> pl.Expr:
    return pl.when(value.str.len_bytes() <= MAX_PARSE_BYTES).then(value)


def _number_core(value: pl.Expr) -> pl.Expr:
    """Strip currency signs/codes, percent, accounting parentheses (-> minus) and a sign's
    space; `_ungroup` then removes space grouping."""
    return (
        value.str.replace_all(r"[€$£¥%]", "")
        .str.replace_all(r"^[A-Z]{3}\s+|\s+[A-Z]{3}$", "")
        .str.strip_chars()
        .str.replace(r"^\((.+)\)$", "-${1}")
        .str.replace(r"^([+-])\s+", "${1}")
    )


def _ungroup(core: pl.Expr) -> pl.Expr:
    return (
        pl.when(core.str.contains(_SPACE_GROUPED))
        .then(core.str.replace_all(r"[ \x{00a0}\x{202f}']", ""))
        .otherwise(core)
    )


def _plain_number(short: pl.Expr) -> pl.Expr:
    value = short.cast(pl.Float64, strict=False)
    ok = (
        short.str.contains(r"^[+-]?\.?\d")
        & value.is_finite()
        & ~short.str.contains(r"^[+-]?\d{16,}$")  # long digit strings are identifiers
    )
    return pl.when(ok).then(value)


def _formatted_number(core: pl.Expr, scale: pl.Expr, style: str) -> pl.Expr:
    if style == "eu":
        ok = core.str.contains(_EU_NUMBER)
        text = core.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
    else:
        ok = core.str.contains(_US_NUMBER) & ~core.str.contains(r"^[+-]?\d{16,}$")
        text = core.str.replace_all(",", "", literal=True)
    return pl.when(ok).then(text.cast(pl.Float64, strict=False) * scale)


def _formatted_integer(core: pl.Expr, short: pl.Expr, style: str) -> pl.Expr:
    pattern, separator = (_EU_INTEGER, ".") if style == "eu" else (_US_INTEGER, ",")
    ok = core.str.contains(pattern) & ~short.str.contains(r"[€$£¥%]|[A-Z]{3}")
    return pl.when(ok).then(
        core.str.replace_all(separator, "", literal=True).cast(pl.Int64, strict=False)
    )


def _scale(short: pl.Expr) -> pl.Expr:
    return pl.when(short.str.ends_with("%")).then(0.01).otherwise(1.0)


def _number(value: pl.Expr, plan: ColumnPlan, core: pl.Expr | None = None) -> pl.Expr:
    short = _short(value)
    if plan.plain:
        return _plain_number(short)
    core = _ungroup(_number_core(short)) if core is None else core
    return _formatted_number(core, _scale(short), plan.style)


def _integer(value: pl.Expr, plan: ColumnPlan, core: pl.Expr | None = None) -> pl.Expr:
    short = _short(value)
    if plan.plain:
        return short.cast(pl.Int64, strict=False)
    core = _ungroup(_number_core(short)) if core is None else core
    return _formatted_integer(core, short, plan.style)


def _boolean(value: pl.Expr) -> pl.Expr:
    lower = _short(value).str.to_lowercase()
    return (
        pl.when(lower.is_in(TRUE_TOKENS))
        .then(True)
        .when(lower.is_in(FALSE_TOKENS))
        .then(False)
        .otherwise(None)
    )


def _datetime_text(short: pl.Expr) -> pl.Expr:
    return short.str.replace(r"^(\d{4}-\d{2}-\d{2})T", "${1} ").str.replace(r"(\d)\s*[Zz]$", "${1}")


def _parse_date(short: pl.Expr, fmt: str) -> pl.Expr:
    return short.str.to_date(fmt, strict=False)


def _parse_datetime(text: pl.Expr, fmt: str) -> pl.Expr:
    parsed = text.str.to_datetime(fmt, strict=False, time_unit="us")
    if fmt.endswith("%z"):
        return parsed.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return parsed


def _parse_time(short: pl.Expr, fmt: str) -> pl.Expr:
    return short.str.to_time(fmt, strict=False)


def _temporal(value: pl.Expr, plan: ColumnPlan) -> pl.Expr:
    """Coalesce of the formats seen in the sample (date, datetime or time)."""
    short = _short(value)
    parsers = []
    for fmt in plan.formats:
        kind, _, pattern = fmt.partition(":")
        if kind == "date" and plan.type == "date":
            parsers.append(_parse_date(short, pattern))
        elif kind == "date":
            parsers.append(_parse_date(short, pattern).cast(pl.Datetime("us")))
        elif kind == "datetime":
            parsers.append(_parse_datetime(_datetime_text(short), pattern))
        else:
            parsers.append(_parse_time(short, pattern))
    dtype = {"date": pl.Date, "datetime": pl.Datetime("us"), "time": pl.Time}[plan.type]
    return pl.coalesce(parsers) if parsers else pl.lit(None, dtype=dtype)


def typed_expr(
    raw: pl.Expr, plan: ColumnPlan, value: pl.Expr | None = None, core: pl.Expr | None = None
) -> pl.Expr:
    """The full-column cast for a plan (raw text in, typed values out, failures null).
    `value` (the normalized text) and `core` (the number core) may come precomputed."""
    value = normalize(raw) if value is None else value
    if plan.type == "boolean":
        return _boolean(value)
    if plan.type == "integer":
        return _integer(value, plan, core)
    if plan.type in ("decimal", "float"):
        return _number(value, plan, core)
    if plan.type in ("date", "datetime", "time"):
        return _temporal(value, plan)
    return pl.when(value.is_null()).then(None).otherwise(raw)


def needs_core(plan: ColumnPlan) -> bool:
    return plan.type in ("integer", "decimal", "float") and not plan.plain


# ---------------------------------------------------------------------------------------------
# Inference on a sample: one long (column, value) frame, cheap flags on every value and the
# costly parsers only on the values whose shape allows them.

_FORMATTED = r"[€$£¥%,()'\s\x{00a0}\x{202f}]|^[A-Z]{3}\s|\s[A-Z]{3}$"
_DATE_SHAPE = r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"
_NAMED_DATE_SHAPE = r"^\d{1,2} [A-Za-z]{3,9} \d{4}$|^[A-Za-z]{3,9} \d{1,2}, \d{4}$"
_TIME_SHAPE = r"^\d{1,2}:\d{2}"
_NUMERIC_DATE_FORMATS = [f for f in ISO_DATE_FORMATS if "%b" not in f and "%B" not in f]
_NAMED_DATE_FORMATS = [f for f in ISO_DATE_FORMATS if f not in _NUMERIC_DATE_FORMATS]
_ALL_DATETIME_FORMATS = [
    *ISO_DATETIME_FORMATS,
    *DMY_DATETIME_FORMATS,
    *MDY_DATETIME_FORMATS,
    ISO_DATETIME_TZ_FORMAT,
]


def _group_sums(frame: pl.DataFrame, flags: dict[str, pl.Expr]) -> dict[str, dict[str, int]]:
    if frame.height == 0:
        return {}
    counted = frame.select("column", *[f.fill_null(False).alias(k) for k, f in flags.items()])
    sums = counted.group_by("column").agg([pl.col(k).sum() for k in flags])
    return {row.pop("column"): row for row in sums.iter_rows(named=True)}


def _sample_counts(raw: pl.DataFrame, columns: list[str]) -> dict[str, dict[str, int]]:
    if not columns or raw.height == 0:
        return {}
    rows = max(1_000, min(MAX_SAMPLE_ROWS, MAX_LONG_ROWS // len(columns)))
    sample = raw.sample(n=rows, seed=0) if raw.height > rows else raw
    long = (
        sample.select(columns)
        .unpivot(variable_name="column", value_name="raw")
        .select("column", normalize(pl.col("raw")).alias("v"))
        .with_columns(_short(pl.col("v")).alias("s"))
    )
    s = pl.col("s")
    numeric_shape = s.str.contains(r"\d") & ~s.str.contains(r"[a-z]")
    formatted = numeric_shape & s.str.contains(_FORMATTED)
    plain_number = _plain_number(s).is_not_null()
    eu_plain = s.str.contains(_EU_INTEGER)
    counts = _group_sums(
        long,
        {
            "nonnull": pl.col("v").is_not_null(),
            "boolean": _boolean(s).is_not_null(),
            "plain_number": plain_number,
            "plain_integer": s.cast(pl.Int64, strict=False).is_not_null(),
            "eu_plain": eu_plain,
            "plain_us_only": plain_number & ~eu_plain,
            "formatted": formatted,
            "currency": s.str.contains(_CURRENCY_MARK),
            "percent": s.str.contains(r"\d\s*%$"),
            "grouped": s.str.contains(r"\d[,. \x{00a0}\x{202f}']\d{3}([.,]|$)"),
            "leading_zero": s.str.contains(r"^[+-]?0\d+$"),
            "dd_evidence": s.str.extract(_DMY_PREFIX, 1).cast(pl.Int32, strict=False) > 12,
            "mm_evidence": s.str.extract(_DMY_PREFIX, 2).cast(pl.Int32, strict=False) > 12,
        },
    )
    subsets: list[tuple[pl.Expr, dict[str, pl.Expr]]] = []
    core, scale = pl.col("core"), _scale(s)
    subsets.append(
        (
            formatted,
            {
                "fmt_int_us": _formatted_integer(core, s, "us").is_not_null(),
                "fmt_int_eu": _formatted_integer(core, s, "eu").is_not_null(),
                "fmt_num_us": _formatted_number(core, scale, "us").is_not_null(),
                "fmt_num_eu": _formatted_number(core, scale, "eu").is_not_null(),
                "fmt_us_only": core.str.contains(_US_NUMBER) & ~core.str.contains(_EU_NUMBER),
                "fmt_eu_only": core.str.contains(_EU_NUMBER) & ~core.str.contains(_US_NUMBER),
            },
        )
    )
    text = _datetime_text(s)
    date_flags = {
        f"date:{fmt}": _parse_date(s, fmt).is_not_null()
        for fmt in _NUMERIC_DATE_FORMATS + DMY_DATE_FORMATS + MDY_DATE_FORMATS
    }
    date_flags.update(
        {
            f"datetime:{fmt}": _parse_datetime(text, fmt).is_not_null()
            for fmt in _ALL_DATETIME_FORMATS
        }
    )
    subsets.append((s.str.contains(_DATE_SHAPE), date_flags))
    subsets.append(
        (
            s.str.contains(_NAMED_DATE_SHAPE),
            {f"date:{fmt}": _parse_date(s, fmt).is_not_null() for fmt in _NAMED_DATE_FORMATS},
        )
    )
    subsets.append(
        (
            s.str.contains(_TIME_SHAPE),
            {f"time:{fmt}": _parse_time(s, fmt).is_not_null() for fmt in TIME_FORMATS},
        )
    )
    for shape, flags in subsets:
        part = long.filter(shape.fill_null(False))
        if "fmt_int_us" in flags:
            part = part.with_columns(_number_core(s).alias("core")).with_columns(
                _ungroup(pl.col("core")).alias("core")
            )
        found = _group_sums(part, flags)
        for column, column_counts in counts.items():
            for key in flags:
                column_counts[key] = (found.get(column) or {}).get(key, 0)
    return counts


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _pick_in_family(shares: dict[str, float], threshold: float) -> str | None:
    """Narrowest type of a family reaching the threshold among those parsing the most values."""
    best = max(shares.values())
    if best < threshold:
        return None
    return next(kind for kind, share in shares.items() if share >= best - 1e-12)


def _day_month_order(plan: ColumnPlan, counts: dict[str, int]) -> str | None:
    dd, mm = counts["dd_evidence"], counts["mm_evidence"]
    dmy = sum(counts[f"date:{f}"] for f in DMY_DATE_FORMATS) + sum(
        counts[f"datetime:{f}"] for f in DMY_DATETIME_FORMATS
    )
    mdy = sum(counts[f"date:{f}"] for f in MDY_DATE_FORMATS) + sum(
        counts[f"datetime:{f}"] for f in MDY_DATETIME_FORMATS
    )
    if not (dmy or mdy):
        return None
    if dd and not mm:
        plan.order = "dmy"
        return "day/month order from values with a first part > 12"
    if mm and not dd:
        plan.order = "mdy"
        return "month/day order from values with a second part > 12"
    if dd and mm:
        plan.order = "dmy" if dmy >= mdy else "mdy"
        return "values disagree on day/month order; the majority order was kept"
    plan.order = "dmy"
    return "ambiguous day/month order (no part > 12): assumed dd/mm/yyyy (ISO first, then dd/mm)"


def plan_column(counts: dict[str, int], threshold: float) -> ColumnPlan:
    """Decide type, number style and date order for one column from its sample counts."""
    plan = ColumnPlan()
    nonnull = counts.get("nonnull", 0)
    if nonnull == 0:
        plan.reasons.append("all values are null")
        return plan
    us_only = counts["plain_us_only"] + counts["fmt_us_only"]
    eu_only = counts["fmt_eu_only"]
    plan.style = "eu" if eu_only > us_only else "us"
    plan.plain = counts["formatted"] == 0 and plan.style == "us"
    plan.money = counts["currency"] >= 0.5 * nonnull
    order_reason = _day_month_order(plan, counts)

    if plan.style == "eu":
        integers = counts["eu_plain"] + counts["fmt_int_eu"]
        numbers = counts["eu_plain"] + counts["fmt_num_eu"]
    else:
        integers = counts["plain_integer"] + counts["fmt_int_us"]
        numbers = counts["plain_number"] + counts["fmt_num_us"]
    date_formats = [
        f"date:{f}"
        for f in ISO_DATE_FORMATS + (DMY_DATE_FORMATS if plan.order == "dmy" else MDY_DATE_FORMATS)
    ]
    slash = DMY_DATETIME_FORMATS if plan.order == "dmy" else MDY_DATETIME_FORMATS
    datetime_formats = [
        f"datetime:{f}" for f in [*ISO_DATETIME_FORMATS, *slash, ISO_DATETIME_TZ_FORMAT]
    ]
    time_formats = [f"time:{f}" for f in TIME_FORMATS]
    dates = sum(counts[f] for f in date_formats)
    share = {
        "boolean": _share(counts["boolean"], nonnull),
        "integer": _share(integers, nonnull),
        "decimal": _share(numbers, nonnull) if plan.money else 0.0,
        "float": _share(numbers, nonnull),
        "date": _share(dates, nonnull),
        "datetime": _share(dates + sum(counts[f] for f in datetime_formats), nonnull),
        "time": _share(sum(counts[f] for f in time_formats), nonnull),
    }

    chosen: str | None = "boolean" if share["boolean"] >= threshold else None
    if chosen is None:
        numeric = _pick_in_family({k: share[k] for k in ("integer", "decimal", "float")}, threshold)
        if numeric == "integer" and counts["leading_zero"] >= 0.005 * nonnull:
            plan.reasons.append("integers with leading zeros kept as text (codes)")
        else:
            chosen = numeric
    if chosen is None and not plan.reasons:
        chosen = _pick_in_family({k: share[k] for k in ("date", "datetime")}, threshold)
        if chosen is None and share["time"] >= threshold:
            chosen = "time"
    if chosen is None:
        if not plan.reasons:
            best = max(share, key=lambda k: share[k])
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
    candidates = {
        "date": date_formats,
        "datetime": date_formats + datetime_formats,
        "time": time_formats,
    }.get(chosen, [])
    used = {f: counts[f] for f in candidates if counts[f]}
    plan.formats = sorted(used, key=lambda f: -used[f])
    if used:
        _describe_formats(plan, used)
    if chosen in ("date", "datetime") and order_reason:
        plan.reasons.append(order_reason)
    if any(f.endswith("%z") for f in plan.formats):
        plan.reasons.append("UTC offsets converted to naive UTC")
    return plan


def _describe_formats(plan: ColumnPlan, used: dict[str, int]) -> None:
    if not used:
        return
    ranked = sorted(used.items(), key=lambda item: -item[1])
    plan.date_format = ranked[0][0].partition(":")[2]
    if len(ranked) > 1:
        total = sum(used.values())
        mix = ", ".join(f"{fmt.partition(':')[2]} {count / total:.0%}" for fmt, count in ranked)
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
    schema = raw.schema  # building a Schema is costly on wide frames: once per table
    columns = data_columns(raw)
    text_columns = [c for c in columns if schema[c] == pl.String]
    counts = _sample_counts(raw, text_columns)
    plans = {c: plan_column(counts.get(c) or {"nonnull": 0}, threshold) for c in text_columns}

    typed_columns: dict[str, pl.Series] = {}
    stats: dict[str, int] = {}
    quarantined: list[pl.DataFrame] = []
    # Columns go in batches (about BATCH_CELLS cells) so the normalized copies stay small.
    batch = max(1, min(500, BATCH_CELLS // max(1, raw.height)))
    for start in range(0, len(columns), batch):
        part = columns[start : start + batch]
        typed_columns.update(_type_batch(name, raw, part, plans, stats, quarantined))
    typed = pl.DataFrame([raw[ROW_NUMBER], *[typed_columns[c] for c in columns]])

    rows = []
    for c in columns:
        nulls, parsed = stats[f"{c}\x00null"], stats[f"{c}\x00parsed"]
        nonnull = raw.height - nulls
        failed = nonnull - parsed
        plan = plans.get(c)
        reasons = list(plan.reasons) if plan else ["typed by the source"]
        kind = plan.type if plan else dtype_type(schema[c])
        if raw.height == 0:
            reasons = ["table is empty"]
        elif nonnull == 0 and "all values are null" not in reasons:
            reasons.append("all values are null")
        if failed:
            reasons.append(f"{failed} values did not parse as {kind} (quarantined)")
        longest = stats.get(f"{c}\x00bytes", 0)
        if longest > LONG_TEXT_BYTES:
            reasons.append(
                f"long text: values up to {longest:,} bytes (only values of at most "
                f"{MAX_PARSE_BYTES} bytes are parsed; reports show them cut)"
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


def _type_batch(
    name: str,
    raw: pl.DataFrame,
    columns: list[str],
    plans: dict[str, ColumnPlan],
    stats: dict[str, int],
    quarantined: list[pl.DataFrame],
) -> dict[str, pl.Series]:
    """Cast some columns in stages (normalized text, number core, typed value) so no costly
    sub-expression is evaluated twice; count nulls and parses; collect quarantined values."""
    text = [c for c in columns if c in plans]
    value = {c: f"__value_{i}" for i, c in enumerate(text)}
    core = {c: f"__core_{i}" for i, c in enumerate(text) if needs_core(plans[c])}
    typed = {c: f"__typed_{i}" for i, c in enumerate(text)}
    work = raw.select(ROW_NUMBER, *columns, *[normalize(pl.col(c)).alias(value[c]) for c in text])
    if core:
        work = work.with_columns(
            [_number_core(_short(pl.col(value[c]))).alias(core[c]) for c in core]
        ).with_columns([_ungroup(pl.col(core[c])).alias(core[c]) for c in core])
    work = work.with_columns(
        [
            typed_expr(
                pl.col(c), plans[c], pl.col(value[c]), pl.col(core[c]) if c in core else None
            ).alias(typed[c])
            for c in text
        ]
    )
    exprs = []
    for c in columns:
        present = pl.col(value[c]) if c in plans else pl.col(c)
        result = pl.col(typed[c]) if c in plans else pl.col(c)
        exprs += [
            present.null_count().alias(f"{c}\x00null"),
            result.is_not_null().sum().alias(f"{c}\x00parsed"),
        ]
        if c in plans:
            exprs.append(pl.col(c).str.len_bytes().max().alias(f"{c}\x00bytes"))
    stats.update({k: int(v or 0) for k, v in work.select(exprs).row(0, named=True).items()})
    for c in text:
        if raw.height - stats[f"{c}\x00null"] > stats[f"{c}\x00parsed"]:
            quarantined.append(
                work.filter(pl.col(value[c]).is_not_null() & pl.col(typed[c]).is_null()).select(
                    pl.lit(name).alias("table"),
                    pl.lit(c).alias("column"),
                    pl.col(ROW_NUMBER).cast(pl.Int64),
                    pl.col(c).alias("raw_value"),
                )
            )
    return {c: (work[typed[c]] if c in plans else work[c]).alias(c) for c in columns}


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
    version="2",
    description="Infer the narrowest type of every column, cast it and quarantine what fails.",
)
