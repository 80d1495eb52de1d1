"""Cleaning rules shared by the DAT preview/parse stages and ingestion: data in, Polars out."""

from dat_pipeline.cleaning.engine import CleaningResult, RuleRunner, apply_rules
from dat_pipeline.cleaning.rules import (
    AllowedValuesRule,
    CaseRule,
    CastRule,
    DedupeRule,
    FillNullRule,
    NotNullRule,
    RangeRule,
    RegexRule,
    Rule,
    RuleError,
    TrimRule,
    check_rules_against_schema,
    load_rules_yaml,
    parse_rules,
    rule_label,
    rule_templates,
)

__all__ = [
    "AllowedValuesRule",
    "CaseRule",
    "CastRule",
    "CleaningResult",
    "DedupeRule",
    "FillNullRule",
    "NotNullRule",
    "RangeRule",
    "RegexRule",
    "Rule",
    "RuleError",
    "RuleRunner",
    "TrimRule",
    "apply_rules",
    "check_rules_against_schema",
    "load_rules_yaml",
    "parse_rules",
    "rule_label",
    "rule_templates",
]
