"""Terminating a running analysis run from the UI (GraphQL `terminateRun`, under the real
webserver and daemon) cancels it and leaves no partial result: every phase folder is either
complete (its meta and all its tables) or holds no meta, so nothing reads it as done; no temp
file is left; the next run completes the source."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest
from ops_support import LAUNCH_RUN, LOCATION, RUN_STATUS, dagster_ui, graphql, tail, wait_until

from dat_pipeline.analysis.runner import META_FILE, AnalysisRunner
from dat_pipeline.analysis.sources import add_source
from dat_pipeline.orchestration.analysis import ensure_source_partition, launch_analysis

SOURCE = "shop"
TERMINATE = """
mutation($id: String!) {
  terminateRun(runId: $id) { __typename ... on PythonError { message } }
}"""


@pytest.mark.slow
def test_terminating_a_running_analysis_from_the_ui_leaves_no_partial_phase(
    data_root: Path, tmp_path: Path
):
    runner = AnalysisRunner()
    add_source(runner.store, SOURCE, "sample")
    instance = dg.DagsterInstance.get()
    ensure_source_partition(instance, SOURCE)

    with dagster_ui(dict(os.environ), tmp_path) as port:
        launched = graphql(
            port,
            LAUNCH_RUN,
            {
                "params": {
                    "selector": {
                        "repositoryLocationName": LOCATION,
                        "repositoryName": "__repository__",
                        "jobName": "analysis_job",
                    },
                    "executionMetadata": {
                        "tags": [
                            {"key": "dagster/partition", "value": SOURCE},
                            {"key": "analysis/source", "value": SOURCE},
                        ]
                    },
                    "mode": "default",
                }
            },
        )["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]

        def some_phase_done() -> bool:
            run = instance.get_run_by_id(run_id)
            assert run is not None and not run.is_finished, tail(tmp_path / "daemon.log")
            return bool(instance.get_records_for_run(
                run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            ).records)  # fmt: skip

        wait_until(some_phase_done, 240, "the first analysis phase to finish")
        terminated = graphql(port, TERMINATE, {"id": run_id})["terminateRun"]
        assert terminated["__typename"] == "TerminateRunSuccess", terminated
        wait_until(
            lambda: graphql(port, RUN_STATUS, {"id": run_id})["runOrError"]["status"] == "CANCELED",
            120,
            "the run to be canceled",
        )

    done = {
        r.event_log_entry.dagster_event.asset_key.path[-1]
        for r in instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
    }
    phases = list(runner.graph.order)
    assert done and set(phases) - done, "the run was not cut off mid-way"
    complete = set()
    for phase in phases:
        folder = runner.phase_dir(SOURCE, phase)
        if (folder / META_FILE).exists():
            meta = runner.read_meta(SOURCE, phase)
            assert meta is not None and meta.status == "ok"
            assert {f"{t}.parquet" for t in meta.tables} <= {p.name for p in folder.iterdir()}
            complete.add(phase)
    assert done & set(phases) <= complete
    assert [p for p in data_root.rglob("*") if p.name.endswith(".tmp")] == []

    rerun = launch_analysis(instance, SOURCE, in_process=True)
    assert rerun.success
    assert {p.phase for p in rerun.phases if p.state == "ran"} == set(phases) - complete
