"""`dat cancel RUN`: stop the work of a DAT run, wherever it runs.

Two things happen: a `cancel` event in the control store, which every stage computing for the run
sees at its next checkpoint (between chunks of a parse), and the Dagster runs tagged
`dat/run=RUN` that are queued or in progress are cancelled on the instance (dequeued, or
terminated through the run launcher). A run executing in-process (e.g. `dat materialize`) is not
owned by a launcher and stops through the cancel event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from dat_pipeline.cli.dat_commands import workflow
from dat_pipeline.cli.output import JsonOption, emit_json, emit_table, handles_errors

if TYPE_CHECKING:
    import dagster as dg


def cancel_dagster_runs(instance: dg.DagsterInstance, run_id: str) -> list[dict[str, Any]]:
    """Cancel the queued or in-progress Dagster runs of DAT run `run_id`; one entry per run."""
    # Imported here so that `dat --help` and the other commands do not load Dagster.
    from dat_pipeline.orchestration.launch import cancel_dagster_runs as cancel_runs

    return cancel_runs(instance, run_id)


@handles_errors
def cancel(run_id: str, as_json: bool = JsonOption) -> None:
    """Cancel a DAT run: stages stop at their next checkpoint; completed work is kept."""
    from dat_pipeline.defs.instance import get_instance

    event = workflow().cancel(run_id)
    with get_instance() as instance:
        dagster_runs = cancel_dagster_runs(instance, run_id)
    if as_json:
        emit_json({"run_id": run_id, "cancel_event": event, "dagster_runs": dagster_runs})
        return
    typer.echo(
        f"cancel requested for {run_id} (event #{event}); stages stop at their next checkpoint"
    )
    if dagster_runs:
        emit_table(
            f"Dagster runs of {run_id}",
            ["dagster_run_id", "status_before", "terminated"],
            [[r["dagster_run_id"], r["status_before"], r["terminated"]] for r in dagster_runs],
        )
