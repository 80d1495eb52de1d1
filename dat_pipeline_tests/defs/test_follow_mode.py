"""Follow mode end to end: a re-lock upstream re-materializes the whole chain in one Dagster run,
exactly once, counted in Dagster's own event log, through the real sensor daemon."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.definitions import RESOURCES, defs
from dat_pipeline.defs.dat import (
    RUN_TAG,
    dat_lock_sensor,
    dat_stage_assets,
    dat_stages_job,
    ensure_run_partition,
    stage_key,
)
from dat_pipeline.store import open_store

PROJECT = Path(__file__).resolve().parents[2]
FILES = ["sample/customers.parquet", "sample/sales_2024_q1.csv", "sample/stores.tsv"]
CHAIN = ["selection", "table_availability", "table_selection", "parse", "export"]
ACTIVE = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@pytest.fixture
def instance(data_root: Path):
    """The instance of the test's Dagster home (the project's dagster.yaml: queued runs)."""
    with dg.DagsterInstance.get() as home_instance:
        yield home_instance


@pytest.fixture
def flow(data_root: Path) -> DatWorkflow:
    return DatWorkflow(open_store(), data_root)


def build_to_export(flow: DatWorkflow, table_selection: dict) -> str:
    run = flow.create_run(name="follow", follow=True).run_id
    for stage, config in [
        ("discovery", {"root": "sample"}),
        ("selection", {"files": FILES}),
        ("table_availability", {}),
        ("table_selection", table_selection),
        ("parse", {}),
        ("export", {"formats": ["parquet"]}),
    ]:
        flow.lock(run, stage, config)
        flow.materialize(run, stage)
    return run


def stage_ids(flow: DatWorkflow, run: str) -> dict[str, str | None]:
    return {s.stage: s.stage_id for s in flow.status(run)}


def manifest_sources(flow: DatWorkflow, run: str) -> set[str]:
    row = flow.load_artifact(run, "export").row(0, named=True)
    manifest = json.loads((flow.data_root / row["manifest_path"]).read_text())
    return {entry["source_file"] for entry in manifest["lineage"]}


def materialization_counts(instance: dg.DagsterInstance, run: str) -> dict[str, int]:
    """ASSET_MATERIALIZATION events per stage asset for partition `run`, from Dagster's log."""
    counts = {}
    for stage in ["discovery", *CHAIN]:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=stage_key(stage), asset_partitions=[run]), limit=100
        ).records
        counts[stage] = len(records)
    return counts


def dagster_runs(instance: dg.DagsterInstance, run: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(dg.RunsFilter(tags={RUN_TAG: run})))


def sensor_iteration(crash_point: str) -> int:
    """One iteration of Dagster's sensor daemon loop in a child process (see the worker)."""
    worker = Path(__file__).with_name("sensor_tick_worker.py")
    return subprocess.run(
        [sys.executable, str(worker), crash_point], cwd=PROJECT, timeout=300
    ).returncode


def run_daemon_until(done, log: Path, timeout_s: float = 240.0) -> None:
    """Run the real `dagster-daemon` until `done()` holds, then two more sensor loops."""
    daemon = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", "workspace.yaml"],
        cwd=PROJECT,
        env=os.environ.copy(),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout_s
        while not done():
            assert daemon.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, (
                "the chain did not finish:\n" + log.read_text()[-3000:]
            )
            time.sleep(0.5)
        time.sleep(11)  # two sensor loops (5 s each): any second request would be made now
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


@pytest.mark.parametrize("crash", ["no_crash", "restart_between_request_and_launch"])
def test_relock_rematerializes_the_chain_in_one_run_exactly_once(instance, flow, tmp_path, crash):
    run = build_to_export(flow, {"tables": {"sample/*": ["*"]}})
    before = stage_ids(flow, run)
    flow.lock(run, "selection", {"files": FILES[1:]})

    if crash != "no_crash":
        # the daemon creates the run for the request, then dies before submitting it
        assert sensor_iteration("RUN_CREATED") != 0
        [created] = dagster_runs(instance, run)
        assert created.status == dg.DagsterRunStatus.NOT_STARTED

    def chain_done() -> bool:
        export = flow.stage_status(run, "export")
        settled = not instance.get_runs(dg.RunsFilter(tags={RUN_TAG: run}, statuses=ACTIVE))
        return export.completed and export.stage_id != before["export"] and settled

    run_daemon_until(chain_done, tmp_path / "daemon.log")

    after = stage_ids(flow, run)
    for stage in CHAIN:
        assert after[stage] != before[stage], f"{stage} kept its old stage id"
        assert flow.stage_status(run, stage).completed
    assert after["discovery"] == before["discovery"]
    assert manifest_sources(flow, run) == set(FILES[1:])

    [chain_run] = dagster_runs(instance, run)  # one run for the whole chain, never a second
    assert chain_run.status == dg.DagsterRunStatus.SUCCESS
    assert sorted(key.path[-1] for key in chain_run.asset_selection) == sorted(CHAIN)
    counts = materialization_counts(instance, run)
    assert counts == {"discovery": 0, **{stage: 1 for stage in CHAIN}}, counts


