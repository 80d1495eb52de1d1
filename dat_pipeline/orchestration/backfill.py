"""Backfills of the tables in backfill.yaml: submit a Dagster asset backfill of a range of
windows (the daemon launches its runs) and look one up.

Dagster has no public API to submit an asset backfill from outside a sensor or the UI, so
`submit_backfill` uses `PartitionBackfill` from `dagster._core`: this is the one module that does,
and a test pins its behaviour.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg

from dat_pipeline.backfill.config import BackfillConfig, BackfillTableConfig
from dat_pipeline.backfill.core import BackfillTable
from dat_pipeline.defs.backfill import TABLE_TAG, asset_key, build_backfill_defs, sample_key
from dat_pipeline.errors import DatError


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
