"""Semantic phase: what each column means (email, country code, money, ...) and its role.

Rule-based and deterministic: value patterns are scored by the share of sampled non-null values
that match (all patterns of all columns of a table in one vectorized pass over a long
(column, value) frame), column-name hints raise confidence or are required where a pattern alone
is too weak (airport and ticker codes, latitude/longitude, digit-only postal codes).

Roles tell every later phase what a column is for (issue 19): `identifier` (a candidate key, a
near-unique integer or id-named column, or a column named after its table's rows such as
`flights.flight`), `foreign_key` (the referencing side of a relationship), `calendar_part` (an
integer equal to a part of a date column of the same table, or named and ranged like one),
`clock_time` (HHMM integers), `timestamp`, `measure` (other numbers), `dimension` (low-cardinality
categories), `free_text` and `attribute`. Each role comes with its evidence; the source option
`roles` ({"table.column": role}) overrides any of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from dat_pipeline.analysis.inputs import rows_by_column
from dat_pipeline.analysis.phase import PhaseContext, PhaseResult, PhaseSpec, Section
from dat_pipeline.analysis.phases.column_profiles import NUMERIC
from dat_pipeline.analysis.phases.iso_codes import COUNTRY_ALPHA2, COUNTRY_ALPHA3, CURRENCY_CODES
from dat_pipeline.cleaning.rules import ROW_NUMBER
from dat_pipeline.errors import DatError

SAMPLE_ROWS = 10_000
MAX_LONG_ROWS = 1_000_000
MAX_VALUE_BYTES = 256
PATTERN_MIN_SHARE = 0.8  # a pattern without a name hint must match this share of values
HINTED_MIN_SHARE = 0.5
CATEGORY_MAX_DISTINCT = 50
MIN_KEY_ROWS = 30  # uniqueness in fewer rows says little without an id-like name
NEAR_UNIQUE = 0.95  # an integer or id-named column this distinct identifies rows
MAX_TIME_COLUMNS = 5  # calendar parts are looked for in the first five date columns
PART_MIN_SHARE = 0.99  # a calendar part or clock time must hold on this share of sampled rows
ROLES = (
    "identifier",
    "foreign_key",
    "calendar_part",
    "clock_time",
    "timestamp",
    "measure",
    "dimension",
    "free_text",
    "attribute",
)
CALENDAR_PARTS = {
    "year": (1800, 2200),
    "quarter": (1, 4),
    "month": (1, 12),
    "week": (1, 53),
    "day": (1, 31),
    "weekday": (1, 7),
    "hour": (0, 23),
    "minute": (0, 59),
}
LONG_TEXT_LENGTH = 200  # mean characters above which a string column is text


_EMAIL = r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
_URL = r"(?i)^(https?|ftp)://[^\s/$.?#][^\s]*$|^www\.[^\s]+\.[a-z]{2,}\S*$"
_PHONE = r"^\+?\(?\d[\d\s().-]{5,22}\d$"
_PHONE_MARK = r"^\+|[\s().-]"
_DATE_SHAPE = r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}.*)?$|^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}$"
_IPV4 = r"^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$"
_H = "[0-9A-Fa-f]{1,4}"
_IPV6 = rf"^({_H}:){{7}}{_H}$|^(({_H}:){{0,6}}{_H})?::(({_H}:){{0,6}}{_H})?$"
_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_POSTAL_SPECIFIC = (
    r"^\d{5}-\d{4}$"  # US ZIP+4
    r"|^[A-Za-z]{1,2}\d[A-Za-z\d]? ?\d[A-Za-z]{2}$"  # UK
    r"|^[A-Za-z]\d[A-Za-z] ?\d[A-Za-z]\d$"  # Canada
    r"|^\d{4} ?[A-Za-z]{2}$"  # Netherlands
    r"|^\d{3}-\d{4}$"  # Japan
)
_POSTAL_DIGITS = r"^\d{4,6}$"
_MONEY = (
    r"^[+-]?[€$£¥]\s?[+-]?\d[\d,.' ]*$|^[+-]?\d[\d,.' ]*\s?[€$£¥]$"
    r"|^[A-Z]{3}\s[+-]?\d[\d,. ]*$|^[+-]?\d[\d,. ]*\s[A-Z]{3}$"
)
_PERCENT = r"^[+-]?\d+([.,]\d+)?\s?%$"

HINTS: dict[str, re.Pattern[str]] = {
    name: re.compile(rf"(^|_)({words})($|_)")
    for name, words in {
        "email": "e?mail|email_address|e_mail",
        "url": "url|link|website|homepage|href|uri|web|site",
        "phone": "phone|tel|telephone|mobile|fax|cell|phone_number",
        "ipv4": "ip|ip_address|ipaddr|ipv4|host",
        "ipv6": "ip|ip_address|ipaddr|ipv6",
        "uuid": "uuid|guid",
        "country_code": "country|nation|cntry|iso2|iso3|country_code|country_iso",
        "currency_code": "currency|ccy|curr|currency_code",
        "postal_code": "zip|zipcode|postal|postcode|postal_code|plz|cp",
        "latitude": "lat|latitude",
        "longitude": "lon|lng|long|longitude",
        "airport_code": "airport|iata|origin|dest|destination|departure|arrival|from|to",
        "ticker": "ticker|symbol|stock|sym",
        "date": "date|day|time|timestamp|datetime|created|updated|modified|at|on|dt",
        "money": "price|amount|amt|cost|revenue|sales|total|fee|salary|income|balance|payment|"
        "spend|usd|eur|gbp|paid|charge",
        "percentage": "pct|percent|percentage|rate|ratio|share",
        "identifier": "id|key|code|uuid|guid|ref|number|no|num|nr|sku",
    }.items()
}
# Types whose pattern is too weak alone: they need a name hint.
NEEDS_HINT = {
    "airport_code",
    "ticker",
    "latitude",
    "longitude",
    "postal_code_digits",
    "phone_digits",
}
PRIORITY = [
    "uuid",
    "email",
    "url",
    "ipv4",
    "ipv6",
    "currency_code",
    "country_code",
    "airport_code",
    "ticker",
    "postal_code",
    "phone",
    "latitude",
    "longitude",
    "money",
    "percentage",
    "date",
]


class AnalysisOptionError(DatError):
    """A source option the analysis cannot use; the message names the option and the fix."""


SEMANTIC_SCHEMA = {
    "table": pl.String,
    "column": pl.String,
    "semantic_type": pl.String,
    "confidence": pl.Float64,
    "evidence": pl.String,
    "role": pl.String,
    "role_evidence": pl.String,
}


def name_tokens(column: str) -> str:
    """Lowercase snake form of a column name: 'customerID' -> 'customer_id'."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", column)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", spaced)
    return re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_")


