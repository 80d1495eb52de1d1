"""The production instance (deploy/dagster.postgres.yaml) on a real PostgreSQL: the daemon starts
queued runs within the run limits (total and one per DAT run), every run succeeds and makes the
store change it reports, and steps of a daemon started the way a CI shell starts background jobs
(SIGINT and SIGTERM ignored) stop their log-tail children instead of stalling on them."""

from __future__ import annotations

import itertools
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
    ignore_interrupts,
    job_origins,
    session_commands,
    tail,
    wait_until,
)

from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.defs.dat import RUN_TAG, dat_runs
from dat_pipeline.store import ControlStore

# Six runs over five DAT runs: "a" gets two, so the per-run limit (1) binds, and five
# distinct values exceed the total (4), so the total limit binds too.
DAT_RUNS = ["a", "b", "c", "d", "e"]


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


# What each queued run unlocks: "a" gets two runs on stages outside each other's cascade.
UNLOCKS = [("a", "context"), ("a", "table_availability")] + [(r, "context") for r in "bcde"]
LOCKS = (
    ("discovery", {"root": "sample"}),
    ("selection", {"files": ["sample/stores.tsv"]}),
    ("context", {"notes": "queued"}),
    ("table_availability", {}),
)


@pytest.mark.slow
def test_daemon_started_ignoring_sigterm_runs_the_queue_within_the_limits_and_each_run_unlocks(
    production_home: ProductionHome, tmp_path: Path
):
    from dat_pipeline.definitions import defs

    total_limit, per_run_limit = limits()
    instance = dg.DagsterInstance.get()
    flow = DatWorkflow(ControlStore(production_home.store_url), production_home.data_root)
    for run_id in DAT_RUNS:
        flow.create_run(run_id=run_id)
        for stage, config in LOCKS:
            flow.lock(run_id, stage, config)
    before = flow.store.last_seq()
    instance.add_dynamic_partitions(dat_runs.name, DAT_RUNS)
    job = defs.resolve_job_def("dat_unlock")
    remote, python = job_origins("dat_unlock")

    log = tmp_path / "daemon.log"
    daemon_args = [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]
    with background(daemon_args, production_home.env, log, preexec_fn=ignore_interrupts) as daemon:
        run_ids = {}
        for run_id, stage in UNLOCKS:
            run = instance.create_run_for_job(
                job_def=job,
                run_config={"ops": {"unlock_stage": {"config": {"stage": stage}}}},
                tags={RUN_TAG: run_id, "dagster/partition": run_id},
                remote_job_origin=remote,
                job_code_origin=python,
            )
            instance.submit_run(run.run_id, workspace=None)  # type: ignore[arg-type]
            run_ids[run.run_id] = (run_id, stage)
        filters = dg.RunsFilter(run_ids=list(run_ids))
        assert all(r.status == dg.DagsterRunStatus.QUEUED for r in instance.get_runs(filters))

        peak_total, peak_per_run = 0, 0

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
            per_value = [sum(1 for r in active if r.tags[RUN_TAG] == v) for v in DAT_RUNS]
            peak_per_run = max(peak_per_run, *per_value)
            return all(r.is_finished for r in runs)

        wait_until(finished, 240, f"the {len(run_ids)} queued runs to finish", 0.1)

        # Each step stops its `tail -F` log mirror with SIGTERM; one that ignored it would stall
        # the step and outlive it forever.
        def tails() -> list[str]:
            return [c for c in session_commands(daemon.pid) if c.startswith("tail ")]

        wait_until(lambda: not tails(), 60, f"the log-tail children to stop: {tails()}")

    records = instance.get_run_records(filters)
    failed = [r.dagster_run.run_id for r in records if not r.dagster_run.is_success]
    assert not failed, f"runs failed: {failed}\n{tail(log)}"
    # Exact check from the recorded start/end times, beside the sampled one above.
    intervals = [(r.start_time, r.end_time) for r in records]
    assert all(start and end for start, end in intervals)
    assert 2 <= max_overlap(intervals) <= total_limit  # type: ignore[arg-type]
    for value in DAT_RUNS:
        same = [(r.start_time, r.end_time) for r in records if r.dagster_run.tags[RUN_TAG] == value]
        assert max_overlap(same) <= per_run_limit  # type: ignore[arg-type]
    assert peak_total <= total_limit and peak_per_run <= per_run_limit

    # Each run unlocked its stage in the DAT store on the same PostgreSQL, and said so.
    reported = {}
    for run_id in run_ids:
        [output] = instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.STEP_OUTPUT
        ).records
        metadata = output.event_log_entry.dagster_event.event_specific_data.metadata
        reported[run_id] = metadata["unlocked"].value
    assert reported == {run_id: [stage] for run_id, (_, stage) in run_ids.items()}
    unlocked = [(e.run_id, e.stage) for e in flow.store.events_after(before) if e.kind == "unlock"]
    assert sorted(unlocked) == sorted(UNLOCKS)
    for run_id, stage in UNLOCKS:
        assert not next(s for s in flow.status(run_id) if s.stage == stage).locked
