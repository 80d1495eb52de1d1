"""export: write the run's DataSet and its manifest, and register it in the DuckDB warehouse.

A DataSet is multi-table (`dat_pipeline.datasets.tables`): parsed tables with the same columns
(after mappings) are unioned, or those named together in table_selection's `union`; every other
table stays a table of its own. It goes to `<data root>/datasets/<dataset_id>/`: one Parquet file
per table always (`data.parquet` when the dataset has one table, `<table>.parquet` otherwise),
plus the requested formats per table (`.csv`, `.json`) and one workbook `data.xlsx` with a sheet
per table; then `manifest.json` (its `tables`, columns, the total row count, lineage: each source
file and table with its checksum and the stage ids of the run). With aggregation levels, each
table that has those columns is grouped by them and its numeric columns become `<col>_mean`,
`<col>_std` and `<col>_count`. The dataset id is a hash of the export inputs, so the same inputs
give the same id. The warehouse views are `datasets."<dataset_id>"` for a one-table dataset and
`datasets."<dataset_id>__<table>"` for each table otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl
import pyarrow.parquet as pq
from pydantic import Field, field_validator

from dat_pipeline import ids
from dat_pipeline.adapters.database import split_checksum, split_db_path
from dat_pipeline.dat.stages.base import StageConfig, StageInputs, StageSpec
from dat_pipeline.dat.stages.parse import table_rows
from dat_pipeline.dat.warehouse import register_dataset
from dat_pipeline.datasets.tables import DatasetTable, PartTable, plan_tables
from dat_pipeline.errors import DatError, StageConfigError
from dat_pipeline.files import atomic_path, write_text_atomic
from dat_pipeline.names import SOURCE_FILE, SOURCE_TABLE
from dat_pipeline.paths import is_db_path, relative_to_root

FORMATS = ("parquet", "csv", "excel", "json")
EXTENSIONS = {"parquet": "parquet", "csv": "csv", "json": "json"}
WORKBOOK = "data.xlsx"
EXCEL_MAX_ROWS = 1_048_575  # one row of the sheet holds the header
_XML_ILLEGAL = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"
_SHEET_ILLEGAL = str.maketrans({char: "_" for char in "[]:*?/\\"})

ARTIFACT_SCHEMA = {
    "dataset_id": pl.String,
    "name": pl.String,
    "row_count": pl.Int64,
    "manifest_path": pl.String,
    "formats": pl.String,
    "files": pl.String,
}


class ExportConfig(StageConfig):
    formats: list[Literal["parquet", "csv", "excel", "json"]] = Field(
        default_factory=lambda: ["parquet"],
        description="Files to write besides the Parquet files (always written): csv, excel, json.",
    )
    aggregation_levels: list[str] | None = Field(
        None,
        description="Group each table that has these columns by them; numeric columns become "
        "mean, std and count.",
    )
    name: str | None = Field(None, description="Dataset name (default: the run id).")

    @field_validator("formats", mode="before")
    @classmethod
    def _known_formats(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            return value
        lowered = [item.strip().lower() if isinstance(item, str) else item for item in value]
        unknown = [item for item in lowered if item not in FORMATS]
        if unknown:
            raise ValueError(
                f"unknown export format {', '.join(map(repr, unknown))}; valid formats: "
                f"{', '.join(FORMATS)}"
            )
        return lowered

    @field_validator("formats")
    @classmethod
    def _parquet_first(cls, value: list[str]) -> list[str]:
        return [fmt for fmt in FORMATS if fmt == "parquet" or fmt in value]

    @field_validator("aggregation_levels")
    @classmethod
    def _unique_levels(cls, value: list[str] | None) -> list[str] | None:
        if not value:
            return None
        return list(dict.fromkeys(value))


def _union_groups(inputs: StageInputs) -> dict[tuple[str, str], int]:
    """The union group of each selected table, as table_selection recorded it."""
    selection_id = inputs.locked_ids.get("table_selection")
    if selection_id is None or not inputs.artifacts.exists(
        inputs.run_id, "table_selection", selection_id
    ):
        return {}
    selection = inputs.artifacts.read(inputs.run_id, "table_selection", selection_id)
    if "union_group" not in selection.columns:
        return {}
    return {
        (row["path"], row["table"]): row["union_group"]
        for row in selection.iter_rows(named=True)
        if row["union_group"] is not None
    }


def _plan(inputs: StageInputs) -> tuple[pl.DataFrame, list[DatasetTable]]:
    """The parse artifact and the dataset tables its extracted tables make."""
    artifact = table_rows(inputs.upstream("parse"))
    groups = _union_groups(inputs)
    parts = []
    for row in artifact.iter_rows(named=True):
        if row["output"] is None or row["status"] == "error":
            continue
        output = inputs.data_root / row["output"]
        columns = tuple(
            name for name in pq.read_schema(output).names if name not in (SOURCE_FILE, SOURCE_TABLE)
        )
        key = (row["path"], row["table"])
        parts.append(PartTable(row["path"], row["table"], output, columns, groups.get(key)))
    if not parts:
        raise StageConfigError(
            f"export of run {inputs.run_id}: parse extracted no table; fix the failed tables "
            f"and re-run parse (dat materialize {inputs.run_id} --stage parse)"
        )
    return artifact, plan_tables(parts)


def _columns_of(table: DatasetTable) -> list[str]:
    names: list[str] = []
    for part in table.parts:
        names += [name for name in part.columns if name not in names]
    return names


def check(inputs: StageInputs, config: ExportConfig) -> None:
    """Aggregation levels must be columns of at least one table of the dataset."""
    if not config.aggregation_levels:
        return
    _, tables = _plan(inputs)
    every = {SOURCE_FILE, SOURCE_TABLE}
    for table in tables:
        columns = _columns_of(table)
        every |= set(columns)
        if all(
            level in columns or level in (SOURCE_FILE, SOURCE_TABLE)
            for level in config.aggregation_levels
        ):
            return
    unknown = [level for level in config.aggregation_levels if level not in every]
    detail = (
        f"no column {', '.join(map(repr, unknown))} in the parsed dataset"
        if unknown
        else "no table of the parsed dataset has them all"
    )
    raise StageConfigError(
        f"export aggregation_levels: {detail}; tables: "
        + "; ".join(f"{t.name} ({', '.join(_columns_of(t))})" for t in tables)
    )


def aggregate(frame: pl.LazyFrame, levels: list[str]) -> pl.LazyFrame:
    """Group by `levels`; each other numeric column becomes `<col>_mean`, `_std` and `_count`."""
    schema = frame.collect_schema()
    numeric = [name for name, dtype in schema.items() if dtype.is_numeric() and name not in levels]
    aggregations = [
        expr
        for name in numeric
        for expr in (
            pl.col(name).mean().alias(f"{name}_mean"),
            pl.col(name).std().alias(f"{name}_std"),
            pl.col(name).count().cast(pl.Int64).alias(f"{name}_count"),
        )
    ]
    return frame.group_by(levels).agg(aggregations).sort(levels, nulls_last=True)


def _json_text(column: pl.Expr) -> pl.Expr:
    """A nested value as JSON text (keys kept), null as null."""
    wrapped = pl.struct(column.alias("v")).struct.json_encode()
    return pl.when(column.is_not_null()).then(
        wrapped.str.strip_prefix('{"v":').str.strip_suffix("}")
    )


def _flat(schema: pl.Schema, for_excel: bool = False) -> list[pl.Expr]:
    """Columns as CSV/Excel can hold them: nested values as JSON text, Excel-safe strings and
    times."""
    exprs = []
    for name, dtype in schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.List | pl.Array | pl.Struct):
            column = _json_text(column)
        elif isinstance(dtype, pl.Binary):
            column = column.bin.encode("hex")
        elif for_excel and isinstance(dtype, pl.Datetime) and dtype.time_zone:
            column = column.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        elif for_excel and dtype.is_float():
            column = pl.when(column.is_finite()).then(column)
        elif for_excel and dtype == pl.String:
            column = column.str.replace_all(_XML_ILLEGAL, "")
        exprs.append(column.alias(name))
    return exprs


def _write_csv(data: Path, target: Path) -> None:
    frame = pl.scan_parquet(data)
    with atomic_path(target) as tmp:
        frame.select(_flat(frame.collect_schema())).sink_csv(tmp)


def _write_json(data: Path, target: Path) -> None:
    """A JSON array of row objects, written batch by batch (bounded memory)."""
    with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write("[")
        first = True
        for batch in pq.ParquetFile(data).iter_batches(batch_size=50_000):
            lines = pl.from_arrow(batch).write_ndjson().splitlines()  # type: ignore[union-attr]
            if lines:
                handle.write(("\n" if first else ",\n") + ",\n".join(lines))
                first = False
        handle.write("\n]\n" if not first else "]\n")


def _sheet_names(names: Sequence[str]) -> list[str]:
    """Excel sheet names: at most 31 characters, none of []:*?/\\, unique ignoring case."""
    taken: set[str] = set()
    result = []
    for name in names:
        base = name.translate(_SHEET_ILLEGAL)[:31] or "table"
        candidate, number = base, 2
        while candidate.lower() in taken:
            suffix = f"_{number}"
            candidate, number = base[: 31 - len(suffix)] + suffix, number + 1
        taken.add(candidate.lower())
        result.append(candidate)
    return result


def _write_excel(sheets: Sequence[tuple[str, Path, int]], target: Path) -> None:
    """One workbook, one sheet per (name, Parquet file, rows), written row by row."""
    from openpyxl import Workbook  # imported here: only exports to Excel need it

    too_big = [(name, rows) for name, _, rows in sheets if rows > EXCEL_MAX_ROWS]
    if too_big:
        name, rows = too_big[0]
        raise DatError(
            f"table {name} has {rows:,} rows, more than an Excel sheet holds "
            f"({EXCEL_MAX_ROWS:,}); drop `excel` from export formats or aggregate first"
        )
    workbook = Workbook(write_only=True)
    for name, data, _ in sheets:
        schema = pl.read_parquet_schema(data)
        sheet = workbook.create_sheet(name)
        sheet.append(list(schema.names()))
        for batch in pq.ParquetFile(data).iter_batches(batch_size=50_000):
            frame = pl.from_arrow(batch).select(_flat(schema, for_excel=True))  # type: ignore[union-attr]
            for row in frame.iter_rows():
                sheet.append(list(row))
    with atomic_path(target) as tmp:
        workbook.save(tmp)


def _columns(data: Path) -> list[dict[str, Any]]:
    """Name, dtype and whether the column holds a null (`nullable` is observed, not declared)."""
    frame = pl.scan_parquet(data)
    schema = frame.collect_schema()
    nulls = frame.select(pl.all().null_count()).collect().row(0, named=True) if schema else {}
    return [
        {"name": name, "dtype": str(dtype), "nullable": bool(nulls[name])}
        for name, dtype in schema.items()
    ]


def _all_columns(tables: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The dataset's columns: each (name, dtype) once, nullable when it is in any table."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for table in tables:
        for column in table["columns"]:
            key = (column["name"], column["dtype"])
            if key in merged:
                merged[key]["nullable"] |= column["nullable"]
            else:
                merged[key] = dict(column)
    return list(merged.values())


def _profile_id(inputs: StageInputs) -> str | None:
    """The profile of the run: the selection stage's, else the one the run was created from."""
    selection_id = inputs.locked_ids.get("selection")
    if selection_id is not None and inputs.artifacts.exists(
        inputs.run_id, "selection", selection_id
    ):
        column = inputs.artifacts.read(inputs.run_id, "selection", selection_id).get_column(
            "profile_id", default=None
        )
        values = [] if column is None else column.drop_nulls().unique().to_list()
        if values:
            return values[0]
    return inputs.profile_id


