"""Cleaning rules as data: validated pydantic models that each build their own Polars expressions.

Rules come from YAML/JSON written by people, so validation turns every pydantic error into a
`RuleError` that names the rule, the column, what is wrong and how to fix it.

Null semantics: RANGE, REGEX and ALLOWED_VALUES let nulls pass, so that "optional but valid when
present" needs no extra rule; add NOT_NULL to reject missing values.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

ROW_NUMBER = "_row_number"
# Working columns of the engine; the prefix is reserved in input frames.
INTERNAL_PREFIX = "__dat_"
ALIVE = f"{INTERNAL_PREFIX}alive"
SEEN = f"{INTERNAL_PREFIX}seen"

_TEMPLATES_HINT = "run `dat rules templates` for every type's parameters and an example"


class RuleError(ValueError):
    """A rule that cannot be used as written; the message says which rule and what to change."""

    def __init__(
        self,
        problem: str,
        *,
        index: int | None = None,
        rule_type: str | None = None,
        target: str | None = None,
    ) -> None:
        self.index = index
        self.rule_type = rule_type
        self.target = target
        where = "rule" if index is None else f"rule {index}"
        details = ", ".join(part for part in (rule_type, target) if part)
        super().__init__(f"{where} ({details}): {problem}" if details else f"{where}: {problem}")


class _RuleBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    example: ClassVar[dict[str, Any]]

    severity: Literal["error", "warn"] = Field(
        "error",
        description="for checks: error drops a failing row; warn keeps it and lists the rule in "
        "`_flags`",
    )

    @property
    def columns(self) -> list[str]:
        """Input columns the rule reads."""
        return [self.column]  # type: ignore[attr-defined]

    @property
    def target(self) -> str:
        """Column text used in labels, messages and the rejects `columns` list."""
        return ",".join(self.columns)

    def check(self, schema: pl.Schema) -> pl.Expr | None:
        """Boolean expression, True where the row passes; None for pure transforms."""
        return None

    def transform(self, schema: pl.Schema) -> pl.Expr | None:
        """New value of `column`, or None when the rule does not change values."""
        return None

    def offending_value(self) -> pl.Expr:
        """The checked value as text, recorded in the rejects table."""
        return pl.col(self.columns[0]).cast(pl.String)


class NotNullRule(_RuleBase):
    """Fails rows where the column is null."""

    example: ClassVar = {"type": "NOT_NULL", "column": "customer_id"}
    type: Literal["NOT_NULL"] = "NOT_NULL"
    column: str = Field(description="column that must have a value")

    def check(self, schema: pl.Schema) -> pl.Expr:
        return pl.col(self.column).is_not_null()


Bound = int | float | datetime | date


def _bound_kind(bound: Bound) -> type:
    # datetime subclasses date, so test it first; bool is an int and compares as one.
    for kind in (datetime, date):
        if isinstance(bound, kind):
            return kind
    return float


class RangeRule(_RuleBase):
    """Fails values outside [min, max]; null passes. Text columns are parsed as the bounds' type."""

    example: ClassVar = {"type": "RANGE", "column": "amount", "min": 0, "max": 10000}
    type: Literal["RANGE"] = "RANGE"
    column: str = Field(description="numeric, date or text column to bound")
    min: Bound | None = Field(None, description="lower bound (number, date or datetime)")
    max: Bound | None = Field(None, description="upper bound (number, date or datetime)")
    inclusive: bool = Field(True, description="whether the bounds themselves pass")

    @model_validator(mode="after")
    def _bounds_are_coherent(self) -> RangeRule:
        if self.min is None and self.max is None:
            raise ValueError("needs `min`, `max` or both")
        if self.min is not None and self.max is not None:
            if _bound_kind(self.min) is not _bound_kind(self.max):
                raise ValueError(
                    f"min {self.min!r} and max {self.max!r} are of different kinds; "
                    "use two numbers, two dates or two datetimes"
                )
            if self.min > self.max:
                raise ValueError(f"min {self.min} is greater than max {self.max}; swap them")
        return self

    def check(self, schema: pl.Schema) -> pl.Expr:
        dtype = schema[self.column]
        bound = self.min if self.min is not None else self.max
        kind = _bound_kind(bound)
        value = pl.col(self.column)
        if dtype == pl.String:
            # A text value that does not parse fails the range instead of passing as null.
            value = {
                float: value.cast(pl.Float64, strict=False),
                date: value.str.to_date(strict=False),
                datetime: value.str.to_datetime(strict=False),
            }[kind]
        elif kind is float and not dtype.is_numeric():
            raise ValueError(f"numeric bounds need a numeric column, not {dtype}; CAST it first")
        elif kind is not float and not dtype.is_temporal():
            raise ValueError(f"date bounds need a date column, not {dtype}; CAST it first")

        def bound_lit(bound: Bound) -> pl.Expr:
            return pl.lit(bound).cast(dtype) if dtype.is_temporal() else pl.lit(bound)

        conditions = []
        if self.min is not None:
            low = bound_lit(self.min)
            conditions.append(value >= low if self.inclusive else value > low)
        if self.max is not None:
            high = bound_lit(self.max)
            conditions.append(value <= high if self.inclusive else value < high)
        return pl.col(self.column).is_null() | pl.all_horizontal(conditions).fill_null(False)


