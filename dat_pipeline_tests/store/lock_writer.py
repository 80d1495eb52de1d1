"""A writer process of the lock-sensor test: creates RUNS DAT runs named PREFIX-i and locks their
discovery stage, one transaction each, from START_AT (epoch seconds) on.

usage: python lock_writer.py STORE_URL DATA_ROOT PREFIX RUNS START_AT
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.store import ControlStore

url, data_root, prefix, runs, start_at = sys.argv[1:6]
flow = DatWorkflow(ControlStore(url), Path(data_root))
time.sleep(max(0.0, float(start_at) - time.time()))
for i in range(int(runs)):
    run_id = flow.create_run(run_id=f"{prefix}-{i:03d}").run_id
    flow.lock(run_id, "discovery", {"root": "sample"})
