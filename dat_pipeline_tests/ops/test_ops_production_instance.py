"""The production instance (deploy/dagster.postgres.yaml) on a real PostgreSQL: the daemon starts
queued runs within the run limits (total and one per DAT run), and every run succeeds."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from ops_support import (
    BIN,
    DEPLOY_INSTANCE,
    ProductionHome,
    background,
    job_origins,
    tail,
    wait_until,
)

from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.defs.dat import RUN_TAG, dat_runs
from dat_pipeline.store import ControlStore

# Six runs over five DAT runs: "a" gets two, so the per-run limit (1) binds, and five
# distinct values exceed the total (4), so the total limit binds too.
DAT_RUNS = ["a", "a", "b", "c", "d", "e"]


def limits() -> tuple[int, int]:
    runs = yaml.safe_load(DEPLOY_INSTANCE.read_text())["concurrency"]["runs"]
    [per_run] = [t["limit"] for t in runs["tag_concurrency_limits"] if t["key"] == RUN_TAG]
    return runs["max_concurrent_runs"], per_run


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    return max(itertools.accumulate(step for _, step in edges))


def test_deploy_instance_is_postgres_with_a_queue_and_limits(production_home: ProductionHome):
    instance = dg.DagsterInstance.get()
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    queue = instance.get_concurrency_config().run_queue_config
    keys = {limit["key"] for limit in queue.tag_concurrency_limits}
    assert {RUN_TAG, "dat/ingestion_project", "dagster/backfill", "analysis/source"} <= keys
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
    engine = sa.create_engine(production_home.store_url.split("?")[0])
    with engine.connect() as connection:
        tables = set(
            connection.execute(
                sa.text(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
                )
            ).scalars()
        )
    engine.dispose()
    assert {"runs", "event_logs", "jobs", "job_ticks"} <= tables  # in the test's own database


@pytest.mark.slow
def test_daemon_runs_the_queue_within_the_limits(production_home: ProductionHome, tmp_path: Path):
    from dat_pipeline.definitions import defs

    total_limit, per_run_limit = limits()
    instance = dg.DagsterInstance.get()
    flow = DatWorkflow(ControlStore(production_home.store_url), production_home.data_root)
    for run_id in sorted(set(DAT_RUNS)):
        flow.create_run(run_id=run_id)
    instance.add_dynamic_partitions(dat_runs.name, sorted(set(DAT_RUNS)))
    job = defs.resolve_job_def("dat_unlock")
    remote, python = job_origins("dat_unlock")

    log = tmp_path / "daemon.log"
    daemon_args = [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]
    with background(daemon_args, production_home.env, log) as daemon:
        started = time.perf_counter()
        run_ids = []
        for run_id in DAT_RUNS:
            run = instance.create_run_for_job(
                job_def=job,
                run_config={"ops": {"unlock_stage": {"config": {"stage": "context"}}}},
                tags={RUN_TAG: run_id, "dagster/partition": run_id},
                remote_job_origin=remote,
                job_code_origin=python,
            )
            instance.submit_run(run.run_id, workspace=None)  # type: ignore[arg-type]
            run_ids.append(run.run_id)
        assert all(
            r.status == dg.DagsterRunStatus.QUEUED
            for r in instance.get_runs(dg.RunsFilter(run_ids=run_ids))
        )

        peak_total, peak_per_run = 0, 0
        filters = dg.RunsFilter(run_ids=run_ids)

        def finished() -> bool:
            nonlocal peak_total, peak_per_run
            assert daemon.poll() is None, f"dagster-daemon exited:\n{tail(log)}"
            runs = instance.get_runs(filters)
            active = [
                r
                for r in runs
                if r.status in (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED)
            ]
            peak_total = max(peak_total, len(active))
            per_value = [sum(1 for r in active if r.tags[RUN_TAG] == v) for v in set(DAT_RUNS)]
            peak_per_run = max(peak_per_run, *per_value)
            return all(r.is_finished for r in runs)

        wait_until(finished, 240, f"the {len(run_ids)} queued runs to finish", 0.1)
        elapsed = time.perf_counter() - started

    records = instance.get_run_records(filters)
    failed = [r.dagster_run.run_id for r in records if not r.dagster_run.is_success]
    assert not failed, f"runs failed: {failed}\n{tail(log)}"
    # Exact check from the recorded start/end times, beside the sampled one above.
    intervals = [(r.start_time, r.end_time) for r in records]
    assert all(start and end for start, end in intervals)
    assert 2 <= max_overlap(intervals) <= total_limit  # type: ignore[arg-type]
    for value in set(DAT_RUNS):
        same = [(r.start_time, r.end_time) for r in records if r.dagster_run.tags[RUN_TAG] == value]
        assert max_overlap(same) <= per_run_limit  # type: ignore[arg-type]
    assert peak_total <= total_limit and peak_per_run <= per_run_limit
    # Every run went through the DAT control store on the same PostgreSQL.
    unlock_runs = {e.run_id for e in flow.store.events_after(0) if e.kind == "run_created"}
    assert unlock_runs == set(DAT_RUNS)
    rate = len(run_ids) / elapsed * 60
    print(
        f"\nqueue: {len(run_ids)} runs in {elapsed:.1f} s = {rate:.1f} runs/min "
        f"(peak {max_overlap(intervals)} at once, limit {total_limit})"  # type: ignore[arg-type]
    )
