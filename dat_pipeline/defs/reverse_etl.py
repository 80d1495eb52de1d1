"""Dagster layer of reverse ETL (group `reverse_etl`), built from backfill.yaml.

Per configured table:
- `reverse_etl/<name>_model`: introspects the table and writes its pandera model and JSON Schema
  under `<data_root>/models/<name>/` (the functions behind `dat db analyze` / `dat db model`); its
  data version is a hash of the model text, so `backfill/<name>_sample` (which depends on it) and
  the windows after it show as stale in the UI when the model changes;
- `model_valid`, a check on `backfill/<name>` that validates each extracted window of the run
  against the generated model (the file the model asset wrote; generated in memory when there is
  none yet). It fails on any invalid row; below the table's threshold it is an ERROR and blocks
  anything downstream, otherwise a WARN.

Loading reads backfill.yaml (through `defs.backfill`) and nothing else.
"""

import hashlib
import time
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from dat_pipeline.backfill.config import BackfillConfig, BackfillTableConfig
from dat_pipeline.backfill.core import window_path
from dat_pipeline.defs.backfill import (
    BACKFILL_CONFIG,
    BACKFILL_RESOURCE,
    TABLE_TAG,
    BackfillResource,
    asset_key,
    partitions_for,
)
from dat_pipeline.names import OWNERS
from dat_pipeline.reverse_etl.introspect import TableInfo
from dat_pipeline.reverse_etl.model import (
    ModelSpec,
    ValidationReport,
    load_model,
    validate_frame,
    write_model,
)
from dat_pipeline.settings import get_settings

GROUP = "reverse_etl"
CHECK_NAME = "model_valid"
MODEL_CODE_VERSION = "1"


def model_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([GROUP, f"{name}_model"])


def model_dir(data_root: Path, name: str) -> Path:
    return Path(data_root) / "models" / name


def model_code_version(config: BackfillTableConfig) -> str:
    """Changes with what shapes the model: source, table, schema, time column, constraints."""
    body = repr((config.source, config.table, config.db_schema, config.time_column))
    body += repr(config.constraints)
    return f"{MODEL_CODE_VERSION}-{hashlib.sha256(body.encode()).hexdigest()[:12]}"


def _data_root(backfill: BackfillResource) -> Path:
    return Path(backfill.data_root or get_settings().data_root)


