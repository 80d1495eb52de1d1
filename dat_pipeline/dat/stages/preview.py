"""preview: the first rows of each selected table after column mappings and cleaning rules.

Reads only the first `limit` rows of each table (default `DAT_PREVIEW_ROW_LIMIT`), applies the
table's column mapping, runs the cleaning rules and returns one frame: `_source_file`,
`_source_table`, `_row_number` (0-based row of the table), `_kept`, one boolean verdict column per
rule (null where the rule does not apply to that table), then the data columns as text, unioned
by name. Kept rows show values after the rules' transforms; dropped rows show them as read.
Optional: skipping it cascades nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from pydantic import Field, field_validator

from dat_pipeline.adapters import AdapterError
from dat_pipeline.cleaning import RuleError, apply_rules
from dat_pipeline.cleaning.rules import ROW_NUMBER
from dat_pipeline.dat.stages.base import StageConfig, StageInputs, StageSpec
from dat_pipeline.dat.stages.tables import (
    SelectedTable,
    apply_mapping,
    relative_message,
    rule_label_map,
    rule_labels,
    rules_for,
    selected_tables,
    selection_rules,
)
from dat_pipeline.errors import DatError
from dat_pipeline.names import SOURCE_FILE, SOURCE_TABLE
from dat_pipeline.settings import get_settings

KEPT = "_kept"
PREFIX = {SOURCE_FILE: pl.String, SOURCE_TABLE: pl.String, ROW_NUMBER: pl.Int64, KEPT: pl.Boolean}


class PreviewConfig(StageConfig):
    limit: int | None = Field(
        None,
        gt=0,
        validate_default=True,
        description="Rows per table; default DAT_PREVIEW_ROW_LIMIT (50).",
    )

    @field_validator("limit")
    @classmethod
    def _default_limit(cls, limit: int | None) -> int:
        """Resolve the default here, so the limit in force is part of the stage id."""
        return limit or get_settings().preview_row_limit


def first_rows(table: SelectedTable, data_root: Path, limit: int) -> pl.DataFrame | None:
    """The first `limit` rows of a selected table (one chunk of its stream); None when it has none."""
    source = table.source(data_root)
    try:
        return _first_chunk(table, source, limit)
    except FileNotFoundError:
        raise DatError(
            f"preview of {table.label} failed: {table.path} no longer exists (deleted or moved "
            "since table_availability); restore it, or unlock and re-lock table_availability"
        ) from None
    except (AdapterError, OSError) as exc:
        # Adapter messages already name the file and table; OS errors only the (absolute) path.
        message = relative_message(str(exc), source, table.path)
        raise DatError(f"preview of {table.label} failed: {message}") from None


def _first_chunk(table: SelectedTable, source: Path, limit: int) -> pl.DataFrame | None:
    chunks = table.reader().stream(source, table.table, chunk_rows=limit, **table.read_options)
    try:
        head = next(iter(chunks), None)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # release the reader (and any temporary transcoded copy) now
    return None if head is None else head.head(limit)


def _as_text(series: pl.Series) -> pl.Series:
    """A column as text; nested values (lists, structs) as JSON."""
    try:
        return series.cast(pl.String)
    except pl.exceptions.PolarsError:
        values = [None if v is None else json.dumps(v, default=str) for v in series.to_list()]
        return pl.Series(series.name, values, dtype=pl.String)


def _text_frame(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        [frame.get_column(ROW_NUMBER), *(_as_text(frame.get_column(c)) for c in columns)]
    )


def preview_table(
    table: SelectedTable, head: pl.DataFrame, rules: list, where: str | None = None
) -> pl.DataFrame:
    """Mapping, rules and verdicts for the first rows of one table (see the module docstring)."""
    where = where or table.label
    mapped = apply_mapping(head, table.mapping, where)
    clashes = [c for c in mapped.columns if c in PREFIX]
    if clashes:
        raise DatError(
            f"{where}: column(s) {', '.join(clashes)} clash with the preview's own columns; "
            "rename them with column_mappings in table_selection"
        )
    applicable = rules_for(mapped.columns, rules)
    try:
        result = apply_rules(mapped, applicable)
    except (RuleError, ValueError) as exc:
        raise DatError(f"{where}: {exc}") from None
    data = pl.concat(
        [
            _text_frame(result.kept, mapped.columns),
            _text_frame(result.rejects, mapped.columns),
        ]
    )
    verdicts = result.verdicts.rename(rule_label_map(mapped.columns, rules))
    return (
        verdicts.join(data, on=ROW_NUMBER, how="left", maintain_order="left")
        .with_columns(
            pl.lit(table.path, pl.String).alias(SOURCE_FILE),
            pl.lit(table.table, pl.String).alias(SOURCE_TABLE),
        )
        .sort(ROW_NUMBER)
    )


def preview(inputs: StageInputs, config: PreviewConfig) -> pl.DataFrame:
    """Preview every selected table into one frame (union by column name)."""
    limit = config.limit
    tables = selected_tables(inputs.upstream("table_selection"))
    rules = selection_rules(inputs.upstream_configs.get("table_selection"))
    labels = rule_labels(rules)
    frames = []
    data_columns: list[str] = []
    for table in tables:
        inputs.raise_if_cancelled()
        head = first_rows(table, inputs.data_root, limit)
        if head is None:
            inputs.log(f"{table.label}: no rows to preview")
            data_columns += [c.name for c in table.columns if c.name not in data_columns]
            continue
        frame = preview_table(table, head, rules)
        data_columns += [
            c
            for c in frame.columns
            if c not in PREFIX and c not in labels and c not in data_columns
        ]
        kept = frame.get_column(KEPT).sum()
        inputs.log(f"{table.label}: {frame.height} row(s) previewed, {kept} kept")
        frames.append(frame)
    empty = pl.DataFrame(
        schema={
            **PREFIX,
            **dict.fromkeys(labels, pl.Boolean),
            **dict.fromkeys(data_columns, pl.String),
        }
    )
    return pl.concat([empty, *frames], how="diagonal").select(empty.columns)


SPEC = StageSpec(
    name="preview",
    config_model=PreviewConfig,
    compute=preview,
    description=__doc__ or "",
)
