"""Applying rules to real Polars frames: kept rows, rejects, verdicts and streaming state."""

import random
from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from dat_pipeline.cleaning import RuleError, RuleRunner, apply_rules, parse_rules


def run(frame: pl.DataFrame, *raw_rules: dict, row_offset: int = 0):
    return apply_rules(frame, parse_rules(list(raw_rules)), row_offset=row_offset)


def assert_partition(result, frame: pl.DataFrame, row_offset: int = 0) -> None:
    """Every input row is kept or rejected exactly once, and the counts agree with the frames."""
    assert result.rows_in == frame.height == result.rows_kept + result.rows_rejected
    assert result.rows_kept == result.kept.height
    assert result.rows_rejected == result.rejects.height
    numbers = sorted(result.kept["_row_number"].to_list() + result.rejects["_row_number"].to_list())
    assert numbers == list(range(row_offset, row_offset + frame.height))
    assert result.verdicts["_kept"].sum() == result.rows_kept


@pytest.mark.parametrize("severity", ["error", "warn"])
def test_not_null(severity):
    frame = pl.DataFrame({"id": [1, 2, 3], "amount": [10, None, 30]})

    result = run(frame, {"type": "NOT_NULL", "column": "amount", "severity": severity})

    assert result.verdicts["0:NOT_NULL(amount)"].to_list() == [True, False, True]
    if severity == "error":
        assert result.kept["id"].to_list() == [1, 3]
        assert result.rejects["id"].to_list() == [2]
        assert result.rejects["_reject_rules"].to_list() == [["0:NOT_NULL(amount)"]]
        assert result.rejects["_reject_values"].to_list() == [[None]]
    else:
        assert result.kept["id"].to_list() == [1, 2, 3]
        assert result.kept["_flags"].to_list() == [[], ["0:NOT_NULL(amount)"], []]
        assert result.rows_rejected == 0
    assert_partition(result, frame)


@pytest.mark.parametrize("severity", ["error", "warn"])
def test_range_bounds_and_null_passes(severity):
    frame = pl.DataFrame({"amount": [-1.0, 0.0, 50.0, 100.0, 101.0, None]})

    result = run(
        frame,
        {"type": "RANGE", "column": "amount", "min": 0, "max": 100, "severity": severity},
    )

    expected = [False, True, True, True, False, True]
    assert result.verdicts["0:RANGE(amount)"].to_list() == expected
    if severity == "error":
        assert result.kept["_row_number"].to_list() == [1, 2, 3, 5]
        assert result.rejects["_reject_values"].to_list() == [["-1.0"], ["101.0"]]
        assert result.rejects["_reject_columns"].to_list() == [["amount"], ["amount"]]
    else:
        assert result.rows_kept == 6
        assert result.kept["_flags"].list.len().to_list() == [1, 0, 0, 0, 1, 0]
    assert_partition(result, frame)


def test_range_exclusive_and_one_sided():
    frame = pl.DataFrame({"n": [0, 1, 5, 10]})

    exclusive = run(
        frame, {"type": "RANGE", "column": "n", "min": 0, "max": 10, "inclusive": False}
    )
    at_least = run(frame, {"type": "RANGE", "column": "n", "min": 5})

    assert exclusive.kept["n"].to_list() == [1, 5]
    assert at_least.kept["n"].to_list() == [5, 10]


def test_range_on_text_parses_numbers_and_rejects_text_that_is_not_one():
    frame = pl.DataFrame({"amount": ["5", "abc", "500", None]})

    result = run(frame, {"type": "RANGE", "column": "amount", "min": 0, "max": 100})

    assert result.verdicts["0:RANGE(amount)"].to_list() == [True, False, False, True]
    assert result.rejects["_reject_values"].to_list() == [["abc"], ["500"]]


def test_range_with_date_bounds_on_a_date_column():
    frame = pl.DataFrame({"day": [date(2023, 12, 31), date(2024, 6, 1), date(2025, 1, 1)]})

    result = run(
        frame, {"type": "RANGE", "column": "day", "min": "2024-01-01", "max": "2024-12-31"}
    )

    assert result.kept["day"].to_list() == [date(2024, 6, 1)]


