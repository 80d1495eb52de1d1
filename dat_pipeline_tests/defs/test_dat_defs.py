"""The Dagster layer of DAT against real Dagster instances."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.definitions import RESOURCES, defs
from dat_pipeline.defs.dat import (
    RUN_TAG,
    dat_lock_sensor,
    dat_runs,
    dat_stage_assets,
    dat_unlock,
    ensure_run_partition,
    materialize_stages,
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


def test_a_partition_added_in_dagster_is_a_dat_run(data_root: Path, tmp_path: Path, flow):
    # what the UI's "Add new partition" does, then a materialization with a lock config
    with dg.DagsterInstance.get() as home:
        home.add_dynamic_partitions(dat_runs.name, ["analyst-ui-created"])
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump({"ops": {"dat__discovery": {"config": {"lock": {"root": "sample"}}}}})
    )
    project = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [
            *(str(Path(sys.executable).with_name("dagster")), "asset", "materialize"),
            *("-m", "dat_pipeline.definitions", "--select", "dat/discovery"),
            *("--partition", "analyst-ui-created", "-c", str(config)),
        ],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert flow.get_run("analyst-ui-created").name == "analyst-ui-created"
    status = flow.stage_status("analyst-ui-created", "discovery")
    assert status.locked and status.completed
    with dg.DagsterInstance.get() as home:
        event = home.get_latest_materialization_event(stage_key("discovery"))
    metadata = event.asset_materialization.metadata
    assert event.asset_materialization.partition == "analyst-ui-created"
    assert metadata["state"].value == "LOCKED"
    assert metadata["stage_id"].value == status.stage_id
    assert metadata["config"].value == status.config


def test_a_domain_error_is_the_one_line_failure_of_the_step(instance, flow):
    run = flow.create_run().run_id
    assert materialize(instance, run, "discovery", {"root": "sample"}).success
    result = materialize(instance, run, "selection", {"files": ["sample/nope.csv"]})
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    description = failure.step_failure_data.user_failure_data.description
    assert "sample/nope.csv" in description and "\n" not in description
    assert "Traceback" not in description
    metadata = failure.step_failure_data.user_failure_data.metadata
    assert metadata["stage"].value == "selection" and metadata["dat_run"].value == run


def test_materialize_builds_unbuilt_locked_ancestors_in_one_in_process_run(instance, flow):
    run = flow.create_run().run_id
    flow.lock(run, "discovery", {"root": "sample"})
    flow.lock(run, "selection", {"files": ["sample/stores.tsv"]})
    result = materialize_stages(instance, run, ["selection"], RESOURCES)
    assert result.success
    assert flow.stage_status(run, "discovery").completed
    assert flow.stage_status(run, "selection").completed
    record = instance.get_run_record_by_id(result.run_id)
    assert record.dagster_run.job_name == "dat_stages"
    assert record.dagster_run.tags[RUN_TAG] == run
    kinds = {
        e.dagster_event.event_type for e in instance.all_logs(result.run_id) if e.is_dagster_event
    }
    assert dg.DagsterEventType.STEP_WORKER_STARTING not in kinds, "a step ran in a subprocess"
    messages = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any("discovered" in m for m in messages), "the step's log is not in the run's log"


GRAPH_OVERRIDE_CHECK = """
import json
import dagster as dg
from dat_pipeline.definitions import RESOURCES, defs
from dat_pipeline.defs.dat import dat_lock_sensor, stage_key

flow = RESOURCES["dat"].workflow()
run = flow.create_run().run_id
for stage, config in [
    ("discovery", {"root": "sample"}),
    ("selection", {"files": ["sample/stores.tsv"]}),
    ("table_availability", {}),
    ("table_selection", {"tables": {"sample/*": ["*"]}}),
]:
    flow.lock(run, stage, config)
    flow.materialize(run, stage)
flow.lock(run, "parse", {})
cursor = str(flow.store.last_seq())
flow.lock(run, "preview", {})
with dg.instance_for_test() as instance:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"dat": RESOURCES["dat"]}
    )
    [request] = dat_lock_sensor(context).run_requests
parents = defs.resolve_asset_graph().get(stage_key("preview")).parent_keys
print(json.dumps({
    "preview_parents": sorted(key.path[-1] for key in parents),
    "preview_request": [key.path[-1] for key in request.asset_selection],
}))
"""


def test_a_stage_graph_override_reaches_the_assets_and_the_lock_sensor(data_root: Path, tmp_path):
    from dat_pipeline.dat.graph import DEFAULT_GRAPH

    graph = DEFAULT_GRAPH.model_dump(mode="json")
    for rule in graph["stages"]:
        if rule["name"] == "preview":  # preview of the parsed tables, not of the raw ones
            rule["requires"] = ["parse"]
        if rule["name"] == "parse":
            rule["unlocks"] = ["export", "preview"]
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump(graph))
    project = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", GRAPH_OVERRIDE_CHECK],
        cwd=project,
        env={**os.environ, "DAT_STAGE_GRAPH": str(path)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["preview_parents"] == ["parse"]
    # the preview's run first builds its unbuilt gate: parse, under the override only
    assert seen["preview_request"] == ["parse", "preview"]
