"""export: write the run's DataSet and its manifest, and register it in the DuckDB warehouse.

The dataset goes to `<data root>/datasets/<dataset_id>/`: `data.parquet` always, plus the
requested formats (`data.csv`, `data.xlsx`, `data.json`), and `manifest.json` (columns, row count,
lineage: each source file and table with its sha256 and the stage ids of the run). With
aggregation levels, rows are grouped by those columns and every numeric column becomes
`<col>_mean`, `<col>_std` and `<col>_count`. The dataset id is a hash of the export inputs, so the
same inputs give the same id. The warehouse view is `datasets."<dataset_id>"`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl
import pyarrow.parquet as pq
from pydantic import Field, field_validator

from dat_pipeline import ids
from dat_pipeline.dat.stages.base import StageConfig, StageInputs, StageSpec
from dat_pipeline.dat.stages.parse import dataset_file, table_rows
from dat_pipeline.dat.warehouse import register_dataset
from dat_pipeline.errors import DatError, StageConfigError
from dat_pipeline.files import atomic_path, write_text_atomic
from dat_pipeline.paths import relative_to_root

FORMATS = ("parquet", "csv", "excel", "json")
FILE_NAMES = {
    "parquet": "data.parquet",
    "csv": "data.csv",
    "excel": "data.xlsx",
    "json": "data.json",
}
EXCEL_MAX_ROWS = 1_048_575  # one row of the sheet holds the header
_XML_ILLEGAL = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"

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
        description="Files to write besides data.parquet (always written): csv, excel, json.",
    )
    aggregation_levels: list[str] | None = Field(
        None, description="Group by these columns; numeric columns become mean, std and count."
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


def _parse_dataset(inputs: StageInputs) -> tuple[pl.DataFrame, Path]:
    artifact = inputs.upstream("parse")
    return artifact, inputs.data_root / dataset_file(artifact)


def check(inputs: StageInputs, config: ExportConfig) -> None:
    """Aggregation levels must be columns of the parsed dataset."""
    if not config.aggregation_levels:
        return
    _, dataset = _parse_dataset(inputs)
    columns = pl.read_parquet_schema(dataset).names()
    unknown = [level for level in config.aggregation_levels if level not in columns]
    if unknown:
        raise StageConfigError(
            f"export aggregation_levels: no column {', '.join(map(repr, unknown))} in the parsed "
            f"dataset {relative_to_root(inputs.data_root, dataset)}; columns: {', '.join(columns)}"
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


def _flat(schema: pl.Schema, for_excel: bool = False) -> list[pl.Expr]:
    """Columns as CSV/Excel can hold them: nested values as text, Excel-safe strings and times."""
    exprs = []
    for name, dtype in schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.List | pl.Array):
            column = column.list.eval(pl.element().cast(pl.String)).list.join("; ")
        elif isinstance(dtype, pl.Struct):
            column = column.struct.json_encode()
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


def _write_excel(data: Path, target: Path, rows: int) -> None:
    from openpyxl import Workbook  # imported here: only exports to Excel need it

    if rows > EXCEL_MAX_ROWS:
        raise DatError(
            f"the dataset has {rows:,} rows, more than an Excel sheet holds "
            f"({EXCEL_MAX_ROWS:,}); drop `excel` from export formats or aggregate first"
        )
    schema = pl.read_parquet_schema(data)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("data")
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


def _profile_id(inputs: StageInputs) -> str | None:
    """The profile of the run, as the selection stage recorded it."""
    selection_id = inputs.locked_ids.get("selection")
    if selection_id is None or not inputs.artifacts.exists(
        inputs.run_id, "selection", selection_id
    ):
        return None
    column = inputs.artifacts.read(inputs.run_id, "selection", selection_id).get_column(
        "profile_id", default=None
    )
    values = [] if column is None else column.drop_nulls().unique().to_list()
    return values[0] if values else None


def _lineage(inputs: StageInputs, artifact: pl.DataFrame) -> list[dict[str, Any]]:
    stage_ids = dict(sorted(inputs.locked_ids.items()))
    return [
        {
            "source_file": row["path"],
            "table": row["table"],
            "file_checksum": row["source_sha256"],
            "rows": row["rows"],
            "stage_ids": stage_ids,
        }
        for row in table_rows(artifact).iter_rows(named=True)
    ]


def compute(inputs: StageInputs, config: ExportConfig) -> pl.DataFrame:
    check(inputs, config)
    artifact, dataset = _parse_dataset(inputs)
    normalized = config.model_dump(mode="json")
    dataset_id = ids.dataset_id(ids.stage_inputs(normalized, inputs.upstream_ids))
    name = config.name or inputs.run_id
    folder = inputs.data_root / "datasets" / dataset_id
    data = folder / FILE_NAMES["parquet"]

    frame = pl.scan_parquet(dataset)
    if config.aggregation_levels:
        frame = aggregate(frame, config.aggregation_levels)
    with atomic_path(data) as tmp:
        frame.sink_parquet(tmp, compression="zstd")
    rows = pq.ParquetFile(data).metadata.num_rows
    inputs.log(f"export: {relative_to_root(inputs.data_root, data)} written, {rows:,} rows")
    for fmt in config.formats:
        target = folder / FILE_NAMES[fmt]
        if fmt == "csv":
            _write_csv(data, target)
        elif fmt == "json":
            _write_json(data, target)
        elif fmt == "excel":
            _write_excel(data, target, rows)
        inputs.raise_if_cancelled()
    files = {
        fmt: relative_to_root(inputs.data_root, folder / FILE_NAMES[fmt]) for fmt in config.formats
    }

    manifest = {
        "dataset_id": dataset_id,
        "name": name,
        "created_at": datetime.now(UTC).isoformat(),
        "created_by_tool": "dat",
        "run_id": inputs.run_id,
        "columns": _columns(data),
        "row_count": rows,
        "aggregation_levels": config.aggregation_levels,
        "lineage": _lineage(inputs, artifact),
        "profile_id": _profile_id(inputs),
        "formats": config.formats,
        "files": files,
    }
    manifest_path = folder / "manifest.json"
    # Written last: a manifest means every file it lists is complete.
    write_text_atomic(manifest_path, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    view = register_dataset(dataset_id, data)
    inputs.log(f"export: dataset {dataset_id} ({name}) registered in the warehouse as {view}")
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