def _lineage(
    inputs: StageInputs, artifact: pl.DataFrame, table_of: dict[tuple[str, str], str]
) -> list[dict[str, Any]]:
    stage_ids = dict(sorted(inputs.locked_ids.items()))
    lineage = []
    for row in artifact.iter_rows(named=True):
        entry = {
            "source_file": row["path"],
            "table": row["table"],
            "file_checksum": row["source_sha256"],
            "rows": row["rows"],
            "dataset_table": table_of.get((row["path"], row["table"])),
            "stage_ids": stage_ids,
        }
        if row["status"] == "error":
            entry["error"] = row["error"]
        if is_db_path(row["path"]):  # a database table: its source and the snapshot read
            source, _ = split_db_path(row["path"])
            checksum, snapshot_at = split_checksum(row["source_sha256"])
            entry.update(
                file_checksum=None,
                source=source,
                extraction_checksum=checksum,
                snapshot_at=snapshot_at,
            )
        lineage.append(entry)
    return lineage


def _frame(table: DatasetTable) -> pl.LazyFrame:
    frames = [
        pl.scan_parquet(part.output).select(
            pl.lit(part.path, pl.String).alias(SOURCE_FILE),
            pl.lit(part.table, pl.String).alias(SOURCE_TABLE),
            pl.exclude(SOURCE_FILE, SOURCE_TABLE),
        )
        for part in table.parts
    ]
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


