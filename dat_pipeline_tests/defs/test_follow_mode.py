"""Follow mode end to end: a re-lock upstream re-materializes the chain through the real sensor."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.definitions import RESOURCES, defs
from dat_pipeline.defs.dat import dat_lock_sensor, ensure_run_partition
from dat_pipeline.store import open_store

FILES = ["sample/customers.parquet", "sample/sales_2024_q1.csv", "sample/stores.tsv"]
CHAIN = ["selection", "table_availability", "table_selection", "parse", "export"]


@pytest.fixture
def instance(data_root: Path):
    with dg.instance_for_test() as test_instance:
        yield test_instance


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


def tick(instance, cursor: str | None) -> dg.SensorResult:
    """One sensor evaluation (a fresh context each time, as after a daemon restart), then the
    requested runs executed on the same instance, as the daemon would launch them."""
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"dat": RESOURCES["dat"]}
    )
    result = dat_lock_sensor(context)
    job = defs.resolve_implicit_global_asset_job_def()
    for request in result.run_requests:
        ensure_run_partition(instance, request.partition_key)
        subset = job.get_subset(asset_selection=set(request.asset_selection))
        assert subset.execute_in_process(
            instance=instance, partition_key=request.partition_key, tags=request.tags
        ).success
    return result


def run_ticks(instance, cursor: str | None, limit: int = 12) -> tuple[str | None, list]:
    requests = []
    for _ in range(limit):
        result = tick(instance, cursor)
        requests += result.run_requests
        if result.cursor == cursor and not result.run_requests:
            return cursor, requests
        cursor = result.cursor
    raise AssertionError("the chain did not settle")


def stage_ids(flow: DatWorkflow, run: str) -> dict[str, str | None]:
    return {s.stage: s.stage_id for s in flow.status(run)}


def manifest_sources(flow: DatWorkflow, run: str) -> set[str]:
    row = flow.load_artifact(run, "export").row(0, named=True)
    manifest = json.loads((flow.data_root / row["manifest_path"]).read_text())
    return {entry["source_file"] for entry in manifest["lineage"]}


@pytest.mark.parametrize("restart_between_ticks", [False, True])
def test_relocking_selection_rematerializes_the_chain_once(instance, flow, restart_between_ticks):
    run = build_to_export(flow, {"tables": {"sample/*": ["*"]}})
    assert manifest_sources(flow, run) == set(FILES)
    cursor, _ = run_ticks(instance, None)  # drain the events of the build
    before = stage_ids(flow, run)
    computed_before = {e.seq for e in flow.store.run_events(run) if e.kind == "complete"}

    flow.lock(run, "selection", {"files": FILES[1:]})
    if restart_between_ticks:
        # the daemon restarts after one tick: a new context resumes from the stored cursor
        first = tick(instance, cursor)
        cursor, _ = run_ticks(instance, first.cursor)
    else:
        cursor, _ = run_ticks(instance, cursor)

    after = stage_ids(flow, run)
    for stage in CHAIN:
        assert after[stage] != before[stage], f"{stage} kept its old stage id"
        assert flow.stage_status(run, stage).completed
    assert after["discovery"] == before["discovery"]
    assert manifest_sources(flow, run) == set(FILES[1:])

    new_completions = [
        e
        for e in flow.store.run_events(run)
        if e.kind == "complete" and e.seq not in computed_before and not e.detail["reused"]
    ]
    computed = [e.stage for e in new_completions]
    assert sorted(computed) == sorted(CHAIN), f"stages computed twice or missing: {computed}"
    assert run_ticks(instance, cursor)[1] == []


def test_chain_stops_where_a_kept_config_no_longer_validates(instance, flow):
    explicit = {"tables": {path: ["*"] for path in FILES}}
    run = build_to_export(flow, explicit)
    cursor, _ = run_ticks(instance, None)
    old_parse = flow.artifact_path(flow.stage_status(run, "parse"))
    old_export = flow.artifact_path(flow.stage_status(run, "export"))

    flow.lock(run, "selection", {"files": FILES[1:]})
    run_ticks(instance, cursor)

    table_selection = flow.stage_status(run, "table_selection")
    assert not table_selection.locked
    assert "sample/customers.parquet" in table_selection.error
    stopped = [e for e in flow.store.run_events(run) if e.kind == "follow_stopped"]
    assert [e.stage for e in stopped] == ["table_selection"]
    assert flow.stage_status(run, "table_availability").completed
    assert not flow.stage_status(run, "parse").locked
    assert old_parse.is_file() and old_export.is_file(), "unlock deleted an artifact"


def test_analysis_source_following_the_export_is_reanalysed_after_a_reexport(instance, flow):
    from dat_pipeline.analysis.runner import AnalysisRunner
    from dat_pipeline.analysis.sources import add_source
    from dat_pipeline.defs.analysis import (
        analysis_follow_sensor,
        build_analysis_assets,
        launch_analysis,
    )

    run = build_to_export(flow, {"tables": {"sample/*": ["*"]}})
    cursor, _ = run_ticks(instance, None)
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
    run_ticks(instance, cursor)
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
