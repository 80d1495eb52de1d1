"""One iteration of the real sensor daemon loop over the project's workspace, in its own process.

`python sensor_tick_worker.py CRASH_POINT` kills this process with SIGKILL at Dagster's debug
crash point (e.g. RUN_CREATED: the run exists, not yet submitted to the queue), as a daemon dying
there would; `-` runs the iteration to its end.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import dagster as dg
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.sensor import execute_sensor_iteration

PROJECT = Path(__file__).resolve().parents[2]


def main(crash_point: str) -> None:
    flags = {"dat_lock_sensor": {crash_point: signal.SIGKILL}} if crash_point != "-" else None
    target = WorkspaceFileTarget(paths=[str(PROJECT / "workspace.yaml")])
    with (
        dg.DagsterInstance.get() as instance,
        create_test_daemon_workspace_context(target, instance) as workspace,
    ):
        list(
            execute_sensor_iteration(
                workspace,
                logging.getLogger("dat_test_sensor"),
                threadpool_executor=None,
                submit_threadpool_executor=None,
                debug_crash_flags=flags,
            )
        )


if __name__ == "__main__":
    main(sys.argv[1])