def _write_table(
    inputs: StageInputs, config: ExportConfig, table: DatasetTable, folder: Path, stem: str
) -> dict[str, Any]:
    """Write one dataset table (Parquet, then CSV/JSON) and describe it for the manifest."""
    root = inputs.data_root
    data = folder / f"{stem}.parquet"
    frame = _frame(table)
    columns = _columns_of(table)
    levels = config.aggregation_levels or []
    aggregated = bool(levels) and all(
        level in columns or level in (SOURCE_FILE, SOURCE_TABLE) for level in levels
    )
    if aggregated:
        frame = aggregate(frame, levels)
    with atomic_path(data) as tmp:
        try:
            frame.sink_parquet(tmp, compression="zstd")
        except pl.exceptions.PolarsError as exc:
            sources = ", ".join(f"{p.path}:{p.table}" for p in table.parts)
            raise DatError(
                f"export: cannot union {sources} into table {table.name}: "
                f"{str(exc).splitlines()[0]}; give the clashing columns one type (CAST rule) "
                "or keep the tables apart (drop them from table_selection's union)"
            ) from None
    rows = pq.ParquetFile(data).metadata.num_rows
    files = {"parquet": relative_to_root(root, data)}
    for fmt in config.formats:
        if fmt in ("csv", "json"):
            target = folder / f"{stem}.{EXTENSIONS[fmt]}"
            (_write_csv if fmt == "csv" else _write_json)(data, target)
            files[fmt] = relative_to_root(root, target)
        inputs.raise_if_cancelled()
    inputs.log(f"export: table {table.name}: {files['parquet']} written, {rows:,} rows")
    return {
        "name": table.name,
        "row_count": rows,
        "columns": _columns(data),
        "sources": [{"source_file": part.path, "table": part.table} for part in table.parts],
        "aggregated": aggregated,
        "files": files,
    }


