"""`dat lock --materialize` and `dat materialize` without Dagster in the user's process.

The CLI builds the artifacts with the domain code (what each stage asset does: re-lock a
follow-mode stage with its kept config, compute, commit), answers at once, and hands Dagster's
bookkeeping to a detached child process (`python -m dat_pipeline.orchestration.record`). The
child runs the same in-process `dat_stages` run, with the Dagster run id the locks already name
(so the lock sensor leaves the stages to it), and each stage asset finds its artifact there and
reuses it: the UI shows the run, its logs and one materialization per stage id.

A domain failure fails the caller before anything is handed off (the stages built before it are
still recorded). A failed recording is in the child's log, `<data root>/.dagster_records/<id>.log`
(the Dagster run id is on the lock event and the run's `dat/record_log` tag); `wait_recorded`
waits for a recording and raises naming that log, and `unfinished` tells `dat status` which
recordings of a DAT run are still pending, failed or were interrupted (files beside the log:
`<id>.json` while pending, `<id>.failed` after a failure).

This module imports no Dagster at the top: only the child and `wait_recorded` do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dat_pipeline.dat.follow import follow_before_build
from dat_pipeline.dat.workflow import DatWorkflow, StageOutcome
from dat_pipeline.errors import DatError
from dat_pipeline.store import StageStatus

RECORDS_DIR = ".dagster_records"
LOG_TAG = "dat/record_log"
WAIT_LIMIT_S = 120.0


@dataclass
class Handoff:
    dagster_run_id: str
    stages: list[str]
    log: Path
    process: subprocess.Popen[bytes]


_HANDOFFS: dict[str, Handoff] = {}


def record_log(flow: DatWorkflow, dagster_run_id: str) -> Path:
    """Where the child recording Dagster run `dagster_run_id` writes its output."""
    return flow.data_root / RECORDS_DIR / f"{dagster_run_id}.log"


def build(flow: DatWorkflow, run_id: str, selection: list[str]) -> dict[str, list[str]]:
    """Build `selection` (graph order) as the stage assets would, with `flow` acting for the
    Dagster run that records them; the domain's log lines of each stage built. A failure raises
    a one-line DatError carrying `built` (the stages done before it) and their `lines`."""
    built: list[str] = []
    lines: dict[str, list[str]] = {}
    for stage in selection:
        try:
            follow_before_build(flow, run_id, stage)
            flow.materialize(run_id, stage, log=lines.setdefault(stage, []).append)
        except Exception as exc:
            first = str(exc).strip().splitlines()
            raise DatError(
                first[0] if first else exc.__class__.__name__, built=built, lines=lines
            ) from exc
        built.append(stage)
    return lines


def hand_off(
    flow: DatWorkflow,
    run_id: str,
    stages: list[str],
    dagster_run_id: str,
    log_level: str,
    lines: dict[str, list[str]],
) -> Handoff:
    """Start the detached child that records `stages` of `run_id` as Dagster run
    `dagster_run_id`, with the domain's log `lines` of each stage in the run's log; its output
    goes to `record_log` (removed once the run is recorded, unless `log_level` asks for more
    than CRITICAL: Dagster's console log of the run is there)."""
    log = record_log(flow, dagster_run_id)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.with_suffix(".json").write_text(json.dumps(lines))
    argv = [sys.executable, "-m", __name__, run_id, dagster_run_id, log_level, *stages]
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "DAT_RECORD_LOG": str(log)},
        )
    handoff = Handoff(dagster_run_id, stages, log, process)
    _HANDOFFS[dagster_run_id] = handoff
    return handoff


def wait_recorded(dagster_run_id: str | None = None, timeout: float = WAIT_LIMIT_S) -> list[str]:
    """Wait until Dagster run `dagster_run_id` (default: every run this process handed off) is
    recorded on the instance; the ids waited for. DatError naming the child's log when the run
    failed or the child ended without finishing it."""
    import dagster as dg

    from dat_pipeline.defs.instance import get_instance

    ids = [dagster_run_id] if dagster_run_id else list(_HANDOFFS)
    deadline = time.monotonic() + timeout
    with get_instance() as instance:
        for run in ids:
            handoff = _HANDOFFS.get(run)
            while True:
                record = instance.get_run_by_id(run)
                if record is not None and record.is_finished:
                    break
                ended = handoff is not None and handoff.process.poll() is not None
                if (ended and record is None) or time.monotonic() > deadline:
                    raise _not_recorded(run, handoff, "did not finish")
                time.sleep(0.05)
            if handoff is not None:
                handoff.process.wait(max(deadline - time.monotonic(), 0.1))
                _HANDOFFS.pop(run, None)
            if record.status != dg.DagsterRunStatus.SUCCESS:
                raise _not_recorded(run, handoff, f"ended {record.status.value}")
    return ids


