"""`dat cancel RUN`: stop the work of a DAT run, wherever it runs.

Two things happen (`services.dat.cancel`): a `cancel` event in the control store, which every
stage computing for the run sees at its next checkpoint (between chunks of a parse), and the
Dagster runs tagged `dat/run=RUN` that are queued or in progress are cancelled on the instance
(dequeued, or terminated through the run launcher). A run executing in-process (e.g.
`dat materialize`) is not owned by a launcher and stops through the cancel event.
"""

from __future__ import annotations

import typer

from dat_pipeline.cli.output import JsonOption, act, emit_json, emit_table, handles_errors


@handles_errors
def cancel(run_id: str, as_json: bool = JsonOption) -> None:
    """Cancel a DAT run: stages stop at their next checkpoint; completed work is kept."""
    from dat_pipeline.services import dat as service

    report = act(lambda ctx: service.cancel(ctx, run_id))
    if as_json:
        emit_json(report)
        return
    typer.echo(
        f"cancel requested for {run_id} (event #{report['cancel_event']}); stages stop at their "
        "next checkpoint"
    )
    if report["dagster_runs"]:
        emit_table(
            f"Dagster runs of {run_id}",
            ["dagster_run_id", "status_before", "terminated"],
            [
                [r["dagster_run_id"], r["status_before"], r["terminated"]]
                for r in report["dagster_runs"]
            ],
        )
