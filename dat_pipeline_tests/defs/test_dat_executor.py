"""DAT runs launched like the Dagster UI launches them (the implicit asset job, a reconstructable
job on a persistent instance) execute in process: no step subprocess, logs in the run."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.defs.dat import dat_in_process_executor, ensure_run_partition, stage_key
from dat_pipeline.store import open_store


def clicked(group: str) -> dg.JobDefinition:
    """A job like the implicit asset job a click on "Materialize" runs: the group's assets, no
    executor of its own (so the code location's default)."""
    from dat_pipeline.definitions import defs

    job = dg.define_asset_job(f"clicked_{group}", selection=dg.AssetSelection.groups(group))
    return dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(job.name)


def clicked_dat() -> dg.JobDefinition:  # reconstructable: module-level, no arguments
    return clicked("dat")


def clicked_analysis() -> dg.JobDefinition:
    return clicked("analysis")


def test_the_implicit_asset_job_uses_the_code_location_executor():
    from dat_pipeline.definitions import defs

    assert defs.resolve_implicit_global_asset_job_def().executor_def is dat_in_process_executor
    assert clicked_dat().executor_def is dat_in_process_executor


@pytest.fixture
def instance(data_root: Path):
    with dg.instance_for_test() as test_instance:
        yield test_instance


def executor_for(job, keys: set[dg.AssetKey], config: dict | None = None) -> str:
    """The class of executor the code location's default executor builds for a run of `keys`
    (the subset a run worker reconstructs)."""
    subset = dg.reconstructable(job).get_subset(asset_selection=keys)
    with dg.instance_for_test() as instance:
        context = dg.InitExecutorContext(
            job=subset,
            executor_def=dat_in_process_executor,
            executor_config=config or {"multiprocess": {"retries": {"enabled": {}}}},
            instance=instance,
        )
        return type(dat_in_process_executor.executor_creation_fn(context)).__name__  # type: ignore[misc]


def test_dat_runs_get_the_in_process_executor_and_others_keep_the_default():
    stages = {stage_key("discovery"), stage_key("selection")}
    assert executor_for(clicked_dat, stages) == "InProcessExecutor"
    other = {dg.AssetKey(["analysis", "statistics"])}
    assert executor_for(clicked_analysis, other) == "MultiprocessExecutor"
    assert (
        executor_for(clicked_analysis, other, {"in_process": {"retries": {"enabled": {}}}})
        == "InProcessExecutor"
    )


def test_a_ui_materialization_of_a_stage_runs_without_a_step_subprocess(instance, data_root):
    flow = DatWorkflow(open_store(), data_root)
    run = flow.create_run(name="ui").run_id
    ensure_run_partition(instance, run)
    result = dg.execute_job(
        dg.reconstructable(clicked_dat),
        instance=instance,
        asset_selection=[stage_key("discovery")],
        tags={"dagster/partition": run},
        run_config={"ops": {"dat__discovery": {"config": {"lock": {"root": "sample"}}}}},
    )
    kinds = {event.event_type for event in result.all_events}
    assert dg.DagsterEventType.STEP_WORKER_STARTING not in kinds
    assert result.success
    assert dg.DagsterEventType.ASSET_MATERIALIZATION in kinds
    records = instance.get_records_for_run(result.run_id).records
    messages = [
        r.event_log_entry.user_message for r in records if not r.event_log_entry.is_dagster_event
    ]
    assert any("locked discovery" in message for message in messages), messages
    assert flow.stage_status(run, "discovery").completed
