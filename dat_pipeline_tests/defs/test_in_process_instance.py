"""The instance of runs executed in the CLI's process: the Dagster home's storage (the run shows in
the UI with its event log), no compute-log capture (no `tail` processes). It is built with
Dagster's private InstanceRef: a Dagster upgrade that changes it fails here first."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from dat_pipeline.defs.instance import in_process_instance
from dat_pipeline.orchestration import record
from dat_pipeline.services import dat as service
from dat_pipeline.services.context import open_context


def test_a_cli_run_is_on_the_home_instance_with_its_logs_and_no_log_capture(data_root: Path):
    with in_process_instance() as light, dg.DagsterInstance.get() as home:
        assert type(light.compute_log_manager).__name__ == "NoOpComputeLogManager"
        assert light.root_directory == home.root_directory
    with open_context() as ctx:
        run = service.create_run(ctx, name="cli")["run_id"]
        assert service.lock(ctx, run, "discovery", {"root": "sample"}, materialize=True)[
            "completed"
        ]
    record.wait_recorded()  # the Dagster run is recorded by a detached process
    with dg.DagsterInstance.get() as home:
        [dagster_run] = home.get_runs(dg.RunsFilter(tags={"dat/run": run}))
        assert dagster_run.status == dg.DagsterRunStatus.SUCCESS
        records = home.get_records_for_run(dagster_run.run_id).records
    messages = [r.event_log_entry.user_message for r in records]
    assert any(message.startswith("discovered") for message in messages), messages
