"""A separate process that hammers one DAT run: used by test_store_concurrency.py.

usage: python store_worker.py STORE_URL DATA_ROOT RUN_ID ROLE ITERATIONS START_AT

Both workers wait until START_AT (epoch seconds) so that their loops overlap.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.errors import GateError
from dat_pipeline.store import ControlStore


def main() -> None:
    url, data_root, run_id, role, iterations, start_at = sys.argv[1:7]
    store = ControlStore(url)
    flow = DatWorkflow(store, Path(data_root))
    refused = 0
    time.sleep(max(0.0, float(start_at) - time.time()))
    for i in range(int(iterations)):
        try:
            if role == "a":
                flow.lock(run_id, "discovery", {"root": "sample", "include": [f"*{i % 3}*", "*"]})
                flow.lock(run_id, "selection", {"files": ["sample/stores.tsv"]})
            else:
                flow.unlock(run_id, "discovery" if i % 2 else "selection")
                flow.lock(run_id, "discovery", {"root": "sample"})
        except GateError:
            refused += 1
        with store.write() as connection:
            store.append_event(connection, run_id, "ping", detail={"role": role, "i": i})
        time.sleep(0.001)  # SQLite's busy handler is not fair: let the other process in
    print(refused)


if __name__ == "__main__":
    main()