def _columns_markdown(info: TableInfo, spec: ModelSpec) -> str:
    rules = {f.name: f.rules for f in spec.fields}
    lines = [
        "| column | SQL type | logical | nullable | default | unique |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for column in info.columns:
        rule = rules[column.name]
        default = "" if column.default is None else f"`{column.default}`"
        lines.append(
            f"| `{column.name}` | {column.sql_type} | {column.logical.kind} | "
            f"{rule.nullable} | {default} | {rule.unique} |"
        )
    return "\n".join(lines)


def _model_metadata(
    info: TableInfo, spec: ModelSpec, paths: dict[str, Path], text: str
) -> dict[str, Any]:
    return {
        "table": info.qualified_name,
        "class_name": spec.class_name,
        "columns": dg.MetadataValue.md(_columns_markdown(info, spec)),
        "primary_key": dg.MetadataValue.json(list(info.primary_key)),
        "foreign_keys": dg.MetadataValue.json([dict(fk) for fk in info.foreign_keys]),
        "row_count": info.row_count,
        "row_count_estimated": info.row_count_estimated,
        "constraints": dg.MetadataValue.json(list(spec.constraints)),
        "pandera_path": dg.MetadataValue.path(str(paths["pandera"])),
        "json_schema_path": dg.MetadataValue.path(str(paths["json_schema"])),
        "model": dg.MetadataValue.md(f"```python\n{text}```"),
    }


def _model_asset(config: BackfillTableConfig) -> dg.AssetsDefinition:
    @dg.asset(
        key=model_key(config.name),
        group_name=GROUP,
        description=f"Pandera model (Python) and JSON Schema of `{config.table}`, generated from "
        f"the database catalog plus the constraints {', '.join(config.constraints) or '(none)'}, "
        f"under models/{config.name}/. Its data version is a hash of the model text.",
        owners=OWNERS,
        kinds={"python", "pandera"},
        tags={TABLE_TAG: config.name},
        code_version=model_code_version(config),
    )
    def _model(
        context: dg.AssetExecutionContext, backfill: BackfillResource
    ) -> dg.MaterializeResult:
        started = time.perf_counter()
        with backfill.table(config) as table:
            info, spec = table.info, table.spec
            paths = write_model(spec, model_dir(table.data_root, config.name))
        text = paths["pandera"].read_text(encoding="utf-8")
        version = hashlib.sha256(text.encode("utf-8")).hexdigest()
        context.log.info(f"{spec.class_name} -> {paths['pandera']}")
        metadata = _model_metadata(info, spec, paths, text)
        metadata["duration_s"] = round(time.perf_counter() - started, 3)
        return dg.MaterializeResult(data_version=dg.DataVersion(version), metadata=metadata)

    return _model


def _generated_model(
    instance: dg.DagsterInstance, config: BackfillTableConfig
) -> tuple[type, str] | None:
    """The model class the model asset last wrote, and its file; None if there is none."""
    event = instance.get_latest_materialization_event(model_key(config.name))
    if event is None or event.asset_materialization is None:
        return None
    metadata = event.asset_materialization.metadata
    path = Path(str(metadata["pandera_path"].value))
    if not path.is_file():
        return None
    class_name = str(metadata["class_name"].value)
    return load_model(path.read_text(encoding="utf-8"), class_name), str(path)


def _model_check(config: BackfillTableConfig, partitions: Any) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset_key(config.name),
        name=CHECK_NAME,
        partitions_def=partitions,
        blocking=True,
        description=f"Every row of each extracted window passes the generated model of "
        f"`{config.table}` ({model_key(config.name).to_user_string()}). Below "
        f"{config.threshold:.2%} valid rows it is an ERROR that blocks downstream assets; "
        "otherwise a failing window is a WARN.",
    )
    def _check(
        context: dg.AssetCheckExecutionContext, backfill: BackfillResource
    ) -> dg.AssetCheckResult:
        generated = _generated_model(context.instance, config)
        if generated is not None:
            model, source = generated
            spec = None
        else:  # the model asset never ran here: the same model, built from the catalog
            with backfill.table(config) as table:
                model, spec = table.model, table.spec
            source = "generated in memory from the catalog"
        data_root = _data_root(backfill)
        reports: dict[str, ValidationReport] = {}
        missing = []
        for key in context.partition_keys:
            path = window_path(data_root, config.name, key)
            if not path.is_file():
                missing.append(key)
                continue
            # `spec` only matters when no model class is given; the class is the model here.
            reports[key] = validate_frame(spec, pl.read_parquet(path), model=model)  # type: ignore[arg-type]
        failing = {k: r for k, r in reports.items() if r.valid_rows < r.rows}
        below = [k for k, r in failing.items() if not r.passed(config.threshold)]
        return dg.AssetCheckResult(
            passed=not failing and not missing,
            severity=dg.AssetCheckSeverity.ERROR
            if below or missing
            else dg.AssetCheckSeverity.WARN,
            metadata={
                "model": source,
                "rows": sum(r.rows for r in reports.values()),
                "invalid_rows": sum(r.rows - r.valid_rows for r in reports.values()),
                "scores": dg.MetadataValue.json({k: round(r.score, 6) for k, r in reports.items()}),
                "threshold": config.threshold,
                "failing_windows": dg.MetadataValue.json(sorted(failing)),
                "missing_windows": dg.MetadataValue.json(missing),
                "failures": dg.MetadataValue.json({k: r.to_json() for k, r in failing.items()}),
            },
        )

    return _check


def build_reverse_etl_defs(config: BackfillConfig) -> dg.Definitions:
    """The model asset and the window check of every configured table."""
    assets, checks = [], []
    for table in config.tables:
        assets.append(_model_asset(table))
        checks.append(_model_check(table, partitions_for(table)))
    return dg.Definitions(
        assets=assets, asset_checks=checks, resources={"backfill": BACKFILL_RESOURCE}
    )


defs = build_reverse_etl_defs(BACKFILL_CONFIG)
