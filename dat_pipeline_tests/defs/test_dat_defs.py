"""The Dagster layer of DAT against real Dagster instances."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.definitions import RESOURCES, defs
from dat_pipeline.defs.dat import (
    dat_lock_sensor,
    dat_runs,
    dat_stage_assets,
    dat_unlock,
    ensure_run_partition,
    stage_key,
)
from dat_pipeline.store import open_store


@pytest.fixture
def instance(data_root: Path):
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def flow(data_root: Path) -> DatWorkflow:
    return DatWorkflow(open_store(), data_root)


def materialize(instance, run_id: str, stage: str, lock: dict | None = None):
    ensure_run_partition(instance, run_id)
    config = {"lock": lock} if lock is not None else {}
    return dg.materialize(
        dat_stage_assets,
        selection=[stage_key(stage)],
        partition_key=run_id,
        instance=instance,
        resources=RESOURCES,
        run_config={"ops": {f"dat__{stage}": {"config": config}}},
        raise_on_error=False,
    )


def test_definitions_load_in_a_fresh_process_and_describe_every_asset():
    # the load time is measured by `python -m bench overhead`
    subprocess.run([sys.executable, "-c", "import dat_pipeline.definitions"], check=True)
    graph = defs.resolve_asset_graph()
    keys = {key for key in graph.get_all_asset_keys() if key.path[0] == "dat"}
    assert {stage_key("discovery"), stage_key("selection"), stage_key("context")} <= keys
    for key in keys:
        node = graph.get(key)
        assert node.group_name == "dat"
        assert node.description and node.owners == ["team:data-platform"]
        assert node.partitions_def == dat_runs
    assert graph.get(stage_key("selection")).parent_keys == {stage_key("discovery")}
    assert defs.get_job_def("dat_unlock") is not None
    assert defs.get_sensor_def("dat_lock_sensor") is not None


def test_launchpad_config_locks_the_stage_and_sets_the_data_version(instance, flow):
    run = flow.create_run().run_id
    result = materialize(instance, run, "discovery", {"root": "sample", "include": ["*.csv"]})
    assert result.success
    status = flow.stage_status(run, "discovery")
    assert status.locked and status.completed
    assert status.config["include"] == ["*.csv"]
    event = instance.get_latest_materialization_event(stage_key("discovery"))
    materialization = event.asset_materialization
    assert materialization.partition == run
    assert materialization.tags["dagster/data_version"] == status.stage_id
    assert materialization.metadata["rows"].value == 3
    assert "sales_2024_q1.csv" in materialization.metadata["preview"].value


def test_rematerializing_with_the_same_config_reuses_the_artifact(instance, flow):
    run = flow.create_run().run_id
    assert materialize(instance, run, "discovery", {"root": "sample"}).success
    path = flow.artifact_path(flow.stage_status(run, "discovery"))
    mtime = path.stat().st_mtime_ns
    assert materialize(instance, run, "discovery", {"root": "sample"}).success
    assert path.stat().st_mtime_ns == mtime
    event = instance.get_latest_materialization_event(stage_key("discovery"))
    assert event.asset_materialization.metadata["reused"].value is True


def test_materializing_an_unlocked_stage_without_config_fails_saying_how_to_lock(instance, flow):
    run = flow.create_run().run_id
    result = materialize(instance, run, "discovery")
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "lock it first: dat lock" in failure.event_specific_data.error.to_string()


def test_dat_unlock_job_cascades(instance, flow):
    run = flow.create_run().run_id
    assert materialize(instance, run, "discovery", {"root": "sample"}).success
    assert materialize(instance, run, "selection", {"files": ["sample/stores.tsv"]}).success
    result = dat_unlock.execute_in_process(
        run_config={"ops": {"unlock_stage": {"config": {"stage": "discovery"}}}},
        instance=instance,
        resources={"dat": RESOURCES["dat"]},
        partition_key=run,
    )
    assert result.success
    assert result.output_for_node("unlock_stage") == ["discovery", "selection"]
    assert not flow.stage_status(run, "selection").locked


def evaluate(instance, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"dat": RESOURCES["dat"]}
    )
    return dat_lock_sensor(context)


def test_lock_sensor_requests_each_new_lock_once_and_survives_a_restart(instance, flow):
    run = flow.create_run().run_id
    flow.lock(run, "discovery", {"root": "sample"})
    first = evaluate(instance, None)
    assert [r.partition_key for r in first.run_requests] == [run]
    assert first.run_requests[0].asset_selection == [stage_key("discovery")]
    assert first.dynamic_partitions_requests[0].partition_keys == [run]
    assert evaluate(instance, first.cursor).run_requests == []

    # A crash before the cursor is saved replays the same events: the run key is identical,
    # so Dagster drops the duplicate request.
    replay = evaluate(instance, None)
    assert replay.run_requests[0].run_key == first.run_requests[0].run_key

    flow.materialize(run, "discovery")
    flow.lock(run, "selection", {"files": ["sample/stores.tsv"]})
    flow.lock(run, "context", {"notes": "n"})
    # a restart: a new context on the same instance, with the cursor the daemon stored
    second = evaluate(instance, first.cursor)
    assert [r.asset_selection for r in second.run_requests] == [
        [stage_key("selection")],
        [stage_key("context")],
    ]
    assert not any("discovery" in r.run_key for r in second.run_requests)
    assert evaluate(instance, second.cursor).run_requests == []


def test_lock_sensor_includes_unmaterialized_upstream_and_skips_built_stages(instance, flow):
    run = flow.create_run().run_id
    flow.lock(run, "discovery", {"root": "sample"})
    first = evaluate(instance, None)
    flow.lock(run, "selection", {"files": ["sample/stores.tsv"]})
    # discovery is still unbuilt: the selection's run builds it first
    result = evaluate(instance, first.cursor)
    assert result.run_requests[0].asset_selection == [
        stage_key("discovery"),
        stage_key("selection"),
    ]
    flow.materialize(run, "discovery")
    flow.unlock(run, "discovery")
    flow.lock(run, "discovery", {"root": "sample"})  # same inputs: artifact exists
    assert evaluate(instance, result.cursor).run_requests == []


def test_lock_sensor_leaves_stages_locked_inside_a_dagster_run_to_that_run(instance, flow):
    run = flow.create_run().run_id
    assert materialize(instance, run, "discovery", {"root": "sample"}).success
    lock = next(e for e in flow.store.run_events(run) if e.kind == "lock")
    assert lock.detail["dagster_run"]
    assert evaluate(instance, None).run_requests == []


def test_sensor_requested_run_materializes_on_the_instance(instance, flow):
    run = flow.create_run().run_id
    flow.lock(run, "discovery", {"root": "sample"})
    request = evaluate(instance, None)
    instance.add_dynamic_partitions(dat_runs.name, [run])
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.get_subset(asset_selection=set(request.run_requests[0].asset_selection))
    outcome = result.execute_in_process(instance=instance, partition_key=run)
    assert outcome.success
    assert flow.stage_status(run, "discovery").completed


def test_dagster_validates_the_workspace(data_root: Path):
    project = Path(__file__).resolve().parents[2]
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Validation successful" in result.stderr + result.stdout