def unfinished(flow: DatWorkflow, run_id: str) -> list[dict[str, Any]]:
    """The recordings of DAT run `run_id` not done yet: {dagster_run_id, state (pending, failed
    or interrupted), stages, reason, log (relative to the data root)}, oldest first. A failed
    one is left out once another Dagster run completed each of its stages (the UI re-ran it)."""
    last_seq: dict[str, int] = {}
    completed: dict[str, list[tuple[int, str]]] = {}
    for event in flow.store.run_events(run_id):
        origin = event.detail.get("dagster_run")
        if origin:
            last_seq[origin] = event.seq
            if event.kind == "complete" and event.stage:
                completed.setdefault(event.stage, []).append((event.seq, origin))

    def recorded_since(dagster_run_id: str, stages: list[str]) -> bool:
        return all(
            any(seq > last_seq[dagster_run_id] and by != dagster_run_id for seq, by in done)
            for done in (completed.get(stage, []) for stage in stages)
        )

    found = []
    for dagster_run_id in last_seq:
        log = record_log(flow, dagster_run_id)
        failed, pending = log.with_suffix(".failed"), log.with_suffix(".json")
        if failed.is_file():
            state, detail = "failed", json.loads(failed.read_text())
        elif pending.is_file():
            stalled = time.time() - pending.stat().st_mtime > WAIT_LIMIT_S
            reason = "the recording process ended without finishing" if stalled else None
            detail = {"stages": list(json.loads(pending.read_text())), "reason": reason}
            state = "interrupted" if stalled else "pending"
        else:
            continue
        if state != "pending" and recorded_since(dagster_run_id, detail["stages"]):
            continue
        where = str(log.relative_to(flow.data_root))
        found.append({"dagster_run_id": dagster_run_id, "state": state, **detail, "log": where})
    return found


def settle(timeout: float = WAIT_LIMIT_S) -> None:
    """Wait for every child this process started to end, whatever it recorded (a test's
    teardown, before its data root goes away)."""
    while _HANDOFFS:
        _, handoff = _HANDOFFS.popitem()
        try:
            handoff.process.wait(timeout)
        except subprocess.TimeoutExpired:
            handoff.process.kill()


def _not_recorded(run: str, handoff: Handoff | None, what: str) -> DatError:
    where = f"see {handoff.log}" if handoff is not None else "see the run in the Dagster UI"
    return DatError(f"recording Dagster run {run} {what} ({where})", dagster_run_id=run)


def main(argv: list[str]) -> int:
    """The child: record `stages` of a DAT run as an in-process Dagster run with the given id;
    any failure leaves `<id>.failed` with its reason for `dat status`."""
    run_id, dagster_run_id, log_level, *stages = argv
    log = Path(os.environ["DAT_RECORD_LOG"])
    try:
        return _record(run_id, dagster_run_id, log_level, stages, log)
    except BaseException as exc:
        reason = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
        _failed(log, stages, f"{exc.__class__.__name__}: {reason}")
        raise


def _failed(log: Path, stages: list[str], reason: str) -> None:
    log.with_suffix(".failed").write_text(json.dumps({"stages": stages, "reason": reason}))
    log.with_suffix(".json").unlink(missing_ok=True)


def _record(run_id: str, dagster_run_id: str, log_level: str, stages: list[str], log: Path) -> int:
    from dat_pipeline.defs.dat import materialize_stages
    from dat_pipeline.defs.instance import in_process_instance
    from dat_pipeline.defs.resources import DatResource

    class Recording(DatResource):
        """The DAT resource whose stages first log what the domain logged building them."""

        def workflow(self) -> DatWorkflow:
            flow = super().workflow()
            recording = _Recording(flow.store, flow.data_root, flow.graph)
            recording.replay = json.loads(lines_file.read_text())
            return recording

    lines_file = log.with_suffix(".json")
    with in_process_instance() as instance:
        result = materialize_stages(
            instance,
            run_id,
            stages,
            {"dat": Recording()},
            log_level,
            {LOG_TAG: str(log)},
            dagster_run_id=dagster_run_id,
        )
    if result.success:
        lines_file.unlink(missing_ok=True)
        if log_level == "CRITICAL":  # nothing asked to read it (`--verbose` keeps Dagster's log)
            log.unlink(missing_ok=True)
        return 0
    reasons = "; ".join(_step_failures(result)) or "see the run in the Dagster UI"
    print(f"recording {', '.join(stages)} of run {run_id} as {dagster_run_id} failed: {reasons}")
    _failed(log, stages, reasons)
    return 1


class _Recording(DatWorkflow):
    """The workflow of a recording: `compute` first logs the lines the domain logged building
    the stage (in the CLI's process), so the Dagster run's log shows them before the reuse; and
    `commit` appends no second `complete` for a completion the caller already committed."""

    replay: dict[str, list[str]]

    def compute(self, run_id: str, stage: str, log=None) -> StageOutcome:  # type: ignore[no-untyped-def]
        for line in self.replay.get(stage, []) if log is not None else []:
            log(line)
        return super().compute(run_id, stage, log)

    def commit(self, outcome: StageOutcome) -> StageStatus:
        current = self.stage_status(outcome.run_id, outcome.stage)
        if outcome.reused and current.completed and current.stage_id == outcome.stage_id:
            return current
        return super().commit(outcome)


def _step_failures(result: Any) -> list[str]:
    """The domain message of each failed step: a dg.Failure's description, else the innermost
    cause of the error (the workflow's own exception), without its class name."""
    messages = []
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        data = event.event_specific_data
        failure = getattr(data, "user_failure_data", None)
        if failure is not None and failure.description:
            messages.append(failure.description.strip().splitlines()[0])
            continue
        error = data.error
        while error.cause is not None:
            error = error.cause
        text = error.message.strip().splitlines()[0] if error.message.strip() else ""
        prefix = f"{error.cls_name}: "
        messages.append(text.split(prefix, 1)[1] if prefix in text else text)
    return messages


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
