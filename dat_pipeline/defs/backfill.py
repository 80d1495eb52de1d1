"""Dagster layer of the windowed backfill (group `backfill`), built from backfill.yaml.

Per configured table:
- `backfill/<name>_sample`: validates a sample of each window against the generated model; its
  blocking check `sample_valid` fails below the threshold, so the extraction never runs;
- `backfill/<name>`: extracts each window to `data/backfill/<name>/<window>.parquet` (atomic,
  replacing), with the manifest records in the materialization metadata;
- a job over both, and a schedule (shipped stopped) that materializes the latest complete window.
Both assets share the table's time-window partitions and a multi-run backfill policy, so a UI
backfill over months runs `max_partitions_per_run` windows per run.

Loading reads backfill.yaml and nothing else: no connection is opened until an asset runs.
"""

import contextlib
import time
import warnings
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
from pydantic import Field

from dat_pipeline.backfill.config import BackfillConfig, BackfillTableConfig, load_config
from dat_pipeline.backfill.core import BackfillTable, engine_for_table
from dat_pipeline.errors import DatError
from dat_pipeline.frames import markdown_preview
from dat_pipeline.settings import get_settings
from dat_pipeline.store import open_store

GROUP = "backfill"
OWNERS = ["team:data-platform"]
CHECK_NAME = "sample_valid"
TABLE_TAG = "backfill/table"

_PARTITIONS = {
    "hourly": dg.HourlyPartitionsDefinition,
    "daily": dg.DailyPartitionsDefinition,
    "weekly": dg.WeeklyPartitionsDefinition,
    "monthly": dg.MonthlyPartitionsDefinition,
}


class BackfillResource(dg.ConfigurableResource):
    """Where windows go and where the manifest lives. Empty fields fall back to DAT_* settings."""

    data_root: str | None = Field(None, description="Data root; default DAT_DATA_ROOT or data/.")
    store_url: str | None = Field(None, description="Control store URL; default DAT_STORE_URL.")

    @contextlib.contextmanager
    def table(self, config: BackfillTableConfig) -> Iterator[BackfillTable]:
        settings = get_settings()
        store = open_store(self.store_url or settings.store_url)
        engine = engine_for_table(store, config)
        try:
            yield BackfillTable(
                config, engine, Path(self.data_root or settings.data_root), store=store
            )
        finally:
            engine.dispose()


def asset_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([GROUP, name])


def sample_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([GROUP, f"{name}_sample"])


def partitions_for(config: BackfillTableConfig) -> dg.TimeWindowPartitionsDefinition:
    return _PARTITIONS[config.granularity](
        start_date=config.start, end_date=config.end, timezone="UTC"
    )


def _sample_asset(config: BackfillTableConfig, partitions: Any, policy: Any) -> dg.AssetsDefinition:
    @dg.asset(
        key=sample_key(config.name),
        # The generated model (defs/reverse_etl.py): a new model makes the windows stale.
        deps=[dg.AssetKey(["reverse_etl", f"{config.name}_model"])],
        group_name=GROUP,
        partitions_def=partitions,
        backfill_policy=policy,
        check_specs=[
            dg.AssetCheckSpec(
                CHECK_NAME,
                asset=sample_key(config.name),
                blocking=True,
                description=f"At least {config.threshold:.2%} of a {config.sample_size}-row sample "
                "of each window passes the generated model; otherwise the window is not extracted.",
            )
        ],
        description=f"Sample validation of `{config.table}` windows ({config.granularity}) "
        f"against the model generated from the catalog and constraints "
        f"{', '.join(config.constraints) or '(none)'}. Blocks the extraction when it fails.",
        owners=OWNERS,
        kinds={"sql", "pandera"},
        tags={"backfill/table": config.name},
        code_version=config.code_version,
    )
    def _sample(
        context: dg.AssetExecutionContext, backfill: BackfillResource
    ) -> dg.MaterializeResult:
        with backfill.table(config) as table:
            reports = {
                key: table.validate_sample(table.window(key)) for key in context.partition_keys
            }
            failing = {k: r for k, r in reports.items() if not r.passed(config.threshold)}
            for key, report in failing.items():
                table.record_refusal(table.window(key), report, run_id=context.run.run_id)
        scores = {key: round(r.score, 6) for key, r in reports.items()}
        details = {key: r.to_json() for key, r in failing.items()}
        return dg.MaterializeResult(
            metadata={
                "windows": len(reports),
                "sample_rows": sum(r.rows for r in reports.values()),
                "scores": dg.MetadataValue.json(scores),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=CHECK_NAME,
                    passed=not failing,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={
                        "min_score": min(scores.values(), default=1.0),
                        "threshold": config.threshold,
                        "failing_windows": dg.MetadataValue.json(sorted(failing)),
                        "failing_constraints": dg.MetadataValue.json(details),
                    },
                )
            ],
        )

    return _sample


