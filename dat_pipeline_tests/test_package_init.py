"""A process started with SIGINT and SIGTERM ignored (a background job of a CI shell) keeps
SIGTERM working through Dagster executions: its children can be stopped (dat_pipeline/__init__.py)."""

from __future__ import annotations

import signal
import subprocess
import sys

SCRIPT = """
import signal, subprocess
import dat_pipeline
import dagster as dg

@dg.op
def step():
    return 1

@dg.job
def one_step():
    step()

assert one_step.execute_in_process().success
print(signal.getsignal(signal.SIGTERM) != signal.SIG_IGN)
# a child started after the execution: its SigIgn mask, SIGTERM is bit 15
status = subprocess.run(["cat", "/proc/self/status"], capture_output=True, text=True).stdout
mask = int(next(l for l in status.splitlines() if l.startswith("SigIgn:")).split()[1], 16)
print(not mask & (1 << (signal.SIGTERM - 1)))
"""


def ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def test_sigterm_still_stops_children_after_a_dagster_execution_in_a_process_started_ignoring_it():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, preexec_fn=ignore_interrupts
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]