class RegexRule(_RuleBase):
    """Fails values the pattern does not match (search, anchor with ^...$); null passes."""

    example: ClassVar = {"type": "REGEX", "column": "email", "pattern": r"^[^@\s]+@[^@\s]+$"}
    type: Literal["REGEX"] = "REGEX"
    column: str = Field(description="column to match; non-text values are matched as text")
    pattern: str = Field(
        description="Rust regex syntax (no look-around or backreferences); searched anywhere in "
        "the value unless anchored with ^ and $"
    )

    @model_validator(mode="after")
    def _pattern_compiles(self) -> RegexRule:
        # Compile with the engine that will run it: Polars' regex dialect differs from Python's.
        try:
            pl.Series([""]).str.contains(self.pattern)
        except pl.exceptions.PolarsError as exc:
            reason = str(exc).split("error: ")[-1].splitlines()[0]
            raise ValueError(
                f"invalid regular expression {self.pattern!r}: {reason}; fix the pattern "
                "(Rust regex syntax: no look-around or backreferences)"
            ) from None
        return self

    def check(self, schema: pl.Schema) -> pl.Expr:
        value = pl.col(self.column)
        if schema[self.column] != pl.String:
            value = value.cast(pl.String)
        return value.str.contains(self.pattern).fill_null(True)


class DedupeRule(_RuleBase):
    """Fails a row when an earlier row with the same keys passed every earlier error rule.

    The first occurrence passes. Rows already dropped by an earlier error rule do not claim their
    keys, so place DEDUPE after the checks that should win. Nulls in keys compare equal.
    """

    example: ClassVar = {"type": "DEDUPE", "keys": ["order_id"]}
    type: Literal["DEDUPE"] = "DEDUPE"
    keys: list[str] = Field(min_length=1, description="columns that identify a row")

    @property
    def columns(self) -> list[str]:
        return list(self.keys)

    def check(self, schema: pl.Schema) -> pl.Expr:
        # SEEN marks keys kept by previous chunks; the engine adds it before evaluating this.
        first_alive = pl.col(ROW_NUMBER).filter(pl.col(ALIVE)).min().over(self.keys)
        return ~pl.col(SEEN) & (pl.col(ROW_NUMBER) <= first_alive).fill_null(True)

    def offending_value(self) -> pl.Expr:
        parts = [pl.col(key).cast(pl.String).fill_null("null") for key in self.keys]
        return pl.concat_str(parts, separator=", ")


class AllowedValuesRule(_RuleBase):
    """Fails values that are not in the list; null passes."""

    example: ClassVar = {
        "type": "ALLOWED_VALUES",
        "column": "status",
        "values": ["open", "closed"],
        "severity": "warn",
    }
    type: Literal["ALLOWED_VALUES"] = "ALLOWED_VALUES"
    column: str = Field(description="column to check")
    values: list[bool | int | float | str] = Field(
        min_length=1, description="accepted values, converted to the column's type"
    )

    def check(self, schema: pl.Schema) -> pl.Expr:
        dtype = schema[self.column]
        allowed = pl.Series(self.values, strict=False)
        if dtype != pl.Null:
            allowed = allowed.cast(dtype)
        return pl.col(self.column).is_in(allowed.implode()).fill_null(True)


