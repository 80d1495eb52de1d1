"""Dagster runs of DAT runs (and of analyses), seen as jobs: launch in the background, look up,
cancel.

The HTTP API answers long work with 202 and the id of the Dagster run doing it (SPEC 9). The run
executes in this process (`materialize_stages` on a worker thread, the same path as
`dat materialize`), so it needs no daemon; it is recorded on the shared instance like any other
run, so it shows in the UI, and `dat cancel` stops it through the cancel event of the store.
`launch_tagged` is the mechanism; the analysis API starts `launch_analysis` through it too.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from dat_pipeline.defs.dat import RUN_TAG, materialize_stages
from dat_pipeline.errors import GateError

REQUEST_TAG = "dat/request"
STAGES_TAG = "dat/stages"  # as on the lock sensor's run requests
ACTIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dataclass
class Launch:
    """Work running on a worker thread; `job_id` is the Dagster run it started (None when the work
    ended without starting one, e.g. an analysis with nothing to re-run)."""

    run_id: str  # what the work is for: a DAT run id, or e.g. `analysis/<source>`
    stages: list[str]
    job_id: str | None
    thread: threading.Thread
    error: list[BaseException] = field(default_factory=list)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the run ends (True) or `timeout_s` passes (False)."""
        self.thread.join(timeout_s)
        return not self.thread.is_alive()


_active: dict[str, Launch] = {}
_active_lock = threading.Lock()


def launch_tagged(
    instance: dg.DagsterInstance,
    key: str,
    stages: list[str],
    work: Callable[[dict[str, str]], object],
    thread_name: str,
    start_timeout_s: float = 60.0,
    label: str | None = None,
    allow_no_run: bool = False,
) -> Launch:
    """Call `work(tags)` on a worker thread; return once the Dagster run it starts with `tags`
    exists (its id is `job_id`), or, with `allow_no_run`, once `work` ended without starting one.

    One launch per `key` at a time in this process: a second gets a GateError naming the job.
    `label` names the work in messages (default: `key`).
    """
    label = label or key
    request = uuid.uuid4().hex
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work({REQUEST_TAG: request, STAGES_TAG: ",".join(stages)})
        except BaseException as exc:  # reported through the launch, never lost in the thread
            errors.append(exc)
        finally:
            with _active_lock:
                if _active.get(key) is launch:
                    _active.pop(key, None)

    with _active_lock:
        running = _active.get(key)
        if running is not None and running.thread.is_alive():
            raise GateError(
                f"{label} is already materializing {', '.join(running.stages)} in job "
                f"{running.job_id}; wait for it to finish or cancel it"
            )
        thread = threading.Thread(target=run, name=thread_name)
        launch = Launch(key, stages, None, thread, errors)
        _active[key] = launch
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    filters = dg.RunsFilter(tags={REQUEST_TAG: request})
    while True:
        found = instance.get_run_ids(filters=filters, limit=1)
        if found:
            launch.job_id = found[0]
            return launch
        if allow_no_run and not thread.is_alive() and not errors:
            found = instance.get_run_ids(filters=filters, limit=1)
            launch.job_id = found[0] if found else None
            return launch
        if not thread.is_alive() or time.monotonic() > deadline:
            cause = errors[0] if errors else None
            raise RuntimeError(
                f"materializing {', '.join(stages)} of {label} did not start: "
                f"{cause.__class__.__name__ + ': ' + str(cause) if cause else 'timed out'}"
            ) from cause
        time.sleep(0.01)


def launch_stages(
    instance: dg.DagsterInstance,
    run_id: str,
    stages: list[str],
    resources: dict[str, Any],
    start_timeout_s: float = 60.0,
) -> Launch:
    """Start materializing `stages` of DAT run `run_id` on a thread; return once the run exists.

    One materialization per DAT run at a time in this process (the instance's `dat/run` tag limit
    does the same for queued runs): a second request gets a GateError naming the running job.
    """

    def work(tags: dict[str, str]) -> None:
        materialize_stages(instance, run_id, stages, resources, "WARNING", tags)

    return launch_tagged(
        instance,
        run_id,
        stages,
        work,
        f"dat-materialize-{run_id}",
        start_timeout_s,
        f"run {run_id}",
    )


def _failures(instance: dg.DagsterInstance, job_id: str) -> list[str]:
    records = instance.get_records_for_run(
        job_id, of_type={dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE}
    ).records
    messages = []
    for record in records:
        event = record.event_log_entry.dagster_event
        error = getattr(event.event_specific_data, "error", None) if event else None
        text = error.message if error is not None else (event.message if event else None)
        if text:
            messages.append(text.strip().splitlines()[0])
    return messages


def job_dict(instance: dg.DagsterInstance, job_id: str) -> dict[str, Any] | None:
    """A Dagster run as a job: status, DAT run, stages, times and failure messages; None if unknown."""
    record = instance.get_run_record_by_id(job_id)
    if record is None:
        return None
    run = record.dagster_run
    tagged = run.tags.get(STAGES_TAG)
    if tagged:
        stages = tagged.split(",")
    else:
        stages = sorted({key.path[-1] for key in run.asset_selection or []})
    status = run.status.value
    return {
        "job_id": run.run_id,
        "status": status,
        "run_id": run.tags.get(RUN_TAG),
        "stages": stages,
        "started_at": record.start_time,
        "ended_at": record.end_time,
        "errors": _failures(instance, job_id) if status == "FAILURE" else [],
    }


def cancel_dagster_runs(instance: dg.DagsterInstance, run_id: str) -> list[dict[str, Any]]:
    """Cancel the queued or in-progress Dagster runs of DAT run `run_id`; one entry per run."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(tags={RUN_TAG: run_id}, statuses=ACTIVE_STATUSES)
    )
    cancelled = []
    for run in runs:
        terminated = instance.run_coordinator.cancel_run(run.run_id)
        cancelled.append(
            {
                "dagster_run_id": run.run_id,
                "status_before": run.status.value,
                "terminated": bool(terminated),
            }
        )
    return cancelled
