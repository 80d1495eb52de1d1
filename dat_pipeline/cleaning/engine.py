"""Runs rules over Polars frames: per-row verdicts, kept rows with warn flags, and a rejects table.

Rules run in order on a working frame: each check adds a boolean column, each transform rewrites
its column, so later checks see earlier transforms. Nothing iterates rows in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from dat_pipeline.cleaning.rules import (
    ALIVE,
    INTERNAL_PREFIX,
    ROW_NUMBER,
    SEEN,
    DedupeRule,
    Rule,
    RuleError,
    check_rules_against_schema,
    rule_label,
)

FLAGS = "_flags"
KEPT = "_kept"
_FAILURES = f"{INTERNAL_PREFIX}failures"
# Rejects carry the failures beside the row's own columns, under names data rarely uses.
REJECT_RULES = "_reject_rules"
REJECT_COLUMNS = "_reject_columns"
REJECT_VALUES = "_reject_values"
_RESERVED = {ROW_NUMBER, FLAGS, REJECT_RULES, REJECT_COLUMNS, REJECT_VALUES}


@dataclass
class CleaningResult:
    """Outcome of one frame or chunk; every input row is either kept or rejected."""

    kept: pl.DataFrame
    rejects: pl.DataFrame
    verdicts: pl.DataFrame
    rows_in: int
    rows_kept: int
    rows_rejected: int


def _passed(index: int) -> str:
    return f"{INTERNAL_PREFIX}passed_{index}"


def _value(index: int) -> str:
    return f"{INTERNAL_PREFIX}value_{index}"


def _list_of(items: list[pl.Expr], inner: pl.DataType) -> pl.Expr:
    """Non-null items as a list per row; an empty list when there are no items at all."""
    if not items:
        return pl.lit([], dtype=pl.List(inner))
    return pl.concat_list(items).list.drop_nulls()


class RuleRunner:
    """Applies one rule list to successive chunks, remembering DEDUPE keys across them.

    Chunked results equal a one-shot run over the concatenated frame, provided `row_offset`
    follows the input position.
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = list(rules)
        self.labels = [rule_label(rule, index) for index, rule in enumerate(self.rules)]
        self._seen: dict[int, pl.DataFrame] = {}

    def apply(self, chunk: pl.DataFrame, row_offset: int = 0) -> CleaningResult:
        """Clean one chunk whose first row is input row `row_offset`."""
        check_rules_against_schema(self.rules, chunk.columns)
        clashes = [c for c in chunk.columns if c in _RESERVED or c.startswith(INTERNAL_PREFIX)]
        if clashes:
            raise ValueError(
                f"input column(s) {', '.join(clashes)} clash with names the cleaning output uses "
                f"({', '.join(sorted(_RESERVED))}, {INTERNAL_PREFIX}*); rename them before cleaning"
            )
        work = chunk.with_columns(
            pl.int_range(row_offset, row_offset + chunk.height, dtype=pl.Int64).alias(ROW_NUMBER),
            pl.lit(True).alias(ALIVE),
        )
        new_keys: dict[int, pl.DataFrame] = {}
        for index, rule in enumerate(self.rules):
            try:
                work = self._run_rule(work, index, rule, new_keys)
            except pl.exceptions.PolarsError as exc:
                reason = str(exc).splitlines()[0]
                raise RuleError(
                    f"cannot run on this data ({reason}); check the column's type and the "
                    "rule's parameters",
                    index=index,
                    rule_type=rule.type,
                    target=rule.target,
                ) from None
            except ValueError as exc:
                raise RuleError(
                    str(exc), index=index, rule_type=rule.type, target=rule.target
                ) from None
        # Commit DEDUPE state only once the whole chunk succeeded.
        for index, keys in new_keys.items():
            seen = self._seen.get(index)
            self._seen[index] = (
                keys if seen is None else pl.concat([seen, keys], how="vertical_relaxed")
            )
        return self._result(chunk, work)

    def _run_rule(
        self, work: pl.DataFrame, index: int, rule: Rule, new_keys: dict[int, pl.DataFrame]
    ) -> pl.DataFrame:
        schema = work.schema
        check = rule.check(schema)
        if check is not None:
            if isinstance(rule, DedupeRule):
                work = work.with_columns(self._seen_before(index, work.select(rule.keys)))
            work = work.with_columns(check.alias(_passed(index)))
            if isinstance(rule, DedupeRule):
                first = pl.col(ALIVE) & pl.col(_passed(index))
                new_keys[index] = work.filter(first).select(rule.keys)
                work = work.drop(SEEN)
            if rule.severity == "error":
                failed = ~pl.col(_passed(index))
                work = work.with_columns(
                    (pl.col(ALIVE) & ~failed).alias(ALIVE),
                    pl.when(failed).then(rule.offending_value()).alias(_value(index)),
                )
        transform = rule.transform(schema)
        if transform is not None:
            work = work.with_columns(transform.alias(rule.column))
        return work

    def _seen_before(self, index: int, keys: pl.DataFrame) -> pl.Series:
        """Whether each row's keys were kept by an earlier chunk (anti-join state)."""
        seen = self._seen.get(index)
        if seen is None:
            return pl.repeat(False, keys.height, dtype=pl.Boolean, eager=True).alias(SEEN)
        if seen.schema != keys.schema:
            # Chunks may infer different types (e.g. an all-null first chunk); join on a common one.
            common = pl.concat([seen.clear(), keys.clear()], how="vertical_relaxed").schema
            seen, keys = seen.cast(common), keys.cast(common)
        marked = seen.with_columns(pl.lit(True).alias(SEEN))
        joined = keys.join(
            marked, on=keys.columns, how="left", nulls_equal=True, maintain_order="left"
        )
        return joined.get_column(SEEN).is_not_null()

    def _result(self, chunk: pl.DataFrame, work: pl.DataFrame) -> CleaningResult:
        checks = [i for i, rule in enumerate(self.rules) if _passed(i) in work.columns]
        errors = [i for i in checks if self.rules[i].severity == "error"]
        warnings = [i for i in checks if self.rules[i].severity == "warn"]
        flags = _list_of(
            [pl.when(~pl.col(_passed(i))).then(pl.lit(self.labels[i])) for i in warnings],
            pl.String,
        )
        kept = work.filter(ALIVE).select(ROW_NUMBER, *chunk.columns, flags.alias(FLAGS))

        failure = pl.Struct({"rule": pl.String, "column": pl.String, "value": pl.String})
        failures = _list_of(
            [
                pl.when(~pl.col(_passed(i))).then(
                    pl.struct(
                        rule=pl.lit(self.labels[i]),
                        column=pl.lit(self.rules[i].target),
                        value=pl.col(_value(i)),
                    )
                )
                for i in errors
            ],
            failure,
        )
        rejected = ~work.get_column(ALIVE)
        rejects = (
            work.filter(rejected)
            .select(ROW_NUMBER, failures.alias(_FAILURES))
            .select(
                ROW_NUMBER,
                *(
                    pl.col(_FAILURES).list.eval(pl.element().struct.field(field)).alias(name)
                    for field, name in (
                        ("rule", REJECT_RULES),
                        ("column", REJECT_COLUMNS),
                        ("value", REJECT_VALUES),
                    )
                ),
            )
            .hstack(chunk.filter(rejected))
        )

        verdicts = work.select(
            ROW_NUMBER,
            *(
                (pl.col(_passed(i)) if i in checks else pl.lit(True)).alias(label)
                for i, label in enumerate(self.labels)
            ),
            pl.col(ALIVE).alias(KEPT),
        )
        return CleaningResult(
            kept=kept,
            rejects=rejects,
            verdicts=verdicts,
            rows_in=chunk.height,
            rows_kept=kept.height,
            rows_rejected=rejects.height,
        )


def apply_rules(frame: pl.DataFrame, rules: Sequence[Rule], row_offset: int = 0) -> CleaningResult:
    """Clean a whole frame at once; use `RuleRunner` directly for chunks of one stream."""
    return RuleRunner(rules).apply(frame, row_offset)