class TrimRule(_RuleBase):
    """Strips surrounding whitespace from text values; other column types are left as they are."""

    example: ClassVar = {"type": "TRIM", "column": "name"}
    type: Literal["TRIM"] = "TRIM"
    column: str = Field(description="text column to trim")

    def transform(self, schema: pl.Schema) -> pl.Expr | None:
        if schema[self.column] != pl.String:
            return None
        return pl.col(self.column).str.strip_chars()


class CaseRule(_RuleBase):
    """Lower- or upper-cases text values; other column types are left as they are."""

    example: ClassVar = {"type": "CASE", "column": "country", "mode": "upper"}
    type: Literal["CASE"] = "CASE"
    column: str = Field(description="text column to re-case")
    mode: Literal["lower", "upper"] = Field(description="lower or upper")

    def transform(self, schema: pl.Schema) -> pl.Expr | None:
        if schema[self.column] != pl.String:
            return None
        text = pl.col(self.column).str
        return text.to_lowercase() if self.mode == "lower" else text.to_uppercase()


class FillNullRule(_RuleBase):
    """Replaces nulls with a constant converted to the column's type."""

    example: ClassVar = {"type": "FILL_NULL", "column": "quantity", "value": 0}
    type: Literal["FILL_NULL"] = "FILL_NULL"
    column: str = Field(description="column whose nulls are filled")
    value: bool | int | float | datetime | date | str = Field(description="replacement value")

    def transform(self, schema: pl.Schema) -> pl.Expr:
        dtype = schema[self.column]
        fill = pl.lit(self.value)
        return pl.col(self.column).fill_null(fill if dtype == pl.Null else fill.cast(dtype))


_BOOLEAN_TEXT = {
    **dict.fromkeys(("true", "t", "yes", "y", "1"), True),
    **dict.fromkeys(("false", "f", "no", "n", "0"), False),
}


class CastRule(_RuleBase):
    """Converts the column to a type; a non-null value that does not convert is a violation.

    With severity warn the unconvertible value becomes null and the row is flagged.
    """

    example: ClassVar = {"type": "CAST", "column": "order_date", "to": "date"}
    type: Literal["CAST"] = "CAST"
    column: str = Field(description="column to convert")
    to: Literal["integer", "float", "decimal", "string", "boolean", "date", "datetime"] = Field(
        description="integer, float, decimal, string, boolean, date or datetime"
    )
    format: str | None = Field(
        None, description="strftime format for text to date/datetime; inferred when omitted"
    )
    scale: int = Field(2, ge=0, le=38, description="digits after the point for decimal")

    @model_validator(mode="after")
    def _format_only_for_temporal(self) -> CastRule:
        if self.format is not None and self.to not in ("date", "datetime"):
            raise ValueError(f"`format` applies to date and datetime, not {self.to}; remove it")
        return self

    def check(self, schema: pl.Schema) -> pl.Expr:
        return pl.col(self.column).is_null() | self.transform(schema).is_not_null()

    def transform(self, schema: pl.Schema) -> pl.Expr:
        source = schema[self.column]
        value = pl.col(self.column)
        text = source == pl.String
        if self.to == "integer" and source.is_float():
            # A plain cast would truncate 2.7 to 2; only whole numbers convert.
            return pl.when(value == value.round()).then(value.cast(pl.Int64, strict=False))
        if self.to == "boolean" and (text or source.is_integer()):
            keys = value.str.strip_chars().str.to_lowercase() if text else value
            mapping = _BOOLEAN_TEXT if text else {0: False, 1: True}
            return keys.replace_strict(mapping, default=None, return_dtype=pl.Boolean)
        if self.to == "date" and text:
            return value.str.to_date(self.format, strict=False)
        if self.to == "datetime" and text:
            return value.str.to_datetime(self.format, strict=False, time_unit="us")
        target = {
            "integer": pl.Int64,
            "float": pl.Float64,
            "decimal": pl.Decimal(38, self.scale),
            "string": pl.String,
            "boolean": pl.Boolean,
            "date": pl.Date,
            "datetime": pl.Datetime("us"),
        }[self.to]
        return value.cast(target, strict=False)