def test_range_with_numeric_bounds_on_a_date_column_is_a_clear_error():
    frame = pl.DataFrame({"day": [date(2024, 1, 1)]})

    with pytest.raises(RuleError, match=r"rule 0 \(RANGE, day\): numeric bounds need a numeric"):
        run(frame, {"type": "RANGE", "column": "day", "min": 0})


@pytest.mark.parametrize("severity", ["error", "warn"])
def test_regex_searches_text_and_casts_other_types(severity):
    frame = pl.DataFrame({"email": ["a@b.io", "nope", None], "code": [123, 45, 6789]})

    result = run(
        frame,
        {"type": "REGEX", "column": "email", "pattern": "^[^@]+@[^@]+$", "severity": severity},
        {"type": "REGEX", "column": "code", "pattern": r"^\d{3}$", "severity": severity},
    )

    assert result.verdicts["0:REGEX(email)"].to_list() == [True, False, True]
    assert result.verdicts["1:REGEX(code)"].to_list() == [True, False, False]
    if severity == "error":
        assert result.kept["email"].to_list() == ["a@b.io"]
        assert result.rejects["_reject_rules"].to_list() == [
            ["0:REGEX(email)", "1:REGEX(code)"],
            ["1:REGEX(code)"],
        ]
        assert result.rejects["_reject_values"].to_list() == [["nope", "45"], ["6789"]]
    else:
        assert result.kept["_flags"].to_list() == [
            [],
            ["0:REGEX(email)", "1:REGEX(code)"],
            ["1:REGEX(code)"],
        ]
    assert_partition(result, frame)


@pytest.mark.parametrize("severity", ["error", "warn"])
def test_dedupe_keeps_the_first_occurrence(severity):
    frame = pl.DataFrame({"id": [1, 2, 1, None, None, 2], "day": ["a", "a", "a", "b", "b", "c"]})

    result = run(frame, {"type": "DEDUPE", "keys": ["id", "day"], "severity": severity})

    assert result.verdicts["0:DEDUPE(id,day)"].to_list() == [True, True, False, True, False, True]
    if severity == "error":
        assert result.kept["_row_number"].to_list() == [0, 1, 3, 5]
        assert result.rejects["_reject_values"].to_list() == [["1, a"], ["null, b"]]
        assert result.rejects["_reject_columns"].to_list() == [["id,day"], ["id,day"]]
    else:
        assert result.rows_kept == 6
    assert_partition(result, frame)


def test_dedupe_ignores_rows_already_dropped_by_earlier_rules():
    frame = pl.DataFrame({"id": [7, 7, 7], "amount": [None, 5, 6]})

    result = run(
        frame,
        {"type": "NOT_NULL", "column": "amount"},
        {"type": "DEDUPE", "keys": ["id"]},
    )

    assert result.kept["amount"].to_list() == [5]
    assert result.rejects["_reject_rules"].to_list() == [["0:NOT_NULL(amount)"], ["1:DEDUPE(id)"]]


@pytest.mark.parametrize("severity", ["error", "warn"])
def test_allowed_values(severity):
    frame = pl.DataFrame({"status": ["open", "closed", "lost", None]})

    result = run(
        frame,
        {
            "type": "ALLOWED_VALUES",
            "column": "status",
            "values": ["open", "closed"],
            "severity": severity,
        },
    )

    assert result.verdicts["0:ALLOWED_VALUES(status)"].to_list() == [True, True, False, True]
    if severity == "error":
        assert result.rejects["_reject_values"].to_list() == [["lost"]]
    else:
        assert result.kept["_flags"].to_list()[2] == ["0:ALLOWED_VALUES(status)"]
    assert_partition(result, frame)


def test_allowed_values_are_converted_to_the_column_type():
    frame = pl.DataFrame({"grade": [1, 2, 3]})

    result = run(frame, {"type": "ALLOWED_VALUES", "column": "grade", "values": ["1", "3"]})

    assert result.kept["grade"].to_list() == [1, 3]
    with pytest.raises(RuleError, match=r"rule 0 \(ALLOWED_VALUES, grade\): cannot run"):
        run(frame, {"type": "ALLOWED_VALUES", "column": "grade", "values": ["high"]})


