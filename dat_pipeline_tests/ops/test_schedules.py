"""What the schedules request, evaluated on a real instance at a few instants: the backfill
schedule asks for the latest complete window (keyed by it, so a repeated tick launches nothing
new), and the nightly analysis refresh one run per stale source and night. (Nothing is requested
for an up-to-date source: test_analysis_pipeline.py.)"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from dat_pipeline.analysis.sources import add_source
from dat_pipeline.backfill import BackfillConfig, BackfillTableConfig
from dat_pipeline.defs.analysis import analysis_refresh_schedule
from dat_pipeline.defs.backfill import asset_key, build_backfill_defs, sample_key
from dat_pipeline.orchestration.analysis import ensure_source_partition
from dat_pipeline.store import open_store

TABLE = BackfillTableConfig(
    name="trades",
    source={"kind": "sqlite", "database": "db/trades.sqlite"},
    table="trades",
    time_column="ts",
    start="2024-01-01",
    end="2024-02-01",
)


def at(day: str, hour: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def test_backfill_schedule_requests_the_latest_complete_window_keyed_by_it():
    defs = build_backfill_defs(BackfillConfig(tables=(TABLE,)))
    schedule = defs.get_schedule_def("backfill_trades_latest")
    assert schedule.cron_schedule == "0 0 * * *"

    def tick(when: datetime) -> dg.ScheduleExecutionData:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=when, repository_def=repository
        )
        return schedule.evaluate_tick(context)

    repository = defs.get_repository_def()
    with dg.instance_for_test() as instance:
        assert not tick(at("2024-01-01")).run_requests  # no window is complete yet
        for when, window in [("2024-01-03", "2024-01-02"), ("2024-01-10", "2024-01-09")]:
            [request] = tick(at(when)).run_requests or []
            assert (request.partition_key, request.run_key) == (window, window)
        # past the configured end, every tick asks for the last window under the same key:
        # the daemon launches a run key once, so nothing runs again
        late = [tick(at(day)).run_requests or [] for day in ("2024-03-01", "2024-03-02")]
        assert [[(r.partition_key, r.run_key) for r in rs] for rs in late] == [
            [("2024-01-31", "2024-01-31")]
        ] * 2
    job = defs.resolve_job_def("backfill_trades")
    assert set(job.asset_layer.executable_asset_keys) == {asset_key("trades"), sample_key("trades")}


def test_analysis_refresh_requests_one_run_per_stale_source_and_night(data_root: Path):
    store = open_store()
    for source in ("north", "south"):
        add_source(store, source, "sample")
    with dg.instance_for_test() as instance:
        for source in ("north", "south"):
            ensure_source_partition(instance, source)
        nights = {}
        for day in ("2026-01-02", "2026-01-03"):
            context = dg.build_schedule_context(
                instance=instance, scheduled_execution_time=at(day, 3)
            )
            nights[day] = list(analysis_refresh_schedule(context))
    for day, requests in nights.items():
        assert sorted((r.partition_key, r.run_key) for r in requests) == [
            ("north", f"north:{day}"),
            ("south", f"south:{day}"),
        ]
        for request in requests:
            phases = {key.path[-1] for key in request.asset_selection}
            assert {"import", "typing", "warehouse_views"} <= phases
