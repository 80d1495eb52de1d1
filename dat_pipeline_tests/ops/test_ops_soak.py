"""Eight processes lock, unlock and skip the stages of the same DAT runs for a bounded time
(DAT_SOAK_SECONDS, default 20; 60 in a long CI run) on the PostgreSQL control store. Checked
while they run and afterwards: no locked stage without its gates, a gap-free event log in commit
order, every operation of every process in it exactly once, and a replay of the log equal to
the stored state."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from dat_pipeline.dat.graph import DEFAULT_GRAPH
from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.store import ControlStore

WORKER = Path(__file__).with_name("ops_lock_worker.py")
PROCESSES = 8
RUNS = ("soak-a", "soak-b", "soak-c")


def gates_hold(statuses: dict) -> list[str]:
    broken = []
    for stage, status in statuses.items():
        if status.locked:
            for required in DEFAULT_GRAPH.rule(stage).requires:
                if not statuses[required].locked:
                    broken.append(f"{stage} locked without {required}")
    return broken


def replay(events) -> dict[str, tuple[str, str | None]]:
    """Each stage's state rebuilt from the log, checking every lock found its gates locked."""
    state: dict[str, tuple[str, str | None]] = {}
    for event in events:
        if event.kind in ("lock", "skip"):
            for required in DEFAULT_GRAPH.rule(event.stage).requires:
                assert state.get(required, ("UNLOCKED", None))[0] == "LOCKED", event
                assert event.detail["upstream"][required] == state[required][1], event
            state[event.stage] = ("LOCKED", event.stage_id)
        elif event.kind == "unlock":
            state[event.stage] = ("UNLOCKED", state[event.stage][1])
    return state


@pytest.mark.slow
@pytest.mark.services
def test_eight_processes_keep_gates_and_a_gap_free_log(pg_url: str, data_root: Path):
    seconds = float(os.environ.get("DAT_SOAK_SECONDS", "20"))
    store = ControlStore(pg_url)
    flow = DatWorkflow(store, data_root)
    for run in RUNS:
        flow.create_run(run_id=run)
        flow.lock(run, "discovery", {"root": "sample"})
        flow.materialize(run, "discovery")
    first_seq = store.last_seq()
    start = time.time() + 3
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                pg_url,
                str(data_root),
                ",".join(RUNS),
                str(n),
                str(start),
                str(seconds),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(PROCESSES)
    ]
    samples = 0
    try:
        while any(w.poll() is None for w in workers):
            for run in RUNS:  # live check: one consistent read of the run's statuses
                statuses = {s.stage: s for s in flow.status(run)}
                assert not gates_hold(statuses), gates_hold(statuses)
                samples += 1
            time.sleep(0.05)
        results = [w.communicate(timeout=60) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    for worker, (_out, err) in zip(workers, results, strict=True):
        assert worker.returncode == 0, err[-2000:]
    counts = [tuple(int(x) for x in out.split()) for out, _ in results]
    operations = sum(done for done, _ in counts)

    events = store.events_after(first_seq, limit=10_000_000)
    seqs = [e.seq for e in events]
    assert seqs == list(range(first_seq + 1, first_seq + 1 + len(events))), "gap in the log"
    pings = defaultdict(list)
    for event in events:
        if event.kind == "ping":
            pings[event.detail["worker"]].append(event.detail["i"])
    for n, (done, _refused) in enumerate(counts):
        assert pings[n] == list(range(done)), f"process {n} lost or repeated an operation"
    for run in RUNS:
        log = store.run_events(run)
        replayed = replay(log)
        stored = {s.stage: s for s in flow.status(run)}
        for stage, (state, stage_id) in replayed.items():
            assert (stored[stage].state, stored[stage].stage_id) == (state, stage_id)
        assert not gates_hold(stored)
    changes = sum(1 for e in events if e.kind in ("lock", "unlock", "skip"))
    refused = sum(r for _, r in counts)
    store.dispose()
    print(
        f"\nsoak: {PROCESSES} processes x {seconds:.0f} s: {operations} operations "
        f"({operations / seconds:.0f}/s, {refused} refused by a gate), {changes} state changes, "
        f"{len(events)} events, {samples} live checks"
    )
