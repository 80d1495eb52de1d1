"""Rule definitions: validation messages, labels, templates and YAML loading."""

import pytest
import yaml
from helpers import RULE_TYPES

from dat_pipeline.cleaning import (
    AllowedValuesRule,
    CastRule,
    DedupeRule,
    NotNullRule,
    RangeRule,
    RuleError,
    check_rules_against_schema,
    load_rules_yaml,
    parse_rules,
    rule_label,
    rule_templates,
)


def test_parse_rules_builds_typed_models_with_defaults():
    rules = parse_rules(
        [
            {"type": "not_null", "column": "id"},
            {"type": "RANGE", "column": "amount", "min": 0, "max": 10, "severity": "warn"},
            {"type": "DEDUPE", "keys": ["id", "day"]},
        ]
    )

    assert isinstance(rules[0], NotNullRule)
    assert rules[0].severity == "error"
    assert isinstance(rules[1], RangeRule)
    assert (rules[1].min, rules[1].max, rules[1].inclusive) == (0, 10, True)
    assert rules[1].severity == "warn"
    assert isinstance(rules[2], DedupeRule)
    assert rules[2].columns == ["id", "day"]


def test_bad_regex_is_rejected_with_the_rule_and_reason():
    with pytest.raises(RuleError) as info:
        parse_rules(
            [
                {"type": "NOT_NULL", "column": "a"},
                {"type": "REGEX", "column": "email", "pattern": "(ab"},
            ]
        )

    message = str(info.value)
    assert message.startswith("rule 1 (REGEX, email)")
    assert "unclosed group" in message
    assert info.value.index == 1


def test_regex_lookaround_is_rejected_because_polars_cannot_run_it():
    with pytest.raises(RuleError, match="look-around"):
        parse_rules([{"type": "REGEX", "column": "a", "pattern": "(?<=x)y"}])


def test_range_with_min_above_max_says_to_swap():
    with pytest.raises(
        RuleError, match=r"rule 0 \(RANGE, amount\): min 5 is greater than max 1; swap"
    ):
        parse_rules([{"type": "RANGE", "column": "amount", "min": 5, "max": 1}])


def test_range_needs_at_least_one_bound_and_bounds_of_one_kind():
    with pytest.raises(RuleError, match="needs `min`, `max` or both"):
        parse_rules([{"type": "RANGE", "column": "amount"}])
    with pytest.raises(RuleError, match="different kinds"):
        parse_rules([{"type": "RANGE", "column": "day", "min": 1, "max": "2024-01-01"}])


def test_unknown_type_lists_the_known_ones():
    with pytest.raises(RuleError) as info:
        parse_rules([{"type": "UNIQUE", "column": "id"}])

    message = str(info.value)
    assert "unknown type 'UNIQUE'" in message
    assert all(name in message for name in RULE_TYPES)


def test_missing_type_and_missing_param_are_named():
    with pytest.raises(RuleError, match="missing `type`"):
        parse_rules([{"column": "id"}])
    with pytest.raises(RuleError, match=r"rule 0 \(REGEX, email\): missing parameter `pattern`"):
        parse_rules([{"type": "REGEX", "column": "email"}])
    with pytest.raises(RuleError, match="missing parameter `values`"):
        parse_rules([{"type": "ALLOWED_VALUES", "column": "status"}])


def test_misspelt_param_lists_the_valid_ones():
    with pytest.raises(RuleError, match="unknown parameter `mni`; RANGE takes column, min, max"):
        parse_rules([{"type": "RANGE", "column": "amount", "mni": 0}])


def test_bad_enum_params_are_rejected():
    with pytest.raises(RuleError, match="`to`"):
        parse_rules([{"type": "CAST", "column": "a", "to": "int"}])
    with pytest.raises(RuleError, match="`severity`"):
        parse_rules([{"type": "NOT_NULL", "column": "a", "severity": "fatal"}])
    with pytest.raises(RuleError, match="`format` applies to date and datetime"):
        parse_rules([{"type": "CAST", "column": "a", "to": "integer", "format": "%Y"}])


def test_parse_rules_rejects_non_list_and_non_mapping_items():
    with pytest.raises(RuleError, match="expected a list of rules"):
        parse_rules({"type": "NOT_NULL", "column": "a"})
    with pytest.raises(RuleError, match="rule 0: expected a mapping"):
        parse_rules(["NOT_NULL"])


def test_unknown_column_names_it_and_lists_available_columns():
    rules = parse_rules(
        [{"type": "NOT_NULL", "column": "id"}, {"type": "DEDUPE", "keys": ["id", "amont"]}]
    )

    with pytest.raises(RuleError) as info:
        check_rules_against_schema(rules, ["id", "amount", "status"])

    message = str(info.value)
    assert "rule 1 (DEDUPE, id,amont)" in message
    assert "column 'amont' is not in the data" in message
    assert "did you mean 'amount'?" in message
    assert "available columns: id, amount, status" in message


def test_known_columns_pass_the_schema_check():
    rules = parse_rules([{"type": "TRIM", "column": "name"}, {"type": "DEDUPE", "keys": ["id"]}])

    assert check_rules_against_schema(rules, ["id", "name"]) is None


def test_rule_label_names_position_type_and_target():
    not_null, dedupe = parse_rules(
        [{"type": "NOT_NULL", "column": "amount"}, {"type": "DEDUPE", "keys": ["a", "b"]}]
    )

    assert rule_label(not_null, 1) == "1:NOT_NULL(amount)"
    assert rule_label(dedupe, 7) == "7:DEDUPE(a,b)"


def test_templates_cover_every_type_and_round_trip_through_parse_rules():
    templates = rule_templates()

    assert {template["type"] for template in templates} == RULE_TYPES
    for template in templates:
        (rule,) = parse_rules(yaml.safe_load(template["example_yaml"]))
        assert rule.type == template["type"]
        assert set(template["params"]) == set(type(rule).model_fields) - {"type"}
        assert all(template["params"].values()), template["type"]


def test_load_rules_yaml_accepts_a_list_or_a_rules_mapping():
    text = """
- type: NOT_NULL
  column: id
- type: ALLOWED_VALUES
  column: status
  values: [open, closed]
  severity: warn
"""
    listed = load_rules_yaml(text)
    wrapped = load_rules_yaml("rules:\n" + text)

    assert listed == wrapped
    assert isinstance(listed[1], AllowedValuesRule)
    assert listed[1].values == ["open", "closed"]
    assert load_rules_yaml("") == []


def test_load_rules_yaml_reads_dates_as_range_bounds_and_cast_formats():
    rules = load_rules_yaml(
        """
rules:
  - {type: RANGE, column: day, min: 2024-01-01, max: 2024-12-31}
  - {type: CAST, column: day, to: date, format: "%d/%m/%Y"}
"""
    )

    assert str(rules[0].min) == "2024-01-01"
    assert isinstance(rules[1], CastRule)
    assert rules[1].format == "%d/%m/%Y"


def test_load_rules_yaml_reports_bad_yaml_and_bad_rules():
    with pytest.raises(RuleError, match="not valid YAML"):
        load_rules_yaml("- type: [NOT_NULL")
    with pytest.raises(RuleError, match="expected a list of rules"):
        load_rules_yaml("type: NOT_NULL")
    with pytest.raises(RuleError, match=r"rule 0 \(RANGE, x\)"):
        load_rules_yaml("- {type: RANGE, column: x, min: 3, max: 2}")