def test_trim_runs_before_allowed_values_and_kept_rows_show_the_new_value():
    frame = pl.DataFrame({"status": ["  open ", "closed\t", " other "]})

    result = run(
        frame,
        {"type": "TRIM", "column": "status"},
        {"type": "ALLOWED_VALUES", "column": "status", "values": ["open", "closed"]},
    )

    assert result.kept["status"].to_list() == ["open", "closed"]
    assert result.rejects["_reject_values"].to_list() == [["other"]]
    # The rejects table keeps the row as it arrived, so it can be fixed and re-ingested.
    assert result.rejects["status"].to_list() == [" other "]
    assert result.verdicts["0:TRIM(status)"].all()


def test_without_trim_the_same_values_are_rejected():
    frame = pl.DataFrame({"status": ["  open ", "closed\t"]})

    result = run(
        frame, {"type": "ALLOWED_VALUES", "column": "status", "values": ["open", "closed"]}
    )

    assert result.rows_rejected == 2


def test_case_lower_and_upper_leave_non_text_alone():
    frame = pl.DataFrame({"country": ["fr", "De"], "city": ["PARIS", "Berlin"], "n": [1, 2]})

    result = run(
        frame,
        {"type": "CASE", "column": "country", "mode": "upper"},
        {"type": "CASE", "column": "city", "mode": "lower"},
        {"type": "CASE", "column": "n", "mode": "lower"},
    )

    assert result.kept.select("country", "city", "n").rows() == [
        ("FR", "paris", 1),
        ("DE", "berlin", 2),
    ]


def test_fill_null_converts_the_value_to_the_column_type_and_precedes_not_null():
    frame = pl.DataFrame({"qty": [1, None], "note": [None, "x"]})

    result = run(
        frame,
        {"type": "FILL_NULL", "column": "qty", "value": "0"},
        {"type": "FILL_NULL", "column": "note", "value": "-"},
        {"type": "NOT_NULL", "column": "qty"},
    )

    assert result.kept.select("qty", "note").rows() == [(1, "-"), (0, "x")]
    assert result.kept.schema["qty"] == pl.Int64
    with pytest.raises(RuleError, match=r"rule 0 \(FILL_NULL, qty\)"):
        run(frame, {"type": "FILL_NULL", "column": "qty", "value": "none"})


def test_cast_failure_with_error_rejects_the_row_with_its_raw_value():
    frame = pl.DataFrame({"amount": ["12", "x1", None, "7"]})

    result = run(frame, {"type": "CAST", "column": "amount", "to": "integer"})

    assert result.kept["amount"].to_list() == [12, None, 7]
    assert result.kept.schema["amount"] == pl.Int64
    assert result.rejects["_reject_values"].to_list() == [["x1"]]
    assert result.rejects["amount"].to_list() == ["x1"]
    assert result.verdicts["0:CAST(amount)"].to_list() == [True, False, True, True]


def test_cast_failure_with_warn_keeps_the_row_flagged_and_null():
    frame = pl.DataFrame({"day": ["2024-01-02", "soon", None]})

    result = run(frame, {"type": "CAST", "column": "day", "to": "date", "severity": "warn"})

    assert result.kept["day"].to_list() == [date(2024, 1, 2), None, None]
    assert result.kept["_flags"].to_list() == [[], ["0:CAST(day)"], []]
    assert result.rows_rejected == 0


def test_cast_does_not_truncate_fractions_into_integers():
    frame = pl.DataFrame({"n": [2.0, 2.7, None]})

    result = run(frame, {"type": "CAST", "column": "n", "to": "integer"})

    assert result.kept["n"].to_list() == [2, None]
    assert result.rejects["_reject_values"].to_list() == [["2.7"]]


