"""One of the eight processes of the soak test: random lock/unlock/skip on shared DAT runs until a
deadline, with a `ping` event after every operation so the test can account for each of them.

usage: python ops_lock_worker.py STORE_URL DATA_ROOT RUNS WORKER START_AT SECONDS
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.errors import GateError
from dat_pipeline.store import ControlStore

OPERATIONS = (
    ("lock", "discovery", lambda r: {"root": "sample", "include": [f"*{r.randint(0, 2)}*", "*"]}),
    (
        "lock",
        "selection",
        lambda r: {"files": [r.choice(["sample/stores.tsv", "sample/sales_2024_q1.csv"])]},
    ),
    ("lock", "context", lambda r: {"notes": f"n{r.randint(0, 3)}"}),
    ("skip", "context", None),
    ("unlock", "discovery", None),
    ("unlock", "selection", None),
    ("unlock", "context", None),
)


def main() -> None:
    url, data_root, runs, worker, start_at, seconds = sys.argv[1:7]
    store = ControlStore(url)
    flow = DatWorkflow(store, Path(data_root))
    rng = random.Random(int(worker))
    run_ids = runs.split(",")
    time.sleep(max(0.0, float(start_at) - time.time()))
    deadline = time.time() + float(seconds)
    done = refused = 0
    while time.time() < deadline:
        run = rng.choice(run_ids)
        verb, stage, config = rng.choice(OPERATIONS)
        try:
            if verb == "lock":
                flow.lock(run, stage, config(rng))  # type: ignore[misc]
            elif verb == "skip":
                flow.skip(run, stage)
            else:
                flow.unlock(run, stage)
            outcome = "ok"
        except GateError:
            outcome = "refused"
            refused += 1
        with store.write() as connection:
            store.append_event(
                connection,
                run,
                "ping",
                detail={
                    "worker": int(worker),
                    "i": done,
                    "op": f"{verb} {stage}",
                    "outcome": outcome,
                },
            )
        done += 1
    print(done, refused)


if __name__ == "__main__":
    main()