def hints_for(column: str) -> set[str]:
    tokens = name_tokens(column)
    return {name for name, pattern in HINTS.items() if pattern.search(tokens)}


def _flags(value: pl.Expr) -> dict[str, pl.Expr]:
    upper = value.str.to_uppercase()
    number = value.cast(pl.Float64, strict=False)
    digits = value.str.count_matches(r"\d")
    not_date = ~value.str.contains(_DATE_SHAPE)
    phone = value.str.contains(_PHONE) & digits.is_between(7, 15) & not_date
    return {
        "email": value.str.contains(_EMAIL),
        "url": value.str.contains(_URL),
        "phone": phone & value.str.contains(_PHONE_MARK),
        "phone_digits": phone,
        "ipv4": value.str.contains(_IPV4),
        "ipv6": value.str.contains(_IPV6) & value.str.contains(":"),
        "uuid": value.str.contains(_UUID),
        "country_code": (value.str.contains(r"^[A-Za-z]{2}$") & upper.is_in(list(COUNTRY_ALPHA2)))
        | (value.str.contains(r"^[A-Za-z]{3}$") & upper.is_in(list(COUNTRY_ALPHA3))),
        "currency_code": value.str.contains(r"^[A-Za-z]{3}$") & upper.is_in(list(CURRENCY_CODES)),
        "postal_code": value.str.contains(_POSTAL_SPECIFIC),
        "postal_code_digits": value.str.contains(_POSTAL_DIGITS),
        "latitude": number.is_between(-90, 90),
        "longitude": number.is_between(-180, 180),
        "airport_code": value.str.contains(r"^[A-Z]{3}$"),
        "ticker": value.str.contains(r"^[A-Z]{1,5}([.-][A-Z]{1,2})?$"),
        "date": value.str.contains(_DATE_SHAPE),
        "money": value.str.contains(_MONEY),
        "percentage": value.str.contains(_PERCENT),
        "has_space": value.str.contains(r"\s"),
    }


