"""Reverse ETL (SPEC 3): introspection of database tables, generated pandera models and JSON
Schemas with constraints, and typed, streamed extraction. No Dagster import."""

from dat_pipeline.reverse_etl.constraints import CONSTRAINT_NAMES, Constraint, parse_constraint
from dat_pipeline.reverse_etl.errors import (
    ConstraintError,
    ReverseEtlError,
    UnknownIdentifierError,
)
from dat_pipeline.reverse_etl.extract import read_frame, stream_frames, utc_session
from dat_pipeline.reverse_etl.introspect import TableInfo, analyze_table, list_tables
from dat_pipeline.reverse_etl.model import (
    ModelSpec,
    ValidationReport,
    build_model_spec,
    load_model,
    render_json_schema,
    render_pandera,
    rows_for_json,
    validate_frame,
    write_model,
)

__all__ = [
    "CONSTRAINT_NAMES",
    "Constraint",
    "ConstraintError",
    "ModelSpec",
    "ReverseEtlError",
    "TableInfo",
    "UnknownIdentifierError",
    "ValidationReport",
    "analyze_table",
    "build_model_spec",
    "list_tables",
    "load_model",
    "parse_constraint",
    "read_frame",
    "render_json_schema",
    "render_pandera",
    "rows_for_json",
    "stream_frames",
    "utc_session",
    "validate_frame",
    "write_model",
]