def _extract_asset(
    config: BackfillTableConfig, partitions: Any, policy: Any
) -> dg.AssetsDefinition:
    @dg.asset(
        key=asset_key(config.name),
        deps=[sample_key(config.name)],
        group_name=GROUP,
        partitions_def=partitions,
        backfill_policy=policy,
        description=f"Rows of `{config.table}` in each {config.granularity} window "
        f"[start, end) of `{config.time_column}`, as data/backfill/{config.name}/<window>.parquet "
        "(written atomically; re-running a window replaces it).",
        owners=OWNERS,
        kinds={"sql", "parquet"},
        tags={"backfill/table": config.name},
        code_version=config.code_version,
    )
    def _extract(
        context: dg.AssetExecutionContext, backfill: BackfillResource
    ) -> dg.MaterializeResult:
        started = time.perf_counter()
        with backfill.table(config) as table:
            results = [
                table.extract(table.window(k), run_id=context.run.run_id)
                for k in context.partition_keys
            ]

        last = results[-1]
        rows = sum(r.rows for r in results)
        return dg.MaterializeResult(
            metadata={
                "rows": rows,
                "dagster/row_count": rows,
                "windows": len(results),
                "path": dg.MetadataValue.path(str(last.path)),
                "duration_s": round(time.perf_counter() - started, 3),
                "manifest": dg.MetadataValue.json(
                    [r.record.to_json() for r in results if r.record]
                ),
                "preview": dg.MetadataValue.md(
                    markdown_preview(pl.read_parquet(last.path, n_rows=5))
                ),
            }
        )

    return _extract


def build_backfill_defs(config: BackfillConfig) -> dg.Definitions:
    """Assets, checks, jobs and schedules of every configured table."""
    assets, jobs, schedules = [], [], []
    for table in config.tables:
        partitions = partitions_for(table)
        policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=table.max_partitions_per_run)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)  # backfill_policy is what we want
            assets += [
                _sample_asset(table, partitions, policy),
                _extract_asset(table, partitions, policy),
            ]
        job = dg.define_asset_job(
            f"backfill_{table.name}",
            selection=dg.AssetSelection.assets(sample_key(table.name), asset_key(table.name)),
            description=f"Validate and extract windows of {table.table}.",
        )
        jobs.append(job)
        schedules.append(
            dg.build_schedule_from_partitioned_job(
                job,
                name=f"backfill_{table.name}_latest",
                description=f"Materializes the latest complete {table.granularity} window of "
                f"{table.table}.",
                default_status=dg.DefaultScheduleStatus.STOPPED,
            )
        )
    return dg.Definitions(
        assets=assets, jobs=jobs, schedules=schedules, resources={"backfill": BackfillResource()}
    )


def submit_backfill(
    instance: dg.DagsterInstance,
    definitions: dg.Definitions,
    config: BackfillTableConfig,
    window_keys: list[str],
    tags: dict[str, str] | None = None,
) -> str:
    """Submit a Dagster asset backfill of these windows (shown on the UI's backfills page; the
    daemon launches its runs, `max_partitions_per_run` windows each). Returns the backfill id."""
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._core.utils import make_new_backfill_id

    backfill_id = make_new_backfill_id()
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=backfill_id,
        asset_graph=definitions.resolve_asset_graph(),
        partition_names=window_keys,
        asset_selection=[sample_key(config.name), asset_key(config.name)],
        backfill_timestamp=time.time(),
        tags={**(tags or {}), TABLE_TAG: config.name},
        dynamic_partitions_store=instance,
        all_partitions=False,
        title=f"backfill {config.name} {window_keys[0]} .. {window_keys[-1]}",
        description=f"{len(window_keys)} {config.granularity} window(s) of {config.table}",
        run_config=None,
    )
    instance.add_backfill(backfill)
    return backfill_id


def start_backfill(
    instance: dg.DagsterInstance,
    config: BackfillConfig,
    table: str,
    start: datetime | str,
    end: datetime | str,
    data_root: Path,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Submit a backfill of the complete windows of `table` in [start, end) (`dat backfill run`,
    `POST /api/backfill/tables/{table}/runs`); the document both answer with."""
    table_config = config.table(table)
    windows = BackfillTable(table_config, None, data_root).windows(start, end)
    if not windows:
        raise DatError(
            f"no complete {table_config.granularity} window of {table} in [{start}, {end})"
        )
    keys = [w.key for w in windows]
    backfill_id = submit_backfill(instance, build_backfill_defs(config), table_config, keys, tags)
    return {
        "table": table,
        "backfill_id": backfill_id,
        "windows": len(keys),
        "first": keys[0],
        "last": keys[-1],
        "max_partitions_per_run": table_config.max_partitions_per_run,
        "ui": f"http://127.0.0.1:3000/runs/b/{backfill_id}",
    }


def backfill_dict(instance: dg.DagsterInstance, backfill_id: str) -> dict[str, Any] | None:
    """A submitted backfill: its status, table, tags and the Dagster runs launched for it so far
    (the daemon launches them); None if unknown."""
    backfill = instance.get_backfill(backfill_id)
    if backfill is None:
        return None
    runs = instance.get_runs(filters=dg.RunsFilter.for_backfill(backfill_id))
    return {
        "backfill_id": backfill.backfill_id,
        "status": backfill.status.value,
        "table": backfill.tags.get(TABLE_TAG),
        "title": backfill.title,
        "description": backfill.description,
        "created_at": backfill.backfill_timestamp,
        "ended_at": backfill.backfill_end_timestamp,
        "tags": dict(backfill.tags),
        "runs": [{"job_id": run.run_id, "status": run.status.value} for run in runs],
    }


BACKFILL_CONFIG = load_config(missing_ok=True)
backfill_defs = build_backfill_defs(BACKFILL_CONFIG)
backfill_assets = list(backfill_defs.assets or [])
backfill_jobs = list(backfill_defs.jobs or [])
backfill_schedules = list(backfill_defs.schedules or [])
