"""Model generation (SPEC 3): a pandera `DataFrameModel` for Polars and a JSON Schema (draft
2020-12) from an introspected table plus constraints, and sample validation against the model.

Both carry nullability, uniqueness of the primary key (and of unique constraints), enum values,
string lengths, numeric precision and the merged constraints. The pandera model is generated as
Python source and that same source is what validation executes, so the file a user reads is the
model that judged their data.
"""

from __future__ import annotations

import base64
import hashlib
import json
import keyword
import re
import shutil
import subprocess
import sys
import types
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from dat_pipeline.files import write_text_atomic
from dat_pipeline.reverse_etl.constraints import (
    NUMERIC_KINDS,
    ColumnRules,
    Constraint,
    parse_constraint,
)
from dat_pipeline.reverse_etl.errors import ConstraintError, ReverseEtlError
from dat_pipeline.reverse_etl.introspect import TableInfo
from dat_pipeline.reverse_etl.types import polars_type

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    attribute: str
    sql_type: str
    rules: ColumnRules
    dtype: pl.DataType


@dataclass(frozen=True)
class ModelSpec:
    """A table's model: one field per column, and the column sets that are unique together."""

    table: str
    class_name: str
    fields: tuple[FieldSpec, ...]
    primary_key: tuple[str, ...]
    unique_together: tuple[tuple[str, ...], ...] = field(default=())
    constraints: tuple[str, ...] = field(default=())

    @property
    def polars_schema(self) -> dict[str, pl.DataType]:
        return {f.name: f.dtype for f in self.fields}