def pattern_shares(frame: pl.DataFrame, columns: list[str]) -> dict[str, dict[str, Any]]:
    """Per column: sampled non-null values `n` and the share matching each pattern."""
    if not columns or frame.height == 0:
        return {}
    rows = max(100, min(SAMPLE_ROWS, MAX_LONG_ROWS // len(columns)))
    sample = frame.sample(n=rows, seed=0) if frame.height > rows else frame
    text = sample.select([pl.col(c).cast(pl.String) for c in columns])
    long = (
        text.unpivot(variable_name="column", value_name="v")
        .drop_nulls("v")
        .with_columns(
            pl.when(pl.col("v").str.len_bytes() > MAX_VALUE_BYTES)
            .then(pl.lit(""))
            .otherwise(pl.col("v").str.strip_chars())
            .alias("v")
        )
    )
    flags = _flags(pl.col("v"))
    shares = long.group_by("column").agg(
        pl.len().alias("n"), *[f.fill_null(False).mean().alias(k) for k, f in flags.items()]
    )
    return {row.pop("column"): row for row in shares.iter_rows(named=True)}


def _pick_pattern(
    shares: dict[str, Any], hints: set[str], kind: str
) -> tuple[str | None, float, str | None]:
    """The best pattern type: (semantic type, confidence, evidence) or (None, 0, None)."""
    n = shares.get("n", 0)
    if not n:
        return None, 0.0, None
    candidates: list[tuple[float, int, str, float, str]] = []
    for rank, semantic in enumerate(PRIORITY):
        share = shares.get(semantic, 0.0) or 0.0
        hinted = semantic in hints
        if semantic == "postal_code" and hinted:
            share = max(share, shares.get("postal_code_digits", 0.0) or 0.0)
        if semantic == "phone" and hinted:
            share = max(share, shares.get("phone_digits", 0.0) or 0.0)
        if semantic in NEEDS_HINT and not hinted:
            continue
        if semantic in ("latitude", "longitude") and kind not in NUMERIC:
            continue
        if semantic == "date" and kind != "string":
            continue  # typed dates are handled from their type
        if semantic in ("money", "percentage") and kind != "string":
            continue  # typed money/percent are recognised from typing's reason
        needed = HINTED_MIN_SHARE if hinted else PATTERN_MIN_SHARE
        if share < needed:
            continue
        score = share + (0.2 if hinted else 0.0)
        evidence = f"{share:.1%} of {n:,} sampled values match the {semantic} pattern"
        if hinted:
            evidence += "; column name hints at it"
        candidates.append((-score, rank, semantic, share, evidence))
    if not candidates:
        return None, 0.0, None
    _, _, semantic, share, evidence = min(candidates)
    return semantic, share, evidence


def is_id_name(column: str) -> bool:
    tokens = name_tokens(column)
    return bool(re.search(r"(^|_)(id|key|uuid|guid|ref|sku|code|nr|no|num|number)$", tokens)) or (
        tokens.startswith("id_")
    )


def classify(
    stats: dict[str, Any],
    typing_row: dict[str, Any] | None,
    shares: dict[str, Any],
    rows: int,
) -> dict[str, Any]:
    """Semantic type, confidence, role and evidence of one column."""
    column, kind = stats["column"], stats["type"]
    count, distinct = stats["count"] or 0, stats["distinct"] or 0
    out = {"table": stats["table"], "column": column}
    if count == 0:
        reason = "table is empty" if rows == 0 else "all values are null"
        return {
            **out,
            "semantic_type": None,
            "confidence": 0.0,
            "evidence": reason,
        }
    hints = hints_for(column)
    reason = (typing_row or {}).get("reason") or ""
    type_confidence = (typing_row or {}).get("confidence")
    type_confidence = 1.0 if type_confidence is None else type_confidence
    unique = distinct == count and stats["null_count"] == 0 and rows > 1
    id_name = is_id_name(column)
    semantic, confidence, evidence = _pick_pattern(shares, hints, kind)
    mean_length = stats.get("mean_length")
    if kind == "string" and mean_length is not None and mean_length > LONG_TEXT_LENGTH:
        # Long values are prose or documents: never keys, categories or patterned values.
        semantic, confidence, unique, id_name = "text", 0.9, False, False
        evidence = (
            f"long text: values average {mean_length:,.0f} characters (up to "
            f"{stats.get('max_length') or 0:,}); not a key, category or pattern"
        )

    if semantic is None:
        if kind in ("date", "datetime"):
            semantic, confidence = "date", type_confidence
            evidence = f"typed {kind} ({type_confidence:.1%} of values parsed)"
        elif kind == "time":
            semantic, confidence = "time", type_confidence
            evidence = f"typed time ({type_confidence:.1%} of values parsed)"
        elif kind in NUMERIC and "money" in reason:
            semantic, confidence = "money", type_confidence
            evidence = f"values carry currency signs or codes ({type_confidence:.1%} parsed)"
        elif kind in NUMERIC and "percent" in reason:
            semantic, confidence = "percentage", type_confidence
            evidence = f"values carry a % sign ({type_confidence:.1%} parsed)"
        elif kind == "boolean":
            semantic, confidence, evidence = "boolean", type_confidence, "typed boolean"
        elif id_name or (unique and kind in ("integer", "string") and not shares.get("has_space")):
            semantic = "identifier"
            confidence = 0.9 if id_name and unique else 0.7 if id_name else 0.6
            evidence = ("name looks like an identifier" if id_name else "no name hint") + (
                f"; {'unique' if unique else f'{distinct:,} distinct of {count:,}'} values"
            )
        elif kind in NUMERIC and "money" in hints:
            semantic, confidence = "money", 0.6
            evidence = "numeric column whose name hints at an amount"
        elif kind in NUMERIC and "percentage" in hints and -1.5 <= _num(stats["min"]) <= 100:
            semantic, confidence = "percentage", 0.6
            evidence = "numeric column whose name hints at a rate or share"
        elif kind in NUMERIC:
            semantic, confidence, evidence = "number", type_confidence, f"typed {kind}"
        elif distinct <= CATEGORY_MAX_DISTINCT or distinct <= 0.05 * count:
            semantic = "category"
            confidence = 1.0 - distinct / count if count > 1 else 0.5
            evidence = f"{distinct:,} distinct values in {count:,}"
        else:
            semantic, confidence = "text", 0.5
            evidence = f"free text: {distinct:,} distinct values, mean length " + (
                f"{stats['mean_length']:.0f}" if stats.get("mean_length") is not None else "?"
            )

    return {
        **out,
        "semantic_type": semantic,
        "confidence": round(float(confidence), 4),
        "evidence": evidence,
    }


def _num(text: str | None) -> float:
    try:
        return float(text) if text is not None else float("nan")
    except ValueError:
        return float("nan")


# -- roles -----------------------------------------------------------------------------------
@dataclass
class TableFacts:
    """What the role of a column is decided from besides its own profile: the table's candidate
    keys and foreign keys (relationships), calendar parts and clock times found in the values."""

    table: str
    rows: int
    keys: set[str] = field(default_factory=set)
    references: dict[str, str] = field(default_factory=dict)
    calendar: dict[str, str] = field(default_factory=dict)
    clock: dict[str, str] = field(default_factory=dict)


def _entity_name(column: str, table: str) -> bool:
    """`flights.flight`, `orders.order_no`: the column names the entity the table holds."""
    tokens = name_tokens(column).split("_")
    stem = name_tokens(table).split("_")[-1]
    singular = stem[:-3] + "y" if stem.endswith("ies") else stem.rstrip("s")
    return (
        len(singular) >= 3
        and tokens[0] in (stem, singular)
        and (len(tokens) == 1 or tokens[-1] in ("no", "nr", "num", "number", "code", "id"))
    )


def role_of(stats: dict[str, Any], found: dict[str, Any], facts: TableFacts) -> tuple[str, str]:
    """The role of one column and the evidence for it (SPEC 4, issue 19)."""
    column, kind = stats["column"], stats["type"]
    count, distinct = stats["count"] or 0, stats["distinct"] or 0
    semantic = found.get("semantic_type")
    if count == 0:
        return "attribute", "no values"
    ratio = distinct / count if count else 0.0
    unique = distinct == count and stats["null_count"] == 0 and facts.rows > 1
    id_name = is_id_name(column)
    if kind in ("date", "datetime"):
        return "timestamp", f"typed {kind}"
    if kind == "time":
        return "clock_time", "typed time of day"
    if column in facts.calendar:
        return "calendar_part", facts.calendar[column]
    if column in facts.clock:
        return "clock_time", facts.clock[column]
    if semantic == "text":
        return "free_text", found.get("evidence") or "free text"
    keyable = kind in ("integer", "string")
    # without an id-like name, uniqueness alone says identifier only for a sequence-like integer
    # (1..n, not 40 distinct loyalty points) or a code column of a table big enough to tell
    sequence = kind == "integer" and _num(stats["max"]) - _num(stats["min"]) + 1 <= 1.5 * distinct
    code = semantic in ("identifier", "uuid", "email") and facts.rows >= MIN_KEY_ROWS
    id_like = id_name or sequence or (code and kind == "string")
    if keyable and column in facts.keys and id_like:
        return "identifier", "unique and non-null (a candidate key)" + (
            "; name looks like an identifier" if id_name else ""
        )
    if column in facts.references:
        return "foreign_key", f"references {facts.references[column]}"
    if keyable and (unique or ratio >= NEAR_UNIQUE) and (id_name or sequence):
        return "identifier", f"{ratio:.1%} of {count:,} values distinct" + (
            "; name looks like an identifier" if id_name else "; a sequence of integers"
        )
    if keyable and _entity_name(column, facts.table) and distinct > CATEGORY_MAX_DISTINCT:
        return "identifier", f"named after its table's rows ({distinct:,} distinct values)"
    if keyable and (id_name or semantic in ("identifier", "uuid")):
        if unique:
            return "identifier", "unique, non-null and identifier-like"
        return "foreign_key", "identifier-like name but repeated values (references no key found)"
    if kind in NUMERIC and semantic not in ("latitude", "longitude", "postal_code", "phone"):
        return "measure", f"numeric ({kind}), not an identifier, calendar part or clock time"
    if kind == "boolean" or (
        kind == "string" and (distinct <= CATEGORY_MAX_DISTINCT or distinct <= 0.05 * count)
    ):
        return "dimension", f"low cardinality ({distinct:,} values)"
    if semantic in ("country_code", "currency_code", "category"):
        return "dimension", f"{semantic} ({distinct:,} values)"
    return "attribute", "descriptive values" + (" (unique)" if unique else "")


_CALENDAR_NAME = re.compile(
    r"(^|_)(?P<part>year|yr|quarter|qtr|month|week|day|weekday|dow|hour|minute)$"
)
_PART_ALIASES = {"yr": "year", "qtr": "quarter", "dow": "weekday"}


def _part_expr(stamp: pl.Expr, part: str) -> pl.Expr:
    return {
        "year": stamp.dt.year(),
        "quarter": stamp.dt.quarter(),
        "month": stamp.dt.month(),
        "week": stamp.dt.week(),
        "day": stamp.dt.day(),
        "weekday": stamp.dt.weekday(),
        "hour": stamp.dt.hour(),
        "minute": stamp.dt.minute(),
    }[part]


def _table_facts(
    name: str,
    frame: pl.DataFrame,
    stats: pl.DataFrame,
    relationships: Any,
) -> TableFacts:
    """Keys and references from `relationships`; calendar parts (an integer column equal to a part
    of a date column of the same table on a sample, or named and ranged like one) and HHMM clock
    times (integers 0..2359 whose last two digits stay below 60) from the values."""
    facts = TableFacts(name, frame.height)
    if relationships is not None:
        keys = relationships.tables.get("candidate_keys")
        if keys is not None:
            for table, columns in keys.select("table", "columns").iter_rows():
                if table == name and len(columns) == 1:
                    facts.keys.add(columns[0])
        rels = relationships.tables.get("relationships")
        if rels is not None:
            for row in rels.filter(pl.col("from_table") == name).iter_rows(named=True):
                if len(row["from_columns"]) == 1:
                    facts.references[row["from_columns"][0]] = (
                        f"{row['to_table']}.{row['to_columns'][0]} "
                        f"(containment {row['containment']:.2f})"
                    )
    schema = frame.schema
    stamps = [c for c, t in schema.items() if t == pl.Date or isinstance(t, pl.Datetime)]
    integers = []
    for row in stats.iter_rows(named=True):
        c = row["column"]
        if c in schema and schema[c].is_integer() and row["count"]:
            integers.append((c, _num(row["min"]), _num(row["max"]), row["distinct"] or 0))
    if not integers:
        return facts
    sample = frame.sample(n=SAMPLE_ROWS, seed=0) if frame.height > SAMPLE_ROWS else frame
    exprs = []
    stamps = stamps[:MAX_TIME_COLUMNS]
    for c, lo, hi, _ in integers:
        parts = [part for part, (p_lo, p_hi) in CALENDAR_PARTS.items() if p_lo <= lo and hi <= p_hi]
        for stamp in stamps if parts else ():
            date_only = schema[stamp] == pl.Date
            for part in parts:
                if date_only and part in ("hour", "minute"):
                    continue
                both = pl.col(c).is_not_null() & pl.col(stamp).is_not_null()
                equal = (pl.col(c) == _part_expr(pl.col(stamp), part)).filter(both)
                exprs.append(equal.mean().alias(f"{c}\x00{stamp}\x00{part}"))
        if lo >= 0 and hi <= 2359 and hi >= 100:
            hhmm = ((pl.col(c) % 100) < 60).filter(pl.col(c).is_not_null())
            exprs.append(hhmm.mean().alias(f"{c}\x00\x00clock"))
    shares = sample.select(exprs).row(0, named=True) if exprs else {}
    for key, share in shares.items():
        c, stamp, part = key.split("\x00")
        if share is None or share < PART_MIN_SHARE or c in facts.calendar:
            continue
        if part == "clock":
            continue
        facts.calendar[c] = f"equals the {part} of {stamp} on {share:.1%} of sampled rows"
    for c, lo, hi, distinct in integers:
        if c in facts.calendar:
            continue
        share = shares.get(f"{c}\x00\x00clock")
        match = _CALENDAR_NAME.search(name_tokens(c))
        if match:
            part = _PART_ALIASES.get(match["part"], match["part"])
            p_lo, p_hi = CALENDAR_PARTS[part]
            if p_lo <= lo and hi <= p_hi:
                facts.calendar[c] = f"named like a {part} and within {p_lo}..{p_hi}"
                continue
        if share is not None and share >= PART_MIN_SHARE and distinct >= 30:
            facts.clock[c] = (
                f"HHMM clock time: integers {lo:.0f}..{hi:.0f}, last two digits below 60 on "
                f"{share:.1%} of sampled rows"
            )
    return facts


def _overrides(ctx: PhaseContext) -> dict[str, str]:
    """The source option `roles`: {"table.column" or "column": role}."""
    overrides = ctx.option("roles", {}) or {}
    if not isinstance(overrides, dict):
        raise AnalysisOptionError(
            f"option roles must map 'table.column' to a role, got {type(overrides).__name__}"
        )
    for target, role in overrides.items():
        if role not in ROLES:
            raise AnalysisOptionError(
                f"option roles: {target!r} -> {role!r} is not a role; use one of {', '.join(ROLES)}"
            )
    return overrides


def run(ctx: PhaseContext) -> PhaseResult:
    statistics = ctx.result("statistics").tables["columns"]
    typing_columns = ctx.upstream("typing", "columns")
    relationships = ctx.results.get("relationships")
    overrides = _overrides(ctx)
    rows_out: list[dict[str, Any]] = []
    for name, frame in ctx.tables.items():
        ctx.log(f"semantic {name}")
        stats = statistics.filter(pl.col("table") == name)
        schema = frame.schema
        columns = [
            c
            for c in stats["column"].to_list()
            if c in schema and c != ROW_NUMBER and not schema[c].is_nested()
        ]
        shares = pattern_shares(frame, columns)
        typing_rows = rows_by_column(typing_columns, name)
        facts = _table_facts(name, frame, stats, relationships)
        for row in stats.iter_rows(named=True):
            found = classify(
                row, typing_rows.get(row["column"]), shares.get(row["column"], {}), frame.height
            )
            role, why = role_of(row, found, facts)
            chosen = overrides.get(f"{name}.{row['column']}", overrides.get(row["column"]))
            if chosen is not None:
                role, why = chosen, f"set by the source option roles (found: {role}, {why})"
            rows_out.append(found | {"role": role, "role_evidence": why})
    semantic = pl.DataFrame(rows_out, schema=SEMANTIC_SCHEMA)
    found = semantic.filter(
        ~pl.col("semantic_type").is_in(["number", "text", "category", "identifier", "boolean"])
        & pl.col("semantic_type").is_not_null()
    )
    roles = semantic.group_by("role").len().sort("len", descending=True)
    summary = [
        f"{semantic.height} columns classified (patterns on up to {SAMPLE_ROWS:,} sampled rows "
        "per table): roles " + ", ".join(f"{n} {r}" for r, n in roles.iter_rows()) + ".",
    ]
    if found.height:
        summary += [
            "",
            "| table | column | semantic type | confidence | role |",
            "|---|---|---|---|---|",
        ]
        summary += [
            f"| {r['table']} | {r['column']} | {r['semantic_type']} | {r['confidence']:.2f} | "
            f"{r['role']} |"
            for r in found.head(50).iter_rows(named=True)
        ]
    return PhaseResult(
        tables={"semantic": semantic},
        summary="\n".join(summary),
        figures={"columns": semantic.height, "roles": dict(roles.iter_rows())},
    )


SPEC = PhaseSpec(
    name="semantic",
    sections=(Section("Column roles", "roles", ("table", "column", "role", "role_evidence")),),
    needs=("statistics", "relationships"),
    run=run,
    version="3",
    description="Rule-based semantic type (email, url, country code, money, ...) and role "
    "(identifier, foreign_key, calendar_part, clock_time, timestamp, measure, dimension, "
    "free_text, attribute) per column, with evidence; roles can be set with the option `roles`.",
)