def compute(inputs: StageInputs, config: ExportConfig) -> pl.DataFrame:
    check(inputs, config)
    artifact, tables = _plan(inputs)
    normalized = config.model_dump(mode="json")
    dataset_id = ids.dataset_id(ids.stage_inputs(normalized, inputs.upstream_ids))
    name = config.name or inputs.run_id
    folder = inputs.data_root / "datasets" / dataset_id
    single = len(tables) == 1

    described = []
    for table in tables:
        described.append(
            _write_table(inputs, config, table, folder, "data" if single else table.name)
        )
    if "excel" in config.formats:
        sheets = _sheet_names(["data"] if single else [t["name"] for t in described])
        workbook = folder / WORKBOOK
        _write_excel(
            [
                (sheet, inputs.data_root / t["files"]["parquet"], t["row_count"])
                for sheet, t in zip(sheets, described, strict=True)
            ],
            workbook,
        )
        for sheet, table in zip(sheets, described, strict=True):
            table["files"]["excel"] = relative_to_root(inputs.data_root, workbook)
            table["sheet"] = sheet
    for table in described:
        parquet = inputs.data_root / table["files"]["parquet"]
        table["view"] = register_dataset(dataset_id, parquet, None if single else table["name"])
    if single:
        files: dict[str, Any] = dict(described[0]["files"])
    else:
        files = {
            fmt: list(dict.fromkeys(t["files"][fmt] for t in described)) for fmt in config.formats
        }
    rows = sum(t["row_count"] for t in described)
    table_of = {(part.path, part.table): table.name for table in tables for part in table.parts}
    manifest = {
        "dataset_id": dataset_id,
        "name": name,
        "created_at": datetime.now(UTC).isoformat(),
        "created_by_tool": "dat",
        "run_id": inputs.run_id,
        "columns": _all_columns(described),
        "row_count": rows,
        "tables": described,
        "aggregation_levels": config.aggregation_levels,
        "lineage": _lineage(inputs, artifact, table_of),
        "profile_id": _profile_id(inputs),
        "formats": config.formats,
        "files": files,
    }
    manifest_path = folder / "manifest.json"
    # Written last: a manifest means every file it lists is complete.
    write_text_atomic(manifest_path, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    views = ", ".join(t["view"] for t in described)
    inputs.log(
        f"export: dataset {dataset_id} ({name}): {len(described)} table(s), {rows:,} rows, "
        f"registered in the warehouse as {views}"
    )
    return pl.DataFrame(
        [
            {
                "dataset_id": dataset_id,
                "name": name,
                "row_count": rows,
                "manifest_path": relative_to_root(inputs.data_root, manifest_path),
                "formats": json.dumps(config.formats),
                "files": json.dumps(files, ensure_ascii=False),
            }
        ],
        schema=ARTIFACT_SCHEMA,
    )


SPEC = StageSpec(
    name="export",
    config_model=ExportConfig,
    compute=compute,
    check=check,
    description=__doc__ or "",
)
