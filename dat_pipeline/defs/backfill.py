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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
from pydantic import Field

from dat_pipeline.backfill.config import BackfillConfig, BackfillTableConfig, load_config
from dat_pipeline.backfill.core import BackfillTable, engine_for_table
from dat_pipeline.frames import markdown_preview
from dat_pipeline.names import OWNERS
from dat_pipeline.settings import get_settings
from dat_pipeline.store import open_store

GROUP = "backfill"
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


BACKFILL_RESOURCE = BackfillResource()  # one instance, shared by backfill and reverse_etl


def asset_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([GROUP, name])


def sample_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([GROUP, f"{name}_sample"])


def partitions_for(config: BackfillTableConfig) -> dg.TimeWindowPartitionsDefinition:
    return _PARTITIONS[config.granularity](
        start_date=config.start, end_date=config.end, timezone="UTC"
    )


def _table_asset_args(config: BackfillTableConfig, partitions: Any, policy: Any) -> dict:
    """What both assets of a table share: group, windows, backfill policy, owners, tag, version."""
    return {
        "group_name": GROUP,
        "partitions_def": partitions,
        "backfill_policy": policy,
        "owners": OWNERS,
        "tags": {"backfill/table": config.name},
        "code_version": config.code_version,
    }


def _sample_asset(config: BackfillTableConfig, partitions: Any, policy: Any) -> dg.AssetsDefinition:
    @dg.asset(
        key=sample_key(config.name),
        # The generated model (defs/reverse_etl.py): a new model makes the windows stale.
        deps=[dg.AssetKey(["reverse_etl", f"{config.name}_model"])],
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
        kinds={"sql", "pandera"},
        **_table_asset_args(config, partitions, policy),
    )
    def _sample(
        context: dg.AssetExecutionContext, backfill: BackfillResource
    ) -> dg.MaterializeResult:
        with backfill.table(config) as table:
            verdict = table.judge_windows(list(context.partition_keys), context.run.run_id)
        reports, failing = verdict.reports, verdict.failed
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
                    # Each window is judged alone: the check blocks the run only when no window
                    # passes; refused windows are skipped by the extraction (and fail it).
                    passed=bool(verdict.passed),
                    severity=dg.AssetCheckSeverity.WARN if failing else dg.AssetCheckSeverity.ERROR,
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
        description=f"Rows of `{config.table}` in each {config.granularity} window "
        f"[start, end) of `{config.time_column}`, as data/backfill/{config.name}/<window>.parquet "
        "(written atomically; re-running a window replaces it).",
        kinds={"sql", "parquet"},
        **_table_asset_args(config, partitions, policy),
    )
    def _extract(
        context: dg.AssetExecutionContext, backfill: BackfillResource
    ) -> Iterator[dg.AssetMaterialization | dg.MaterializeResult]:
        started = time.perf_counter()
        with backfill.table(config) as table:
            keys = list(context.partition_keys)
            refused = table.refused_windows(keys, context.run.run_id)
            results = [
                table.extract(table.window(k), run_id=context.run.run_id)
                for k in keys
                if k not in refused
            ]
        if refused:  # the good windows are extracted and recorded; the refused ones fail
            for result in results:
                yield dg.AssetMaterialization(
                    asset_key=asset_key(config.name),
                    partition=result.window.key,
                    metadata={"rows": result.rows, "path": dg.MetadataValue.path(str(result.path))},
                )
            raise dg.Failure(
                f"{config.name}: window(s) {', '.join(refused)} refused by their sample "
                f"validation (see: dat backfill manifest {config.name}); the other "
                f"{len(results)} were extracted"
            )

        last = results[-1]
        rows = sum(r.rows for r in results)
        yield dg.MaterializeResult(
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
        assets=assets, jobs=jobs, schedules=schedules, resources={"backfill": BACKFILL_RESOURCE}
    )


BACKFILL_CONFIG = load_config(missing_ok=True)
defs = build_backfill_defs(BACKFILL_CONFIG)
