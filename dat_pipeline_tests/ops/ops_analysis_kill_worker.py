"""Runs every analysis phase of a source, announcing each result table as it is written (slowly),
so the SIGKILL test can kill this process in the middle of a phase.

Usage: python ops_analysis_kill_worker.py SOURCE  (data root and store from the DAT_* environment)
"""

from __future__ import annotations

import sys
import time

from dat_pipeline.analysis import runner as runner_module
from dat_pipeline.analysis.runner import AnalysisRunner

original = runner_module.write_parquet_atomic


def announced_write(target, frame):  # type: ignore[no-untyped-def]
    path = original(target, frame)
    print(f"wrote {target.parent.name}/{target.name}", flush=True)
    time.sleep(0.05)
    return path


def main(source: str) -> None:
    runner_module.write_parquet_atomic = announced_write
    runner = AnalysisRunner()
    for phase in runner.graph.order:
        runner.run_phase(source, phase)
        print(f"done {phase}", flush=True)
    print("finished", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