def tick(instance, cursor: str | None) -> tuple[dg.SensorResult, list[dg.ExecuteInProcessResult]]:
    """One sensor evaluation (a fresh context, as after a restart), then its requested runs
    executed on the same instance with the job the daemon would launch."""
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"dat": RESOURCES["dat"]}
    )
    result = dat_lock_sensor(context)
    job = defs.resolve_job_def(dat_stages_job.name)
    outcomes = []
    for request in result.run_requests:
        ensure_run_partition(instance, request.partition_key)
        subset = job.get_subset(asset_selection=set(request.asset_selection))
        outcomes.append(
            subset.execute_in_process(
                instance=instance,
                partition_key=request.partition_key,
                tags=request.tags,
                raise_on_error=False,
            )
        )
    return result, outcomes


def test_chain_stops_where_a_kept_config_no_longer_validates(instance, flow):
    explicit = {"tables": {path: ["*"] for path in FILES}}
    run = build_to_export(flow, explicit)
    cursor = tick(instance, None)[0].cursor
    old_parse = flow.artifact_path(flow.stage_status(run, "parse"))
    old_export = flow.artifact_path(flow.stage_status(run, "export"))

    flow.lock(run, "selection", {"files": FILES[1:]})
    result, [outcome] = tick(instance, cursor)
    assert not outcome.success
    [failure] = [e for e in outcome.all_events if e.is_step_failure]
    assert failure.step_key == "dat__table_selection"
    description = failure.step_failure_data.user_failure_data.description
    assert "sample/customers.parquet" in description and "\n" not in description
    assert not [e for e in outcome.all_events if e.step_key == "dat__parse" and e.is_step_start]

    table_selection = flow.stage_status(run, "table_selection")
    assert not table_selection.locked
    assert "sample/customers.parquet" in table_selection.error
    stopped = [e for e in flow.store.run_events(run) if e.kind == "follow_stopped"]
    assert [e.stage for e in stopped] == ["table_selection"]
    assert flow.stage_status(run, "table_availability").completed
    assert not flow.stage_status(run, "parse").locked
    assert old_parse.is_file() and old_export.is_file(), "unlock deleted an artifact"
    assert tick(instance, result.cursor)[0].run_requests == [], "the stop was retried"


def test_launchpad_relock_in_a_follow_run_requests_the_rest_of_the_chain(instance, flow):
    run = build_to_export(flow, {"tables": {"sample/*": ["*"]}})
    cursor = tick(instance, None)[0].cursor
    ensure_run_partition(instance, run)
    launchpad = dg.materialize(
        dat_stage_assets,
        selection=[stage_key("selection")],
        partition_key=run,
        instance=instance,
        resources=RESOURCES,
        run_config={"ops": {"dat__selection": {"config": {"lock": {"files": FILES[1:]}}}}},
    )
    assert launchpad.success
    result, [outcome] = tick(instance, cursor)
    assert outcome.success
    [request] = result.run_requests
    assert [key.path[-1] for key in request.asset_selection] == CHAIN[1:]
    assert manifest_sources(flow, run) == set(FILES[1:])


def test_analysis_source_following_the_export_is_reanalysed_after_a_reexport(instance, flow):
    from dat_pipeline.analysis.runner import AnalysisRunner
    from dat_pipeline.analysis.sources import add_source
    from dat_pipeline.defs.analysis import analysis_follow_sensor, build_analysis_assets
    from dat_pipeline.orchestration.analysis import launch_analysis

    run = build_to_export(flow, {"tables": {"sample/*": ["*"]}})
    cursor = tick(instance, None)[0].cursor
    dataset = flow.load_artifact(run, "export")["dataset_id"][0]
    runner = AnalysisRunner(store=flow.store, data_root=flow.data_root)
    add_source(flow.store, "sales_follow", dataset, follow=True, data_root=flow.data_root)
    first = launch_analysis(instance, "sales_follow", runner=runner, in_process=True)
    assert first.success
    before = {s.phase: s.fingerprint for s in runner.states("sales_follow")}

    def follow_tick():
        context = dg.build_sensor_context(instance=instance)
        return list(analysis_follow_sensor(context))

    assert isinstance(follow_tick()[0], dg.SkipReason), "nothing changed yet"

    flow.lock(run, "selection", {"files": FILES[1:]})
    assert all(outcome.success for outcome in tick(instance, cursor)[1])
    requests = [r for r in follow_tick() if isinstance(r, dg.RunRequest)]
    assert len(requests) == 1 and requests[0].partition_key == "sales_follow"
    result = dg.materialize(
        assets=build_analysis_assets(runner.graph),
        selection=requests[0].asset_selection,
        partition_key="sales_follow",
        instance=instance,
        tags=requests[0].tags,
    )
    assert result.success
    states = {s.phase: s for s in runner.states("sales_follow")}
    assert all(state.state == "ok" for state in states.values())
    changed = [phase for phase, state in states.items() if state.fingerprint != before[phase]]
    assert "import" in changed and len(changed) == len(states)
    again = [r for r in follow_tick() if isinstance(r, dg.RunRequest)]
    assert again == [], "the same export was analysed twice"
