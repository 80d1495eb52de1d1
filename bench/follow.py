"""Follow-mode latency under a real daemon: the time from re-locking `selection` of a follow-mode
run to the new materialization of its `export`, with `dagster-daemon` running the lock sensor
(minimum interval 10 s) and launching one run per chain step, as `make ui` would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
FILES = ["sample/customers.parquet", "sample/sales_2024_q1.csv", "sample/stores.tsv"]
STEPS = [
    ("discovery", {"root": "sample"}),
    ("selection", {"files": FILES}),
    ("table_availability", {}),
    ("table_selection", {"tables": {"sample/*": ["*"]}}),
    ("parse", {}),
    ("export", {"formats": ["parquet"]}),
]


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="dat_follow_"))
    shutil.copytree(PROJECT / "data" / "sample", work / "data" / "sample")
    home = work / "home"
    home.mkdir()
    shutil.copyfile(PROJECT / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAT_DATA_ROOT": str(work / "data"),
        "DAT_STORE_URL": f"sqlite:///{work / 'control.db'}",
        "DAGSTER_HOME": str(home),
    }
    os.environ.update(env)

    from dat_pipeline.dat.workflow import DatWorkflow
    from dat_pipeline.store import open_store

    flow = DatWorkflow(open_store(), work / "data")
    run = flow.create_run(name="follow bench", follow=True).run_id
    for stage, config in STEPS:
        flow.lock(run, stage, config)
        flow.materialize(run, stage)
    old_export = flow.stage_status(run, "export").stage_id

    daemon = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", "workspace.yaml"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(20)  # let the sensor drain the build's events first
        started = time.perf_counter()
        flow.lock(run, "selection", {"files": FILES[1:]})
        deadline = started + 600
        while time.perf_counter() < deadline:
            export = flow.stage_status(run, "export")
            if export.locked and export.completed and export.stage_id != old_export:
                break
            time.sleep(1)
        else:
            raise SystemExit("export was not re-materialized within 10 minutes")
        elapsed = time.perf_counter() - started
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
    steps = [e for e in flow.store.run_events(run) if e.kind == "complete"][-5:]
    print(f"re-lock of selection -> new export materialized: {elapsed:.1f} s")
    print(f"chain steps completed: {[e.stage for e in steps]}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
