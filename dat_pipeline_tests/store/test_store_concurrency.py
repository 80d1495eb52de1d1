"""Two processes lock and unlock the same run at once, on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from pathlib import Path

from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.store import ControlStore

WORKER = Path(__file__).with_name("store_worker.py")
ITERATIONS = 150


def replay(events):
    """Rebuild each stage's state from the log, checking the gate held at every lock."""
    state: dict[str, tuple[str, str | None]] = {}
    for event in events:
        if event.kind == "lock":
            if event.stage == "selection":
                assert state.get("discovery", ("UNLOCKED", None))[0] == "LOCKED", event
                assert event.detail["upstream"]["discovery"] == state["discovery"][1]
            state[event.stage] = ("LOCKED", event.stage_id)
        elif event.kind == "unlock":
            state[event.stage] = ("UNLOCKED", state[event.stage][1])
    return state


def test_two_processes_lose_no_event_and_leave_no_half_written_lock(
    store: ControlStore, store_url: str, data_root: Path
):
    flow = DatWorkflow(store, data_root)
    run = flow.create_run(run_id="contended").run_id
    flow.lock(run, "discovery", {"root": "sample"})
    flow.materialize(run, "discovery")
    start = str(time.time() + 2.5)
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                store_url,
                str(data_root),
                run,
                role,
                str(ITERATIONS),
                start,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for role in ("a", "b")
    ]
    for worker in workers:
        _out, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err

    events = store.run_events(run)
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for role in ("a", "b"):
        pings = [e.detail["i"] for e in events if e.kind == "ping" and e.detail["role"] == role]
        assert pings == list(range(ITERATIONS)), f"worker {role} lost or repeated events"

    roles = [e.detail["role"] for e in events if e.kind == "ping"]
    switches = sum(1 for x, y in itertools.pairwise(roles) if x != y)
    assert switches > 2, "the two workers never ran at the same time"

    replayed = replay(events)
    stored = {s.stage: s for s in flow.status(run) if s.stage in replayed}
    for stage, (state, stage_id) in replayed.items():
        assert stored[stage].state == state
        assert stored[stage].stage_id == stage_id
        if state == "LOCKED":
            assert stored[stage].locked_at and stored[stage].config is not None
    if stored["selection"].locked:
        assert stored["discovery"].locked
