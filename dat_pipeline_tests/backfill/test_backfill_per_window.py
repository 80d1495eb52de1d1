"""The sample check judges each window (issue 18): in a run of three windows, the one whose
sample fails is refused and only it; the good windows batched with it are extracted."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from dat_pipeline.backfill import BackfillConfig
from dat_pipeline.backfill.demo import trades_config
from dat_pipeline.backfill.manifest import latest_by_window
from dat_pipeline.defs.backfill import BackfillResource, asset_key, build_backfill_defs
from dat_pipeline.store import open_store


def test_one_bad_window_does_not_block_the_good_ones_of_its_run(
    data_root: Path, trades_with_a_bad_day: str
) -> None:
    table = trades_config(
        {"kind": "sqlite", "database": trades_with_a_bad_day},
        end="2024-02-01",
        constraints=["ticker:valid_ticker"],
        sample_size=50,
        max_partitions_per_run=3,
    )
    defs = build_backfill_defs(BackfillConfig(tables=(table,)))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            list(defs.assets),
            instance=instance,
            resources={"backfill": BackfillResource()},
            raise_on_error=False,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: "2024-01-04",
                ASSET_PARTITION_RANGE_END_TAG: "2024-01-06",
            },
        )
        assert not result.success  # the refused window fails the run, visibly
        [evaluation] = result.get_asset_check_evaluations()
        assert evaluation.passed and evaluation.metadata["failing_windows"].value == ["2024-01-05"]
        materialized = instance.get_materialized_partitions(asset_key("trades"))
        assert materialized == {"2024-01-04", "2024-01-06"}
    files = sorted(p.stem for p in (data_root / "backfill" / "trades").glob("*.parquet"))
    assert files == ["2024-01-04", "2024-01-06"]
    latest = latest_by_window(open_store(), "trades")
    assert {key: r.status for key, r in latest.items()} == {
        "2024-01-04": "SUCCESS",
        "2024-01-05": "FAILED",
        "2024-01-06": "SUCCESS",
    }