Rule = Annotated[
    NotNullRule
    | RangeRule
    | RegexRule
    | DedupeRule
    | AllowedValuesRule
    | TrimRule
    | CaseRule
    | FillNullRule
    | CastRule,
    Field(discriminator="type"),
]
RULE_TYPES: tuple[type[_RuleBase], ...] = (
    NotNullRule,
    RangeRule,
    RegexRule,
    DedupeRule,
    AllowedValuesRule,
    TrimRule,
    CaseRule,
    FillNullRule,
    CastRule,
)
_BY_TYPE = {cls.model_fields["type"].default: cls for cls in RULE_TYPES}
_RULE_ADAPTER: TypeAdapter[Rule] = TypeAdapter(Rule)


def _params(cls: type[_RuleBase]) -> list[str]:
    """Parameter names in the order a person writes them: target first, severity last."""
    names = [name for name in cls.model_fields if name != "type"]
    return sorted(names, key=lambda name: name == "severity")


def rule_label(rule: Rule, index: int) -> str:
    """Stable label such as "0:NOT_NULL(amount)", used as verdict column and in rejects.

    `index` is written as given; the engine passes the 0-based position in the rule list.
    """
    return f"{index}:{rule.type}({rule.target})"


def _describe_problem(error: dict[str, Any], rule_type: str) -> str:
    field = ".".join(str(part) for part in error["loc"][1:]) or "type"
    kind = error["type"]
    if kind == "union_tag_invalid":
        return f"unknown type {error['input'].get('type')!r}; use one of {', '.join(_BY_TYPE)}"
    if kind == "union_tag_not_found":
        return f"missing `type`; use one of {', '.join(_BY_TYPE)}"
    if kind == "missing":
        return f"missing parameter `{field}`; add it ({_TEMPLATES_HINT})"
    if kind == "extra_forbidden":
        allowed = ", ".join(_params(_BY_TYPE[rule_type]))
        return f"unknown parameter `{field}`; {rule_type} takes {allowed}"
    message = error["msg"].removeprefix("Value error, ")
    return message if kind == "value_error" else f"`{field}`: {message}"


def parse_rules(raw: list[dict]) -> list[Rule]:
    """Validate rule dicts (from YAML or JSON) into rules; `type` is case-insensitive."""
    if not isinstance(raw, list):
        raise RuleError(f"expected a list of rules, got {type(raw).__name__}; {_TEMPLATES_HINT}")
    rules = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise RuleError(
                f"expected a mapping with `type` and parameters, got {item!r}", index=index
            )
        rule_type = item.get("type")
        if isinstance(rule_type, str):
            rule_type = rule_type.strip().upper()
            item = {**item, "type": rule_type}
        try:
            rules.append(_RULE_ADAPTER.validate_python(item))
        except ValidationError as exc:
            problems = "; ".join(_describe_problem(error, rule_type) for error in exc.errors())
            target = item.get("column") or ",".join(map(str, item.get("keys") or [])) or None
            raise RuleError(
                problems,
                index=index,
                rule_type=rule_type if rule_type in _BY_TYPE else None,
                target=target,
            ) from None
    return rules


def load_rules_yaml(text: str) -> list[Rule]:
    """Parse a YAML list of rules, or a mapping with a `rules` list; empty text means no rules."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleError(f"the rules are not valid YAML: {exc}") from None
    if document is None:
        return []
    if isinstance(document, dict) and set(document) == {"rules"}:
        document = document["rules"]
    return parse_rules(document)


def check_rules_against_schema(rules: Sequence[Rule], columns: Sequence[str]) -> None:
    """Fail on the first rule that names a column the data does not have."""
    available = list(columns)
    for index, rule in enumerate(rules):
        for column in rule.columns:
            if column in available:
                continue
            close = difflib.get_close_matches(column, available, n=1)
            suggestion = f"did you mean {close[0]!r}? " if close else ""
            raise RuleError(
                f"column {column!r} is not in the data; {suggestion}"
                f"available columns: {', '.join(available) or '(none)'}",
                index=index,
                rule_type=rule.type,
                target=rule.target,
            )


def rule_templates() -> list[dict]:
    """Every rule type with its parameters and a YAML example that parses as written."""
    return [
        {
            "type": cls.model_fields["type"].default,
            "params": {name: cls.model_fields[name].description for name in _params(cls)},
            "example_yaml": yaml.safe_dump([cls.example], sort_keys=False),
        }
        for cls in RULE_TYPES
    ]