def class_name_for(table: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", table.split(".")[-1])
    name = "".join(w[:1].upper() + w[1:] for w in words) or "Table"
    if name[0].isdigit():
        name = f"T{name}"
    return f"{name}Model"


def _attribute_names(columns: list[str]) -> list[str]:
    used: set[str] = {"Config"}
    names = []
    for column in columns:
        base = re.sub(r"\W", "_", column).strip("_") or "column"
        if base[0].isdigit():
            base = f"c_{base}"
        if keyword.iskeyword(base) or base.startswith("_"):
            base = f"{base}_"
        candidate, n = base, 2
        while candidate in used:
            candidate, n = f"{base}_{n}", n + 1
        used.add(candidate)
        names.append(candidate)
    return names


def parse_constraints(items: list[str] | tuple[str, ...]) -> list[Constraint]:
    return [item if isinstance(item, Constraint) else parse_constraint(item) for item in items]


def build_model_spec(info: TableInfo, constraints: list[str] | tuple[str, ...] = ()) -> ModelSpec:
    """Merge the catalog (nullability, keys, enums, lengths, precision) with `constraints`.

    Unknown columns, constraints that do not fit a column's type, and contradictory pairs are a
    `ConstraintError` naming the column and both constraints.
    """
    parsed = parse_constraints(list(constraints))
    by_column: dict[str, list[Constraint]] = {}
    for constraint in parsed:
        try:
            info.column_info(constraint.column)
        except ReverseEtlError as exc:
            raise ConstraintError(
                f"constraint {constraint.column}:{constraint.label}: {exc}"
            ) from None
        by_column.setdefault(constraint.column, []).append(constraint)

    single_unique = {cols[0] for cols in info.unique_column_sets() if len(cols) == 1}
    together = tuple(cols for cols in info.unique_column_sets() if len(cols) > 1)
    attributes = _attribute_names(info.column_names)
    fields = []
    for column, attribute in zip(info.columns, attributes, strict=True):
        logical = column.logical
        rules = ColumnRules(
            column=column.name,
            kind=logical.kind,
            nullable=column.nullable and column.name not in info.primary_key,
            unique=column.name in single_unique,
            max_length=logical.max_length if logical.kind == "string" else None,
        )
        if logical.enum_values:
            rules.restrict_allowed(tuple(logical.enum_values), f"the {column.sql_type} type")
        for constraint in by_column.get(column.name, []):
            rules.apply(constraint)
        fields.append(
            FieldSpec(
                name=column.name,
                attribute=attribute,
                sql_type=column.sql_type,
                rules=rules,
                dtype=polars_type(column.type_),
            )
        )
    labels = tuple(dict.fromkeys(f"{c.column}:{c.label}" for c in parsed))
    return ModelSpec(
        table=info.qualified_name,
        class_name=class_name_for(info.table),
        fields=tuple(fields),
        primary_key=tuple(info.primary_key),
        unique_together=together,
        constraints=labels,
    )


# -- pandera -------------------------------------------------------------------------------------
def anchored(pattern: str) -> str:
    """Patterns match from the start of the value, in pandera and in JSON Schema alike."""
    return pattern if pattern.startswith("^") else f"^(?:{pattern})"


def _literal(value: Any, kind: str) -> str:
    if isinstance(value, Decimal):
        return repr(int(value)) if value == int(value) and kind == "integer" else repr(float(value))
    return repr(value)


def _annotation(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Decimal):
        return f"Annotated[pl.Decimal, {dtype.precision}, {dtype.scale}]"
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone:
            return f'Annotated[pl.Datetime, "{dtype.time_unit}", "{dtype.time_zone}"]'
        return f'Annotated[pl.Datetime, "{dtype.time_unit}", None]'
    return f"pl.{dtype.__class__.__name__}"


def _field_arguments(spec: FieldSpec) -> list[str]:
    rules = spec.rules
    args = [f"nullable={rules.nullable}"]
    if rules.unique:
        args.append("unique=True")
    if rules.lower is not None:
        op = "ge" if rules.lower.inclusive else "gt"
        args.append(f"{op}={_literal(rules.lower.value, rules.kind)}")
    if rules.upper is not None:
        op = "le" if rules.upper.inclusive else "lt"
        args.append(f"{op}={_literal(rules.upper.value, rules.kind)}")
    if rules.allowed is not None:
        args.append(f"isin={[_python_value(v, rules.kind) for v in rules.allowed]!r}")
    if rules.max_length is not None:
        args.append(f'str_length={{"max_value": {rules.max_length}}}')
    if rules.patterns:
        args.append(f"str_matches={anchored(rules.patterns[0][0])!r}")
    if spec.attribute != spec.name:
        args.append(f"alias={spec.name!r}")
    return args


def _python_value(value: Any, kind: str) -> Any:
    if isinstance(value, Decimal):
        return int(value) if kind == "integer" else float(value)
    return value


def render_pandera(spec: ModelSpec) -> str:
    """Importable, formatted Python source of the pandera model (ruff-format clean)."""
    lines = [
        f'"""Pandera model of table `{spec.table}`, generated by `dat db model`.',
        "",
        "Regenerate it rather than editing it: it mirrors the database catalog plus these",
        f"constraints: {', '.join(spec.constraints) or 'none'}.",
        '"""',
        "",
        "from typing import Annotated",
        "",
        "import pandera.polars as pa",
        "import polars as pl",
        "",
        "",
        f"class {spec.class_name}(pa.DataFrameModel):",
        f'    """Rows of `{spec.table}`; primary key: {", ".join(spec.primary_key) or "none"}."""',
        "",
    ]
    extra_checks: list[str] = []
    for item in spec.fields:
        comment = f"  # {item.sql_type}" if item.sql_type else ""
        lines.append(
            f"    {item.attribute}: {_annotation(item.dtype)} = pa.Field({', '.join(_field_arguments(item))}){comment}"
        )
        for number, (pattern, source) in enumerate(item.rules.patterns[1:], start=2):
            extra_checks += [
                "",
                f"    @pa.check({item.name!r}, name={f'{source}'!r})",
                f"    def _{item.attribute}_pattern_{number}(cls, data: pa.PolarsData) -> pl.LazyFrame:",
                f"        return data.lazyframe.select(pl.col(data.key).str.contains({anchored(pattern)!r}))",
            ]
    lines += extra_checks
    lines += ["", "    class Config:", "        coerce = True", "        strict = False"]
    if spec.unique_together:
        # pandera takes one column set; the primary key comes first.
        lines.append(f"        unique = {list(spec.unique_together[0])!r}")
    return _format_python("\n".join(lines) + "\n")


def _format_python(source: str) -> str:
    """Format with ruff when available (the generated lines are already close to its style)."""
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists() and not shutil.which("ruff"):
        return source
    try:
        done = subprocess.run(
            [ruff, "format", "--line-length", "100", "-"],
            input=source,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return source
    return done.stdout


def load_model(source: str, class_name: str) -> type:
    """Execute generated model source as a module and return its class (pandera resolves the
    annotations through the module, so it must be registered)."""
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]
    module_name = f"dat_generated_models.{class_name}_{digest}"
    module = sys.modules.get(module_name)
    if module is None:
        module = types.ModuleType(module_name)
        exec(compile(source, f"<generated model {class_name}>", "exec"), module.__dict__)
        sys.modules[module_name] = module
    return getattr(module, class_name)


# -- JSON Schema ---------------------------------------------------------------------------------
_JSON_TYPES = {
    "integer": {"type": "integer"},
    "decimal": {"type": "number"},
    "float": {"type": "number"},
    "string": {"type": "string"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "binary": {"type": "string", "contentEncoding": "base64"},
}


def _json_property(item: FieldSpec) -> dict[str, Any]:
    rules = item.rules
    prop: dict[str, Any] = dict(_JSON_TYPES[rules.kind])
    prop["x-sql-type"] = item.sql_type
    if rules.nullable:
        prop["type"] = [prop["type"], "null"]
    if rules.lower is not None:
        key = "minimum" if rules.lower.inclusive else "exclusiveMinimum"
        prop[key] = _python_value(rules.lower.value, rules.kind)
    if rules.upper is not None:
        key = "maximum" if rules.upper.inclusive else "exclusiveMaximum"
        prop[key] = _python_value(rules.upper.value, rules.kind)
    if isinstance(item.dtype, pl.Decimal):
        limit = 10 ** (item.dtype.precision - item.dtype.scale)
        prop["x-precision"], prop["x-scale"] = item.dtype.precision, item.dtype.scale
        if rules.upper is None:
            prop["exclusiveMaximum"] = limit
        if rules.lower is None:
            prop["exclusiveMinimum"] = -limit
    if rules.max_length is not None:
        prop["maxLength"] = rules.max_length
    if rules.allowed is not None:
        values = [_python_value(v, rules.kind) for v in rules.allowed]
        prop["enum"] = [*values, None] if rules.nullable else values
    if len(rules.patterns) == 1:
        prop["pattern"] = anchored(rules.patterns[0][0])
    elif rules.patterns:
        prop["allOf"] = [{"pattern": anchored(p)} for p, _ in rules.patterns]
    if rules.unique:
        prop["x-unique"] = True
    return prop


def render_json_schema(spec: ModelSpec) -> dict[str, Any]:
    """A draft 2020-12 schema for one row. Uniqueness across rows (which JSON Schema cannot state
    for a key) is carried as `x-primary-key` / `x-unique` annotations."""
    schema: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": spec.table,
        "description": f"One row of `{spec.table}`, generated by `dat db model`.",
        "type": "object",
        "properties": {item.name: _json_property(item) for item in spec.fields},
        "required": [item.name for item in spec.fields],
        "additionalProperties": False,
        "x-primary-key": list(spec.primary_key),
        "x-unique": [list(cols) for cols in spec.unique_together],
        "x-constraints": list(spec.constraints),
    }
    return schema


def rows_for_json(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON values: dates and datetimes as ISO strings, decimals as numbers, binary as
    base64 (the representation the JSON Schema describes)."""
    converted = []
    for row in frame.to_dicts():
        item = {}
        for key, value in row.items():
            if isinstance(value, Decimal):
                value = (
                    int(value)
                    if value == value.to_integral_value() and value.as_tuple().exponent >= 0
                    else float(value)
                )
            elif isinstance(value, bytes):
                value = base64.b64encode(value).decode("ascii")
            elif hasattr(value, "isoformat"):
                value = value.isoformat()
            item[key] = value
        converted.append(item)
    return converted


def write_model(spec: ModelSpec, out_dir: Path) -> dict[str, Path]:
    """Write `<table>_model.py` and `<table>.schema.json` into `out_dir` (atomically)."""
    stem = re.sub(r"\W", "_", spec.table.split(".")[-1]).lower() or "table"
    out_dir = Path(out_dir)
    python_path = write_text_atomic(out_dir / f"{stem}_model.py", render_pandera(spec))
    schema_path = write_text_atomic(
        out_dir / f"{stem}.schema.json",
        json.dumps(render_json_schema(spec), indent=2, ensure_ascii=False) + "\n",
    )
    return {"pandera": python_path, "json_schema": schema_path}


# -- validation ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ValidationReport:
    """How a sample of rows fared against the model."""

    rows: int
    valid_rows: int
    failures: tuple[dict[str, Any], ...]

    @property
    def score(self) -> float:
        return 1.0 if self.rows == 0 else self.valid_rows / self.rows

    def passed(self, threshold: float) -> bool:
        return self.score >= threshold

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "valid_rows": self.valid_rows,
            "score": round(self.score, 6),
            "failures": [dict(f) for f in self.failures],
        }


def validate_frame(
    spec: ModelSpec, frame: pl.DataFrame, model: type | None = None, examples: int = 5
) -> ValidationReport:
    """Validate `frame` with the generated pandera model; a row is valid when no check fails on it.

    Failures are grouped by column and check, each with up to `examples` offending rows.
    """
    import pandera.errors
    import pandera.polars as pa  # noqa: F401  (the generated model imports it too)

    model = model or load_model(render_pandera(spec), spec.class_name)
    try:
        model.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return ValidationReport(rows=frame.height, valid_rows=frame.height, failures=())
    whole_frame = cases.filter(pl.col("index").is_null()).height > 0
    bad_rows = set(cases["index"].drop_nulls().to_list())
    failures = []
    grouped = cases.group_by(["column", "check"], maintain_order=True).agg(
        pl.col("index").drop_nulls().unique(maintain_order=True).alias("rows"),
        pl.col("failure_case").head(examples).alias("values"),
    )
    for column, check, rows, values in grouped.iter_rows():
        sample = frame[sorted(rows)[:examples]] if rows else frame.head(0)
        failures.append(
            {
                "column": column,
                "check": check,
                "failing_rows": len(rows) if rows else frame.height,
                "values": [str(v) for v in values],
                "examples": rows_for_json(sample),
            }
        )
    valid = 0 if whole_frame else frame.height - len(bad_rows)
    return ValidationReport(rows=frame.height, valid_rows=valid, failures=tuple(failures))


__all__ = [
    "NUMERIC_KINDS",
    "FieldSpec",
    "ModelSpec",
    "ValidationReport",
    "anchored",
    "build_model_spec",
    "load_model",
    "render_json_schema",
    "render_pandera",
    "rows_for_json",
    "validate_frame",
    "write_model",
]
