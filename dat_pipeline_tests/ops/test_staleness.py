"""Staleness as the UI shows it: a DAT stage's data version is its stage id, so after its
upstream is re-locked with another config the downstream stage is stale (Dagster's own
resolver, as the asset graph uses it), and it is fresh again once re-materialized."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster._core.definitions.data_version import StaleStatus
from dagster._utils.test.data_versions import get_stale_status_resolver

from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.definitions import RESOURCES
from dat_pipeline.defs.dat import dat_stage_assets, ensure_run_partition, stage_key
from dat_pipeline.store import open_store

DISCOVERY = stage_key("discovery")
SELECTION = stage_key("selection")


def materialize(instance: dg.DagsterInstance, run_id: str, stage: str, lock: dict) -> None:
    result = dg.materialize(
        dat_stage_assets,
        selection=[stage_key(stage)],
        partition_key=run_id,
        instance=instance,
        resources=RESOURCES,
        run_config={"ops": {f"dat__{stage}": {"config": {"lock": lock}}}},
    )
    assert result.success


def test_downstream_stage_is_stale_after_an_upstream_relock_and_fresh_after_rematerializing(
    data_root: Path,
):
    flow = DatWorkflow(open_store(), data_root)
    run = flow.create_run().run_id
    with dg.instance_for_test() as instance:
        ensure_run_partition(instance, run)

        def status(key: dg.AssetKey) -> StaleStatus:
            return get_stale_status_resolver(instance, dat_stage_assets).get_status(key, run)

        def version(key: dg.AssetKey) -> str:
            record = instance.get_latest_data_version_record(key, partition_key=run)
            assert record is not None
            return record.event_log_entry.asset_materialization.tags["dagster/data_version"]

        materialize(instance, run, "discovery", {"root": "sample"})
        materialize(instance, run, "selection", {"files": ["sample/stores.tsv"]})
        assert status(SELECTION) == StaleStatus.FRESH
        seen_by_selection = version(DISCOVERY)

        materialize(instance, run, "discovery", {"root": "sample", "include": ["*.tsv"]})
        assert version(DISCOVERY) != seen_by_selection
        assert status(SELECTION) == StaleStatus.STALE
        causes = get_stale_status_resolver(instance, dat_stage_assets).get_stale_causes(
            SELECTION, run
        )
        assert any(cause.dependency and cause.dependency.asset_key == DISCOVERY for cause in causes)

        materialize(instance, run, "selection", {"files": ["sample/stores.tsv"]})
        assert status(SELECTION) == StaleStatus.FRESH
        assert version(SELECTION) == flow.stage_status(run, "selection").stage_id
