"""Windowed backfill (SPEC 3): backfill.yaml, time windows, sample validation, streamed window
extraction to Parquet, plans and the audit manifest. No Dagster import."""

from dat_pipeline.backfill.config import (
    BackfillConfig,
    BackfillConfigError,
    BackfillTableConfig,
    load_config,
)
from dat_pipeline.backfill.core import BackfillTable, WindowResult, engine_for_table, window_path
from dat_pipeline.backfill.manifest import ManifestRecord, latest_by_window, records
from dat_pipeline.backfill.windows import (
    GRANULARITIES,
    Window,
    latest_complete,
    window_for_key,
    windows_between,
)

__all__ = [
    "GRANULARITIES",
    "BackfillConfig",
    "BackfillConfigError",
    "BackfillTable",
    "BackfillTableConfig",
    "ManifestRecord",
    "Window",
    "WindowResult",
    "engine_for_table",
    "latest_by_window",
    "latest_complete",
    "load_config",
    "records",
    "window_for_key",
    "window_path",
    "windows_between",
]
