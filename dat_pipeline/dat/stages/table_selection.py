"""table_selection: the tables this run parses, with column mappings and cleaning rules.

`tables` maps a file to the tables to take from it (`["*"]`: every available table of it); a file
key may be a glob (`sample/sales_*.csv`) standing for every matching probed file. Only tables that
table_availability found `available` or `partial` can be selected, and tables whose probe timed
out (parse reads them whole; mappings and rules apply to the columns found then).
`column_mappings` renames (or, mapped to null, drops) a source column in every selected table that
has it. `header_rows` says where a CSV's or a sheet's header is when the probe's guess is wrong.
`rules` are the cleaning rules (SPEC 2.3) that preview and parse run on the mapped columns; each
rule applies to the tables that have all of its columns."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
from typing import Any

import polars as pl
from pydantic import Field, field_validator

from dat_pipeline.adapters import AdapterError, ColumnInfo, get_adapter
from dat_pipeline.adapters.base import HeaderRows, columns_of
from dat_pipeline.cleaning import RuleError, check_rules_against_schema, parse_rules
from dat_pipeline.dat.stages.base import StageConfig, StageInputs, StageSpec
from dat_pipeline.dat.stages.tables import (
    ALL_TABLES,
    applies_to,
    columns_from_json,
    columns_to_json,
    dry_run_rules,
    is_selectable,
    mapped_columns,
    relative_message,
    source_path,
)
from dat_pipeline.datasets.tables import union_groups
from dat_pipeline.errors import StageConfigError
from dat_pipeline.paths import PathEscapeError, normalize_relative

SELECTION_SCHEMA = {
    "path": pl.String,
    "table": pl.String,
    "adapter": pl.String,
    "format": pl.String,
    "columns": pl.String,
    "mapping": pl.String,
    "row_estimate": pl.Int64,
    "union_group": pl.Int64,
    "header_rows": pl.String,
    "size_bytes": pl.Int64,
    "modified_ns": pl.Int64,
}
# Adapters whose `read` and `stream` take a header position.
HEADER_ADAPTERS = ("csv", "excel")


class HeaderRowsConfig(StageConfig):
    header_row: int = Field(
        1, ge=1, description="Line (CSV) or sheet row (Excel) of the column names, from 1."
    )
    skip_rows: int = Field(0, ge=0, description="Lines right below the header to skip (units).")


class TableSelectionConfig(StageConfig):
    tables: dict[str, list[str]] = Field(
        min_length=1,
        description='File (relative to the data root) -> its tables to parse; ["*"] takes every '
        "available table of the file.",
    )
    column_mappings: dict[str, str | None] = Field(
        default_factory=dict,
        description="Source column -> new name (null drops it), in every selected table that has it.",
    )
    rules: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Cleaning rules (see `dat rules templates`), run by preview and parse.",
    )
    header_rows: dict[str, HeaderRowsConfig] = Field(
        default_factory=dict,
        description='"file:table" -> {header_row, skip_rows}: where the header is, when the '
        "probe's guess (it skips '#' preamble lines and title rows) is wrong.",
    )
    union: list[list[str]] = Field(
        default_factory=list,
        description='Groups of "file:table" (globs allowed) that export unions into one '
        "dataset table whatever their columns (tables with the same columns are unioned anyway).",
    )

    @field_validator("tables")
    @classmethod
    def _relative_files(cls, tables: dict[str, list[str]]) -> dict[str, list[str]]:
        normalized: dict[str, list[str]] = {}
        for raw, names in tables.items():
            try:
                path = normalize_relative(raw)
            except PathEscapeError as exc:
                raise ValueError(str(exc)) from None
            if not names:
                raise ValueError(f'{path}: give at least one table, or ["*"] for all of them')
            if ALL_TABLES in names and len(names) > 1:
                raise ValueError(f'{path}: "*" already takes every table; give it alone')
            normalized.setdefault(path, [])
            normalized[path] += [n for n in names if n not in normalized[path]]
        return normalized

    @field_validator("column_mappings")
    @classmethod
    def _named_targets(cls, mappings: dict[str, str | None]) -> dict[str, str | None]:
        blank = [
            source
            for source, target in mappings.items()
            if target is not None and not target.strip()
        ]
        if blank:
            raise ValueError(
                f"column(s) {', '.join(map(repr, blank))} map to an empty name; give a name, "
                "or null to drop the column"
            )
        return mappings

    @field_validator("rules")
    @classmethod
    def _valid_rules(cls, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            parse_rules(rules)
        except RuleError as exc:
            raise ValueError(str(exc)) from None
        return rules


def _is_pattern(key: str) -> bool:
    return any(char in key for char in "*?[")


def _expand_patterns(
    availability: pl.DataFrame, tables: dict[str, list[str]]
) -> dict[str, list[str]]:
    """File keys that are globs (`sample/*.csv`) stand for every probed file they match that has
    an available table; that keeps a config valid when the selection later loses a file."""
    probed = sorted(
        {row["path"] for row in availability.iter_rows(named=True) if is_selectable(row)}
    )
    expanded: dict[str, list[str]] = {}
    for key, names in tables.items():
        matches = [p for p in probed if fnmatch.fnmatchcase(p, key)] if _is_pattern(key) else [key]
        for path in matches:
            merged = expanded.setdefault(path, [])
            merged += [n for n in names if n not in merged]
    return {
        path: [ALL_TABLES] if ALL_TABLES in names else names for path, names in expanded.items()
    }


def _pick_tables(availability: pl.DataFrame, path: str, names: list[str]) -> list[dict]:
    """The availability rows of `names` in `path`, or a StageConfigError that says why not."""
    rows = availability.filter(pl.col("path") == path).to_dicts()
    if not rows:
        known = sorted(set(availability["path"].to_list()))
        raise StageConfigError(
            f"table_selection names file {path!r}, which table_availability did not probe "
            f"(probed files: {', '.join(known) or '(none)'}); add it to selection first"
        )
    by_table = {row["table"]: row for row in rows if row["table"] is not None}
    if names == [ALL_TABLES]:
        chosen = [row for row in by_table.values() if is_selectable(row)]
        if not chosen:
            problems = "; ".join(
                f"{r['table'] or '(file)'}: {r['status']} {r['error'] or ''}".strip() for r in rows
            )
            raise StageConfigError(
                f"table_selection: {path} has no available table ({problems}); "
                "fix the file or remove it from the selection"
            )
        return chosen
    chosen = []
    for name in names:
        row = by_table.get(name)
        if row is None:
            file_row = next((r for r in rows if r["table"] is None), None)
            if file_row is not None:
                raise StageConfigError(
                    f"table_selection: {path} table {name!r} cannot be selected: the file is "
                    f"{file_row['status']} ({file_row['error']})"
                )
            raise StageConfigError(
                f"table_selection: {path} has no table {name!r}; its tables are "
                f"{', '.join(map(repr, by_table))}"
            )
        if not is_selectable(row):
            raise StageConfigError(
                f"table_selection: {path} table {name!r} is {row['status']}, not available"
                + (f" ({row['error']})" if row["error"] else "")
                + "; fix the file and re-lock table_availability, or drop the table"
            )
        chosen.append(row)
    return chosen


def _check_mapping_sources(chosen: list[dict], mappings: dict[str, str | None]) -> None:
    available: list[str] = []
    for row in chosen:
        available += [c.name for c in columns_from_json(row["columns"]) if c.name not in available]
    unknown = [source for source in mappings if source not in available]
    if unknown:
        raise StageConfigError(
            f"column_mappings name column(s) {', '.join(map(repr, unknown))} that no selected "
            f"table has; available columns: {', '.join(available)}"
        )


def _mapped(row: dict, mappings: dict[str, str | None]) -> tuple[list[ColumnInfo], dict]:
    columns = columns_from_json(row["columns"])
    mapping = {c.name: mappings[c.name] for c in columns if c.name in mappings}
    after = mapped_columns(columns, mapping)
    where = f"{row['path']} table {row['table']!r}"
    if not columns:  # the probe timed out: the columns are known only when parse reads it
        return after, mapping
    if not after:
        raise StageConfigError(f"column_mappings drop every column of {where}; keep at least one")
    names = [c.name for c in after]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        sources = {
            dup: [c.name for c in columns if (mapping.get(c.name, c.name) == dup)]
            for dup in duplicates
        }
        detail = "; ".join(
            f"{dup!r} from {', '.join(map(repr, src))}" for dup, src in sources.items()
        )
        raise StageConfigError(
            f"column_mappings give {where} the same column name twice ({detail}); "
            "map them to distinct names or drop one"
        )
    return after, mapping


def _apply_header_rows(
    inputs: StageInputs, chosen: list[dict], header_rows: dict[str, HeaderRowsConfig]
) -> list[dict]:
    """Re-read the first rows of each table with a header override: its columns change."""
    by_key = {f"{row['path']}:{row['table']}": row for row in chosen}
    unknown = [key for key in header_rows if key not in by_key]
    if unknown:
        raise StageConfigError(
            f"table_selection header_rows names {', '.join(map(repr, unknown))}, not selected "
            f'tables; use "file:table" of a selected table, e.g. {next(iter(by_key))!r}'
        )
    result = []
    for key, row in by_key.items():
        override = header_rows.get(key)
        if override is None:
            result.append(row)
            continue
        if row["adapter"] not in HEADER_ADAPTERS:
            raise StageConfigError(
                f"table_selection header_rows {key!r}: a {row['format']} table has no header "
                f"rows to set; header_rows applies to {' and '.join(HEADER_ADAPTERS)} tables"
            )
        header = HeaderRows(override.header_row, override.skip_rows)
        source = source_path(inputs.data_root, row["path"])
        try:
            chunks = get_adapter(row["adapter"]).stream(
                source, row["table"], chunk_rows=1000, header=header
            )
            first = next(iter(chunks), None)
            getattr(chunks, "close", lambda: None)()
        except (AdapterError, OSError) as exc:
            message = relative_message(str(exc), source, row["path"])
            raise StageConfigError(f"table_selection header_rows {key!r}: {message}") from None
        columns = columns_of(first.schema) if first is not None else []
        result.append(
            {
                **row,
                "columns": columns_to_json(columns),
                "header_rows": json.dumps(dataclasses.asdict(header)),
            }
        )
    return result


def select_tables(inputs: StageInputs, config: TableSelectionConfig) -> pl.DataFrame:
    """Validate the config against the availability artifact and build the selection artifact."""
    availability = inputs.upstream("table_availability")
    chosen = [
        row
        for path, names in _expand_patterns(availability, config.tables).items()
        for row in _pick_tables(availability, path, names)
    ]
    if not chosen:
        raise StageConfigError(
            f"table_selection: the patterns {sorted(config.tables)} match no probed file with an "
            "available table; check them against table_availability"
        )
    chosen = _apply_header_rows(inputs, chosen, config.header_rows)
    _check_mapping_sources(chosen, config.column_mappings)
    mapped = [(row, *_mapped(row, config.column_mappings)) for row in chosen]
    union: list[str] = []
    for _, after, _ in mapped:
        union += [c.name for c in after if c.name not in union]
    rules = parse_rules(config.rules)
    try:
        check_rules_against_schema(rules, union)
    except RuleError as exc:
        raise StageConfigError(f"table_selection rules: {exc} (after column_mappings)") from None
    for index, rule in enumerate(rules):
        if not any(applies_to(rule, [c.name for c in after]) for _, after, _ in mapped):
            raise StageConfigError(
                f"table_selection rules: rule {index} ({rule.type}, {rule.target}) needs columns "
                f"{', '.join(map(repr, rule.columns))} in one table, and no selected table has "
                "them all; split the rule or map the columns to the same table"
            )
    rows = []
    for row, after, mapping in mapped:
        where = f"table_selection rules on {row['path']} table {row['table']!r}"
        dry_run_rules(after, rules, where)
        rows.append(
            {
                "path": row["path"],
                "table": row["table"],
                "adapter": row["adapter"],
                "format": row["format"],
                "columns": columns_to_json(after),
                "mapping": json.dumps(mapping, ensure_ascii=False),
                "row_estimate": row["row_estimate"],
                "header_rows": row.get("header_rows"),
                "size_bytes": row.get("size_bytes"),
                "modified_ns": row.get("modified_ns"),
            }
        )
    groups = union_groups(config.union, [(row["path"], row["table"]) for row in rows])
    for row, group in zip(rows, groups, strict=True):
        row["union_group"] = group
    return pl.DataFrame(rows, schema=SELECTION_SCHEMA)


def check(inputs: StageInputs, config: TableSelectionConfig) -> None:
    select_tables(inputs, config)


def compute(inputs: StageInputs, config: TableSelectionConfig) -> pl.DataFrame:
    selected = select_tables(inputs, config)
    for row in selected.iter_rows(named=True):
        inputs.log(f"selected {row['path']} table {row['table']!r} (~{row['row_estimate']} rows)")
    return selected


SPEC = StageSpec(
    name="table_selection",
    config_model=TableSelectionConfig,
    compute=compute,
    check=check,
    description=__doc__ or "",
)
