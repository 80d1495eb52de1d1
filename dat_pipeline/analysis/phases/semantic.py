"""Semantic phase: what each column means (email, country code, money, ...) and its role.

Rule-based and deterministic: value patterns are scored by the share of sampled non-null values
that match (all patterns of all columns of a table in one vectorized pass over a long
(column, value) frame), column-name hints raise confidence or are required where a pattern alone
is too weak (airport and ticker codes, latitude/longitude, digit-only postal codes). Roles come
from types, uniqueness and cardinality in `statistics`; `relationships` may refine key roles later.
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from dat_pipeline.analysis.phase import PhaseContext, PhaseResult, PhaseSpec
from dat_pipeline.analysis.phases.statistics import NUMERIC, ROW_NUMBER

SAMPLE_ROWS = 10_000
MAX_LONG_ROWS = 1_000_000
MAX_VALUE_BYTES = 256
PATTERN_MIN_SHARE = 0.8  # a pattern without a name hint must match this share of values
HINTED_MIN_SHARE = 0.5
CATEGORY_MAX_DISTINCT = 50
LONG_TEXT_LENGTH = 200  # mean characters above which a string column is text

# ISO 3166-1 (alpha-2 plus the common UK/XK, alpha-3) and ISO 4217 codes.
COUNTRY_ALPHA2 = frozenset(
    [
        "AD",
        "AE",
        "AF",
        "AG",
        "AI",
        "AL",
        "AM",
        "AO",
        "AQ",
        "AR",
        "AS",
        "AT",
        "AU",
        "AW",
        "AX",
        "AZ",
        "BA",
        "BB",
        "BD",
        "BE",
        "BF",
        "BG",
        "BH",
        "BI",
        "BJ",
        "BL",
        "BM",
        "BN",
        "BO",
        "BQ",
        "BR",
        "BS",
        "BT",
        "BV",
        "BW",
        "BY",
        "BZ",
        "CA",
        "CC",
        "CD",
        "CF",
        "CG",
        "CH",
        "CI",
        "CK",
        "CL",
        "CM",
        "CN",
        "CO",
        "CR",
        "CU",
        "CV",
        "CW",
        "CX",
        "CY",
        "CZ",
        "DE",
        "DJ",
        "DK",
        "DM",
        "DO",
        "DZ",
        "EC",
        "EE",
        "EG",
        "EH",
        "ER",
        "ES",
        "ET",
        "FI",
        "FJ",
        "FK",
        "FM",
        "FO",
        "FR",
        "GA",
        "GB",
        "GD",
        "GE",
        "GF",
        "GG",
        "GH",
        "GI",
        "GL",
        "GM",
        "GN",
        "GP",
        "GQ",
        "GR",
        "GS",
        "GT",
        "GU",
        "GW",
        "GY",
        "HK",
        "HM",
        "HN",
        "HR",
        "HT",
        "HU",
        "ID",
        "IE",
        "IL",
        "IM",
        "IN",
        "IO",
        "IQ",
        "IR",
        "IS",
        "IT",
        "JE",
        "JM",
        "JO",
        "JP",
        "KE",
        "KG",
        "KH",
        "KI",
        "KM",
        "KN",
        "KP",
        "KR",
        "KW",
        "KY",
        "KZ",
        "LA",
        "LB",
        "LC",
        "LI",
        "LK",
        "LR",
        "LS",
        "LT",
        "LU",
        "LV",
        "LY",
        "MA",
        "MC",
        "MD",
        "ME",
        "MF",
        "MG",
        "MH",
        "MK",
        "ML",
        "MM",
        "MN",
        "MO",
        "MP",
        "MQ",
        "MR",
        "MS",
        "MT",
        "MU",
        "MV",
        "MW",
        "MX",
        "MY",
        "MZ",
        "NA",
        "NC",
        "NE",
        "NF",
        "NG",
        "NI",
        "NL",
        "NO",
        "NP",
        "NR",
        "NU",
        "NZ",
        "OM",
        "PA",
        "PE",
        "PF",
        "PG",
        "PH",
        "PK",
        "PL",
        "PM",
        "PN",
        "PR",
        "PS",
        "PT",
        "PW",
        "PY",
        "QA",
        "RE",
        "RO",
        "RS",
        "RU",
        "RW",
        "SA",
        "SB",
        "SC",
        "SD",
        "SE",
        "SG",
        "SH",
        "SI",
        "SJ",
        "SK",
        "SL",
        "SM",
        "SN",
        "SO",
        "SR",
        "SS",
        "ST",
        "SV",
        "SX",
        "SY",
        "SZ",
        "TC",
        "TD",
        "TF",
        "TG",
        "TH",
        "TJ",
        "TK",
        "TL",
        "TM",
        "TN",
        "TO",
        "TR",
        "TT",
        "TV",
        "TW",
        "TZ",
        "UA",
        "UG",
        "UM",
        "US",
        "UY",
        "UZ",
        "VA",
        "VC",
        "VE",
        "VG",
        "VI",
        "VN",
        "VU",
        "WF",
        "WS",
        "YE",
        "YT",
        "ZA",
        "ZM",
        "ZW",
        "UK",
        "XK",
    ]
)
COUNTRY_ALPHA3 = frozenset(
    [
        "ABW",
        "AFG",
        "AGO",
        "AIA",
        "ALA",
        "ALB",
        "AND",
        "ARE",
        "ARG",
        "ARM",
        "ASM",
        "ATA",
        "ATF",
        "ATG",
        "AUS",
        "AUT",
        "AZE",
        "BDI",
        "BEL",
        "BEN",
        "BES",
        "BFA",
        "BGD",
        "BGR",
        "BHR",
        "BHS",
        "BIH",
        "BLM",
        "BLR",
        "BLZ",
        "BMU",
        "BOL",
        "BRA",
        "BRB",
        "BRN",
        "BTN",
        "BVT",
        "BWA",
        "CAF",
        "CAN",
        "CCK",
        "CHE",
        "CHL",
        "CHN",
        "CIV",
        "CMR",
        "COD",
        "COG",
        "COK",
        "COL",
        "COM",
        "CPV",
        "CRI",
        "CUB",
        "CUW",
        "CXR",
        "CYM",
        "CYP",
        "CZE",
        "DEU",
        "DJI",
        "DMA",
        "DNK",
        "DOM",
        "DZA",
        "ECU",
        "EGY",
        "ERI",
        "ESH",
        "ESP",
        "EST",
        "ETH",
        "FIN",
        "FJI",
        "FLK",
        "FRA",
        "FRO",
        "FSM",
        "GAB",
        "GBR",
        "GEO",
        "GGY",
        "GHA",
        "GIB",
        "GIN",
        "GLP",
        "GMB",
        "GNB",
        "GNQ",
        "GRC",
        "GRD",
        "GRL",
        "GTM",
        "GUF",
        "GUM",
        "GUY",
        "HKG",
        "HMD",
        "HND",
        "HRV",
        "HTI",
        "HUN",
        "IDN",
        "IMN",
        "IND",
        "IOT",
        "IRL",
        "IRN",
        "IRQ",
        "ISL",
        "ISR",
        "ITA",
        "JAM",
        "JEY",
        "JOR",
        "JPN",
        "KAZ",
        "KEN",
        "KGZ",
        "KHM",
        "KIR",
        "KNA",
        "KOR",
        "KWT",
        "LAO",
        "LBN",
        "LBR",
        "LBY",
        "LCA",
        "LIE",
        "LKA",
        "LSO",
        "LTU",
        "LUX",
        "LVA",
        "MAC",
        "MAF",
        "MAR",
        "MCO",
        "MDA",
        "MDG",
        "MDV",
        "MEX",
        "MHL",
        "MKD",
        "MLI",
        "MLT",
        "MMR",
        "MNE",
        "MNG",
        "MNP",
        "MOZ",
        "MRT",
        "MSR",
        "MTQ",
        "MUS",
        "MWI",
        "MYS",
        "MYT",
        "NAM",
        "NCL",
        "NER",
        "NFK",
        "NGA",
        "NIC",
        "NIU",
        "NLD",
        "NOR",
        "NPL",
        "NRU",
        "NZL",
        "OMN",
        "PAK",
        "PAN",
        "PCN",
        "PER",
        "PHL",
        "PLW",
        "PNG",
        "POL",
        "PRI",
        "PRK",
        "PRT",
        "PRY",
        "PSE",
        "PYF",
        "QAT",
        "REU",
        "ROU",
        "RUS",
        "RWA",
        "SAU",
        "SDN",
        "SEN",
        "SGP",
        "SGS",
        "SHN",
        "SJM",
        "SLB",
        "SLE",
        "SLV",
        "SMR",
        "SOM",
        "SPM",
        "SRB",
        "SSD",
        "STP",
        "SUR",
        "SVK",
        "SVN",
        "SWE",
        "SWZ",
        "SXM",
        "SYC",
        "SYR",
        "TCA",
        "TCD",
        "TGO",
        "THA",
        "TJK",
        "TKL",
        "TKM",
        "TLS",
        "TON",
        "TTO",
        "TUN",
        "TUR",
        "TUV",
        "TWN",
        "TZA",
        "UGA",
        "UKR",
        "UMI",
        "URY",
        "USA",
        "UZB",
        "VAT",
        "VCT",
        "VEN",
        "VGB",
        "VIR",
        "VNM",
        "VUT",
        "WLF",
        "WSM",
        "YEM",
        "ZAF",
        "ZMB",
        "ZWE",
    ]
)
CURRENCY_CODES = frozenset(
    [
        "AED",
        "AFN",
        "ALL",
        "AMD",
        "ANG",
        "AOA",
        "ARS",
        "AUD",
        "AWG",
        "AZN",
        "BAM",
        "BBD",
        "BDT",
        "BGN",
        "BHD",
        "BIF",
        "BMD",
        "BND",
        "BOB",
        "BRL",
        "BSD",
        "BTN",
        "BWP",
        "BYN",
        "BZD",
        "CAD",
        "CDF",
        "CHF",
        "CLP",
        "CNY",
        "COP",
        "CRC",
        "CUC",
        "CUP",
        "CVE",
        "CZK",
        "DJF",
        "DKK",
        "DOP",
        "DZD",
        "EGP",
        "ERN",
        "ETB",
        "EUR",
        "FJD",
        "FKP",
        "GBP",
        "GEL",
        "GHS",
        "GIP",
        "GMD",
        "GNF",
        "GTQ",
        "GYD",
        "HKD",
        "HNL",
        "HTG",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "IQD",
        "IRR",
        "ISK",
        "JMD",
        "JOD",
        "JPY",
        "KES",
        "KGS",
        "KHR",
        "KMF",
        "KPW",
        "KRW",
        "KWD",
        "KYD",
        "KZT",
        "LAK",
        "LBP",
        "LKR",
        "LRD",
        "LSL",
        "LYD",
        "MAD",
        "MDL",
        "MGA",
        "MKD",
        "MMK",
        "MNT",
        "MOP",
        "MRU",
        "MUR",
        "MVR",
        "MWK",
        "MXN",
        "MYR",
        "MZN",
        "NAD",
        "NGN",
        "NIO",
        "NOK",
        "NPR",
        "NZD",
        "OMR",
        "PAB",
        "PEN",
        "PGK",
        "PHP",
        "PKR",
        "PLN",
        "PYG",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "RWF",
        "SAR",
        "SBD",
        "SCR",
        "SDG",
        "SEK",
        "SGD",
        "SHP",
        "SLE",
        "SLL",
        "SOS",
        "SRD",
        "SSP",
        "STN",
        "SVC",
        "SYP",
        "SZL",
        "THB",
        "TJS",
        "TMT",
        "TND",
        "TOP",
        "TRY",
        "TTD",
        "TWD",
        "TZS",
        "UAH",
        "UGX",
        "USD",
        "UYU",
        "UZS",
        "VES",
        "VND",
        "VUV",
        "WST",
        "XAF",
        "XAG",
        "XAU",
        "XCD",
        "XDR",
        "XOF",
        "XPF",
        "YER",
        "ZAR",
        "ZMW",
        "ZWL",
    ]
)

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
SEMANTIC_SCHEMA = {
    "table": pl.String,
    "column": pl.String,
    "semantic_type": pl.String,
    "confidence": pl.Float64,
    "role": pl.String,
    "evidence": pl.String,
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


def _is_id_name(column: str) -> bool:
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
            "role": "attribute",
            "evidence": reason,
        }
    hints = hints_for(column)
    reason = (typing_row or {}).get("reason") or ""
    type_confidence = (typing_row or {}).get("confidence")
    type_confidence = 1.0 if type_confidence is None else type_confidence
    unique = distinct == count and stats["null_count"] == 0 and rows > 1
    id_name = _is_id_name(column)
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

    role = _role(kind, semantic, unique, id_name, distinct, count)
    return {
        **out,
        "semantic_type": semantic,
        "confidence": round(float(confidence), 4),
        "role": role,
        "evidence": f"{evidence}; role {role}: {_role_reason(role, unique, id_name, distinct)}",
    }


def _num(text: str | None) -> float:
    try:
        return float(text) if text is not None else float("nan")
    except ValueError:
        return float("nan")


def _role(kind: str, semantic: str, unique: bool, id_name: bool, distinct: int, count: int) -> str:
    id_like = id_name or semantic in ("identifier", "uuid")
    if kind in ("date", "datetime"):
        return "timestamp"
    if unique and kind in ("integer", "string") and (id_like or semantic in ("email",)):
        return "key"
    if id_like and kind in ("integer", "string") and not unique:
        return "foreign_key"
    if kind in NUMERIC and semantic not in ("latitude", "longitude", "postal_code", "phone"):
        return "measure"
    if semantic == "text":
        return "attribute"
    if kind == "boolean" or (
        kind == "string" and (distinct <= CATEGORY_MAX_DISTINCT or distinct <= 0.05 * count)
    ):
        return "dimension"
    if semantic in ("country_code", "currency_code", "category"):
        return "dimension"
    return "attribute"


def _role_reason(role: str, unique: bool, id_name: bool, distinct: int) -> str:
    return {
        "timestamp": "date/time values",
        "key": "unique, non-null and identifier-like",
        "foreign_key": "identifier-like but repeated"
        + (" (name ends in id/key/code)" if id_name else ""),
        "measure": "numeric, not an identifier",
        "dimension": f"low cardinality ({distinct:,} values)",
        "attribute": "descriptive values" + (" (unique)" if unique else ""),
    }[role]


def run(ctx: PhaseContext) -> PhaseResult:
    statistics = ctx.result("statistics").tables["columns"]
    typing = ctx.results.get("typing")
    typing_columns = typing.tables.get("columns") if typing else None
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
        typing_rows = (
            {r["column"]: r for r in typing_columns.filter(pl.col("table") == name).to_dicts()}
            if typing_columns is not None
            else {}
        )
        for row in stats.iter_rows(named=True):
            rows_out.append(
                classify(
                    row, typing_rows.get(row["column"]), shares.get(row["column"], {}), frame.height
                )
            )
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
    needs=("statistics",),
    run=run,
    version="2",
    description="Rule-based semantic type (email, url, country code, money, ...) and role (key, "
    "foreign_key, measure, dimension, timestamp, attribute) per column, with evidence.",
)
