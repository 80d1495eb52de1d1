"""Predefined constraints (SPEC 3) and how they merge into one column's rules.

A constraint is written `COLUMN:NAME[:ARGS]`:
`qty:positive`, `qty:non_negative`, `id:not_null`, `id:unique`, `ticker:valid_ticker`,
`contact:email`, `side:allowed_values:BUY,SELL`, `qty:range:1:1000` (either bound may be empty),
`code:regex:^[A-Z]{2}-\\d+$` (everything after the second colon is the pattern).
Merging keeps one copy of each rule, intersects bounds and allowed values, and raises a
`ConstraintError` naming both constraints when no value could satisfy them together.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl

from dat_pipeline.reverse_etl.errors import ConstraintError

CONSTRAINT_NAMES = (
    "positive",
    "non_negative",
    "not_null",
    "unique",
    "valid_ticker",
    "email",
    "allowed_values",
    "range",
    "regex",
)
TICKER_PATTERN = r"^[A-Z]{1,5}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
NUMERIC_KINDS = ("integer", "decimal", "float")
_PATTERN_CONSTRAINTS = {"valid_ticker": TICKER_PATTERN, "email": EMAIL_PATTERN}


@dataclass(frozen=True)
class Constraint:
    """One parsed constraint on one column."""

    column: str
    name: str
    args: tuple[Any, ...] = ()

    @property
    def label(self) -> str:
        if self.name == "range":
            low, high = self.args
            return f"range:{'' if low is None else low}:{'' if high is None else high}"
        if self.name == "allowed_values":
            return "allowed_values:" + ",".join(str(v) for v in self.args)
        if self.name == "regex":
            return f"regex:{self.args[0]}"
        return self.name


def _number(text: str, constraint: str) -> Decimal | None:
    text = text.strip()
    if text == "":
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ConstraintError(f"{constraint}: {text!r} is not a number") from None
    if not value.is_finite():
        raise ConstraintError(f"{constraint}: {text!r} is not a finite number")
    return value


def check_pattern(pattern: str, where: str) -> str:
    """A regex both Python (JSON Schema) and Polars (pandera) accept, or a clear error."""
    try:
        re.compile(pattern)
        pl.Series([""]).str.contains(pattern)
    except Exception as exc:  # re.error and polars' ComputeError both mean "bad pattern"
        detail = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise ConstraintError(
            f"{where}: invalid regular expression {pattern!r}: {detail}"
        ) from None
    return pattern


def parse_constraint(text: str) -> Constraint:
    """Parse `COLUMN:NAME[:ARGS]` (a clear error naming the constraint when it does not parse)."""
    if not isinstance(text, str) or ":" not in text:
        raise ConstraintError(
            f"constraint {text!r} must look like COLUMN:NAME[:ARGS], e.g. qty:positive "
            f"(names: {', '.join(CONSTRAINT_NAMES)})"
        )
    column, _, rest = text.partition(":")
    name, _, args = rest.partition(":")
    column, name = column.strip(), name.strip().lower()
    if not column:
        raise ConstraintError(f"constraint {text!r} names no column")
    if name not in CONSTRAINT_NAMES:
        raise ConstraintError(
            f"constraint {text!r}: unknown name {name!r} (choose from {', '.join(CONSTRAINT_NAMES)})"
        )
    if name == "range":
        parts = args.split(":")
        if len(parts) != 2:
            raise ConstraintError(
                f"constraint {text!r}: range takes MIN:MAX (either may be empty), e.g. qty:range:1:1000"
            )
        low, high = (_number(p, f"constraint {text!r}") for p in parts)
        if low is None and high is None:
            raise ConstraintError(f"constraint {text!r}: range needs at least one bound")
        if low is not None and high is not None and low > high:
            raise ConstraintError(
                f"constraint {text!r}: the minimum {low} is above the maximum {high}"
            )
        return Constraint(column, name, (low, high))
    if name == "allowed_values":
        values = tuple(dict.fromkeys(v.strip() for v in args.split(",") if v.strip()))
        if not values:
            raise ConstraintError(
                f"constraint {text!r}: allowed_values needs values, e.g. side:allowed_values:BUY,SELL"
            )
        return Constraint(column, name, values)
    if name == "regex":
        if not args:
            raise ConstraintError(
                f"constraint {text!r}: regex needs a pattern, e.g. code:regex:^[A-Z]+$"
            )
        return Constraint(column, name, (check_pattern(args, f"constraint {text!r}"),))
    if args:
        raise ConstraintError(f"constraint {text!r}: {name} takes no arguments")
    return Constraint(column, name)


@dataclass
class Bound:
    value: Decimal
    inclusive: bool
    source: str


@dataclass
class ColumnRules:
    """Everything a model enforces on one column, merged from the catalog and the constraints."""

    column: str
    kind: str
    nullable: bool = True
    unique: bool = False
    lower: Bound | None = None
    upper: Bound | None = None
    allowed: tuple[Any, ...] | None = None
    allowed_source: str | None = None
    patterns: list[tuple[str, str]] = field(default_factory=list)  # (pattern, source label)
    max_length: int | None = None
    applied: list[str] = field(default_factory=list)

    def _typed(self, raw: str, source: str) -> Any:
        if self.kind == "integer":
            try:
                return int(raw)
            except ValueError:
                raise ConstraintError(
                    f"column {self.column!r}: {source}: {raw!r} is not an integer"
                ) from None
        if self.kind in ("decimal", "float"):
            number = _number(raw, f"column {self.column!r}: {source}")
            return float(number) if self.kind == "float" else number
        if self.kind == "boolean":
            lowered = raw.lower()
            if lowered not in ("true", "false"):
                raise ConstraintError(
                    f"column {self.column!r}: {source}: {raw!r} is not true/false"
                )
            return lowered == "true"
        return raw

    def _needs(self, kinds: tuple[str, ...], constraint: Constraint) -> None:
        if self.kind not in kinds:
            raise ConstraintError(
                f"column {self.column!r} is {self.kind}: {constraint.label} applies to "
                f"{' or '.join(kinds)} columns only"
            )

    def _tighten_lower(self, bound: Bound) -> None:
        current = self.lower
        if (
            current is None
            or bound.value > current.value
            or (bound.value == current.value and not bound.inclusive)
        ):
            self.lower = bound

    def _tighten_upper(self, bound: Bound) -> None:
        current = self.upper
        if (
            current is None
            or bound.value < current.value
            or (bound.value == current.value and not bound.inclusive)
        ):
            self.upper = bound

    def apply(self, constraint: Constraint) -> None:
        """Merge one constraint; an exact duplicate is a no-op."""
        label = constraint.label
        if label in self.applied:
            return
        name = constraint.name
        if name == "not_null":
            self.nullable = False
        elif name == "unique":
            self.unique = True
        elif name in ("positive", "non_negative"):
            self._needs(NUMERIC_KINDS, constraint)
            self._tighten_lower(Bound(Decimal(0), name == "non_negative", name))
        elif name == "range":
            self._needs(NUMERIC_KINDS, constraint)
            low, high = constraint.args
            if low is not None:
                self._tighten_lower(Bound(low, True, label))
            if high is not None:
                self._tighten_upper(Bound(high, True, label))
        elif name in _PATTERN_CONSTRAINTS or name == "regex":
            self._needs(("string",), constraint)
            pattern = _PATTERN_CONSTRAINTS.get(name) or constraint.args[0]
            if pattern not in [p for p, _ in self.patterns]:
                self.patterns.append((pattern, label))
        elif name == "allowed_values":
            if self.kind in ("binary", "date", "datetime"):
                raise ConstraintError(
                    f"column {self.column!r} is {self.kind}: allowed_values applies to strings, "
                    "numbers and booleans"
                )
            self.restrict_allowed(tuple(self._typed(str(v), label) for v in constraint.args), label)
        self.applied.append(label)
        self.check_consistent()

    def restrict_allowed(self, values: tuple[Any, ...], source: str) -> None:
        if self.allowed is None:
            self.allowed, self.allowed_source = values, source
            return
        kept = tuple(v for v in self.allowed if v in values)
        stray = [v for v in values if v not in self.allowed]
        if stray:
            raise ConstraintError(
                f"contradictory constraints on column {self.column!r}: {source} allows "
                f"{', '.join(map(str, stray))}, which {self.allowed_source} never allows"
            )
        self.allowed, self.allowed_source = kept, source

    def _value_ok(self, value: Any) -> str | None:
        """The source of the first rule `value` breaks, or None."""
        if self.kind in NUMERIC_KINDS:
            number = Decimal(str(value))
            if self.lower and (
                number < self.lower.value
                or (number == self.lower.value and not self.lower.inclusive)
            ):
                return self.lower.source
            if self.upper and (
                number > self.upper.value
                or (number == self.upper.value and not self.upper.inclusive)
            ):
                return self.upper.source
        if self.kind == "string":
            for pattern, source in self.patterns:
                if not re.search(pattern, str(value)):
                    return source
            if self.max_length is not None and len(str(value)) > self.max_length:
                return f"the column's length limit ({self.max_length})"
        return None

    def check_consistent(self) -> None:
        """Raise when the merged rules leave no valid value."""
        if self.lower and self.upper:
            low, high = self.lower, self.upper
            if low.value > high.value or (
                low.value == high.value and not (low.inclusive and high.inclusive)
            ):
                raise ConstraintError(
                    f"contradictory constraints on column {self.column!r}: {low.source} and "
                    f"{high.source} leave no valid value; drop or fix one of them"
                )
        if self.kind == "integer" and self.lower and self.upper:
            low = math.ceil(self.lower.value)
            low += 1 if not self.lower.inclusive and low == self.lower.value else 0
            high = math.floor(self.upper.value)
            high -= 1 if not self.upper.inclusive and high == self.upper.value else 0
            if low > high:
                raise ConstraintError(
                    f"contradictory constraints on column {self.column!r}: {self.lower.source} "
                    f"and {self.upper.source} leave no integer value"
                )
        sources = {source for _, source in self.patterns}
        if {"valid_ticker", "email"} <= sources:
            raise ConstraintError(
                f"contradictory constraints on column {self.column!r}: valid_ticker ({TICKER_PATTERN}) "
                f"and email (needs '@') can never both hold"
            )
        if self.allowed is not None:
            for value in self.allowed:
                broken = self._value_ok(value)
                if broken:
                    raise ConstraintError(
                        f"contradictory constraints on column {self.column!r}: allowed value "
                        f"{value!r} ({self.allowed_source}) breaks {broken}"
                    )