def test_cast_to_each_target_type():
    frame = pl.DataFrame(
        {
            "b": ["Yes", "no", "maybe"],
            "d": ["02/01/2024", "31/12/2024", "2024-01-01"],
            "ts": ["2024-01-02 10:11:12", "2024-01-02", "later"],
            "dec": ["1.5", "2", "x"],
            "f": ["1.5", "2", "x"],
            "s": [1, 2, 3],
        }
    )

    result = run(
        frame,
        {"type": "CAST", "column": "b", "to": "boolean", "severity": "warn"},
        {"type": "CAST", "column": "d", "to": "date", "format": "%d/%m/%Y", "severity": "warn"},
        {"type": "CAST", "column": "ts", "to": "datetime", "severity": "warn"},
        {"type": "CAST", "column": "dec", "to": "decimal", "severity": "warn"},
        {"type": "CAST", "column": "f", "to": "float", "severity": "warn"},
        {"type": "CAST", "column": "s", "to": "string"},
    )

    kept = result.kept
    assert kept["b"].to_list() == [True, False, None]
    assert kept["d"].to_list() == [date(2024, 1, 2), date(2024, 12, 31), None]
    assert kept["ts"].dt.hour().to_list() == [10, 0, None]
    assert kept["dec"].to_list() == [Decimal("1.50"), Decimal("2.00"), None]
    assert kept["f"].to_list() == [1.5, 2.0, None]
    assert kept["s"].to_list() == ["1", "2", "3"]
    assert kept["_flags"].list.len().to_list() == [0, 0, 5]


def test_rejects_list_every_failed_error_rule_and_warn_rules_only_flag():
    frame = pl.DataFrame({"id": [1, 2, 3], "amount": [None, 500, 5], "status": ["x", "ok", "x"]})

    result = run(
        frame,
        {"type": "NOT_NULL", "column": "amount"},
        {"type": "RANGE", "column": "amount", "max": 100},
        {"type": "ALLOWED_VALUES", "column": "status", "values": ["ok"], "severity": "warn"},
    )

    assert result.rejects.columns[:4] == [
        "_row_number",
        "_reject_rules",
        "_reject_columns",
        "_reject_values",
    ]
    assert result.rejects.select("_row_number", "_reject_rules", "_reject_values").rows() == [
        (0, ["0:NOT_NULL(amount)"], [None]),
        (1, ["1:RANGE(amount)"], ["500"]),
    ]
    assert result.kept.select("id", "_flags").rows() == [(3, ["2:ALLOWED_VALUES(status)"])]
    assert result.verdicts.columns == [
        "_row_number",
        "0:NOT_NULL(amount)",
        "1:RANGE(amount)",
        "2:ALLOWED_VALUES(status)",
        "_kept",
    ]
    assert result.verdicts["_kept"].to_list() == [False, False, True]


def test_row_offset_numbers_rows_from_the_stream_position():
    frame = pl.DataFrame({"a": [1, None, 3]})

    result = run(frame, {"type": "NOT_NULL", "column": "a"}, row_offset=1000)

    assert result.kept["_row_number"].to_list() == [1000, 1002]
    assert result.rejects["_row_number"].to_list() == [1001]
    assert_partition(result, frame, row_offset=1000)


def test_no_rules_keeps_everything_with_empty_flags():
    frame = pl.DataFrame({"a": [1, 2]})

    result = apply_rules(frame, [])

    assert result.kept["_flags"].to_list() == [[], []]
    assert result.rejects.columns == [
        "_row_number",
        "_reject_rules",
        "_reject_columns",
        "_reject_values",
        "a",
    ]
    assert result.verdicts.columns == ["_row_number", "_kept"]
    assert_partition(result, frame)


def test_empty_frame_gives_empty_results_with_the_full_schema():
    frame = pl.DataFrame({"a": pl.Series([], dtype=pl.Int64)})

    result = run(frame, {"type": "NOT_NULL", "column": "a"}, {"type": "DEDUPE", "keys": ["a"]})

    assert (result.rows_in, result.rows_kept, result.rows_rejected) == (0, 0, 0)
    assert result.kept.columns == ["_row_number", "a", "_flags"]
    assert result.verdicts.height == 0


def test_unknown_column_and_reserved_names_fail_before_any_work():
    frame = pl.DataFrame({"amount": [1], "_reject_values": [2]})

    with pytest.raises(RuleError, match="available columns: amount, _reject_values"):
        run(frame, {"type": "NOT_NULL", "column": "amt"})
    with pytest.raises(ValueError, match=r"input column\(s\) _reject_values clash"):
        run(frame, {"type": "NOT_NULL", "column": "amount"})


