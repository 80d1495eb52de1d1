"""The Dagster layer of the backfill on a real instance: the blocking sample check stops the
extraction, passing windows materialize with their manifest, ranges run several windows per run,
`dat backfill run` submits a real asset backfill, and the schedule ships stopped."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from dat_pipeline.backfill import BackfillConfig, BackfillTableConfig
from dat_pipeline.backfill.demo import trades_config
from dat_pipeline.backfill.manifest import latest_by_window
from dat_pipeline.defs.backfill import (
    BackfillResource,
    asset_key,
    build_backfill_defs,
    sample_key,
)
from dat_pipeline.orchestration.backfill import submit_backfill
from dat_pipeline.store import open_store


@pytest.fixture
def config(data_root: Path, trades_with_a_bad_day: str) -> BackfillConfig:
    table = trades_config(
        {"kind": "sqlite", "database": trades_with_a_bad_day},
        end="2024-02-01",
        constraints=["ticker:valid_ticker", "qty:positive"],
        sample_size=50,
        max_partitions_per_run=3,
    )
    return BackfillConfig(tables=(table,))


def _materialize(defs: dg.Definitions, instance: dg.DagsterInstance, **kwargs: object):
    return dg.materialize(
        list(defs.assets),
        instance=instance,
        resources={"backfill": BackfillResource()},
        raise_on_error=False,
        **kwargs,
    )


def test_violating_sample_fails_the_blocking_check_and_nothing_is_extracted(
    config: BackfillConfig, data_root: Path
) -> None:
    defs = build_backfill_defs(config)
    with dg.instance_for_test() as instance:
        result = _materialize(defs, instance, partition_key="2024-01-05")
        assert not result.success
        evaluation = result.get_asset_check_evaluations()[0]
        assert evaluation.asset_key == sample_key("trades") and not evaluation.passed
        assert evaluation.metadata["failing_windows"].value == ["2024-01-05"]
        failure = evaluation.metadata["failing_constraints"].value["2024-01-05"]["failures"][0]
        assert failure["column"] == "ticker" and failure["examples"][0]["ticker"] == "bad"
        assert instance.get_latest_materialization_event(asset_key("trades")) is None
    assert not (data_root / "backfill" / "trades" / "2024-01-05.parquet").exists()
    record = latest_by_window(open_store(), "trades")["2024-01-05"]
    assert record.status == "FAILED" and "below 0.99" in record.errors[0]


def test_a_range_run_extracts_several_windows_with_their_manifest(
    config: BackfillConfig, data_root: Path
) -> None:
    defs = build_backfill_defs(config)
    with dg.instance_for_test() as instance:
        result = _materialize(
            defs,
            instance,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: "2024-01-01",
                ASSET_PARTITION_RANGE_END_TAG: "2024-01-03",
            },
        )
        assert result.success
        materialization = result.asset_materializations_for_node("backfill__trades")[0]
        manifest = materialization.metadata["manifest"].value
        assert [m["window_key"] for m in manifest] == ["2024-01-01", "2024-01-02", "2024-01-03"]
        assert all(m["status"] == "SUCCESS" and len(m["checksum"]) == 64 for m in manifest)
        keys = instance.get_materialized_partitions(asset_key("trades"))
        assert keys == {"2024-01-01", "2024-01-02", "2024-01-03"}
    files = sorted((data_root / "backfill" / "trades").glob("*.parquet"))
    assert [f.stem for f in files] == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert pl.read_parquet(files).height == sum(m["rows"] for m in manifest)


def test_backfill_is_submitted_to_the_instance_and_schedule_ships_stopped(
    config: BackfillConfig,
) -> None:
    defs = build_backfill_defs(config)
    table = config.table("trades")
    keys = [f"2024-01-{day:02d}" for day in range(1, 11)]
    with dg.instance_for_test() as instance:
        backfill_id = submit_backfill(instance, defs, table, keys)
        backfill = instance.get_backfill(backfill_id)
        assert backfill is not None and backfill.status.value == "REQUESTED"
        target = backfill.asset_backfill_data.target_subset
        assert set(target.asset_keys) == {asset_key("trades"), sample_key("trades")}
        assert target.num_partitions_and_non_partitioned_assets == 20
    [schedule] = defs.schedules
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    graph = defs.resolve_asset_graph()
    policy = graph.get(asset_key("trades")).backfill_policy
    assert policy.max_partitions_per_run == 3
    assert graph.get(asset_key("trades")).parent_keys == {sample_key("trades")}


def test_loading_definitions_opens_no_connection() -> None:
    unreachable = BackfillTableConfig(
        name="remote",
        source="no_such_source",
        table="whatever",
        time_column="ts",
        granularity="hourly",
        start="2024-01-01",
    )
    defs = build_backfill_defs(BackfillConfig(tables=(unreachable,)))
    assert {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()} == {
        "backfill/remote",
        "backfill/remote_sample",
        "reverse_etl/remote_model",  # the model the sample depends on (defined in its own group)
    }