def test_ordinary_column_names_like_values_and_rules_are_allowed():
    frame = pl.DataFrame({"values": [1, None], "rules": ["a", "b"], "columns": [1, 2]})
    result = run(frame, {"type": "NOT_NULL", "column": "values"})
    assert result.rows_kept == 1 and result.rejects["rules"].to_list() == ["b"]


def test_dedupe_across_chunks_with_rule_runner_matches_one_shot():
    frame = pl.DataFrame(
        {"id": [1, 2, 1, 3, 2, 4, 1, None, None], "amount": [None, 1, 2, 3, 4, 5, 6, 7, 8]}
    )
    rules = parse_rules(
        [{"type": "NOT_NULL", "column": "amount"}, {"type": "DEDUPE", "keys": ["id"]}]
    )
    runner = RuleRunner(rules)

    chunks = [runner.apply(frame.slice(start, 3), row_offset=start) for start in (0, 3, 6)]
    one_shot = apply_rules(frame, rules)

    kept = pl.concat([chunk.kept for chunk in chunks])
    rejects = pl.concat([chunk.rejects for chunk in chunks])
    assert kept.equals(one_shot.kept)
    assert rejects.equals(one_shot.rejects)
    assert kept["id"].to_list() == [2, 1, 3, 4, None]
    assert chunks[1].rejects["_reject_rules"].to_list() == [["1:DEDUPE(id)"]]


def test_rule_runner_joins_keys_when_chunks_infer_different_types():
    rules = parse_rules([{"type": "DEDUPE", "keys": ["id"]}])
    runner = RuleRunner(rules)

    first = runner.apply(pl.DataFrame({"id": [None, None]}))
    second = runner.apply(pl.DataFrame({"id": ["a", None, "a"]}), row_offset=2)

    assert first.rows_kept == 1
    assert second.kept["id"].to_list() == ["a"]
    assert second.rejects["_row_number"].to_list() == [3, 4]


def test_randomized_frame_always_partitions_rows_and_matches_chunked_runs():
    rng = random.Random(20240601)
    size = 4000
    frame = pl.DataFrame(
        {
            "id": [rng.randrange(1500) for _ in range(size)],
            "amount": [rng.choice([None, rng.uniform(-50, 250)]) for _ in range(size)],
            "status": [rng.choice([" open", "closed ", "OPEN", "lost", None]) for _ in range(size)],
            "qty": [rng.choice(["1", "2", "x", None, "3.5"]) for _ in range(size)],
        }
    )
    rules = parse_rules(
        [
            {"type": "TRIM", "column": "status"},
            {"type": "CASE", "column": "status", "mode": "lower"},
            {
                "type": "ALLOWED_VALUES",
                "column": "status",
                "values": ["open", "closed"],
                "severity": "warn",
            },
            {"type": "NOT_NULL", "column": "amount"},
            {"type": "RANGE", "column": "amount", "min": 0, "max": 200},
            {"type": "FILL_NULL", "column": "qty", "value": "0"},
            {"type": "CAST", "column": "qty", "to": "integer", "severity": "warn"},
            {"type": "REGEX", "column": "id", "pattern": "^[0-9]+$"},
            {"type": "DEDUPE", "keys": ["id"]},
        ]
    )

    result = apply_rules(frame, rules)
    runner = RuleRunner(rules)
    chunked = [
        runner.apply(frame.slice(start, 700), row_offset=start) for start in range(0, size, 700)
    ]

    assert_partition(result, frame)
    assert 0 < result.rows_kept < size
    assert result.kept["id"].is_unique().all()
    assert result.kept["amount"].is_between(0, 200).all()
    assert set(result.kept["status"].drop_nulls()) <= {"open", "closed", "lost"}
    flagged = result.kept.filter(pl.col("_flags").list.contains("2:ALLOWED_VALUES(status)"))
    assert set(flagged["status"]) == {"lost"}
    assert result.rejects["_reject_rules"].list.len().min() >= 1
    assert pl.concat([chunk.kept for chunk in chunked]).equals(result.kept)
    assert sum(chunk.rows_rejected for chunk in chunked) == result.rows_rejected
