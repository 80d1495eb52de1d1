"""Start-up time of the `dat` read commands (SPEC 12: <= 0.3 s), next to `python -c pass`.

Each command runs as a fresh process on a small run (discovery built); the figure is the median
wall time of `--repeat` runs (default 7), and the ratio to `python -c pass` on the same machine
at the same moment (the ratio is what carries between machines). Also says whether the command
loaded Dagster, Polars or SQLAlchemy (`status` and `runs list` read a SQLite store without it).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time

from bench.workspace import Workspace

BUDGET_S = 0.3
PROBE = (
    "import runpy, sys; sys.argv = ['dat', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('dat_pipeline.cli', run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
    "heavy = ('dagster', 'polars', 'pandas', 'duckdb', 'sqlalchemy')\n"
    "print('LOADED', *(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
)


def _median_s(argv: list[str], repeat: int) -> tuple[float, float, str]:
    """Median wall and CPU (user + system) seconds of a fresh process, and what it loaded.
    CPU time barely moves when other work shares the machine; wall time does."""
    walls, cpus, loaded = [], [], ""
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        lines = [line for line in done.stderr.splitlines() if line.startswith("LOADED")]
        loaded = lines[-1].removeprefix("LOADED").strip() if lines else loaded
    return statistics.median(walls), statistics.median(cpus), loaded


def main() -> None:
    repeat = int(next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--repeat=")), 7))
    workspace = Workspace("dat_bench_startup_")
    os.environ["COLUMNS"] = "80"
    dat = [sys.executable, "-m", "dat_pipeline.cli"]
    run_id = subprocess.run(
        [*dat, "runs", "create", "--name", "bench"], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(
        [*dat, "lock", run_id, "discovery", "--set", "root=sample", "--materialize"],
        capture_output=True,
        check=True,
    )
    commands = [
        ["--help"],
        ["status", run_id],
        ["show", run_id, "discovery"],
        ["runs", "list"],
        ["runs", "show", run_id],
        ["stages"],
        ["lock", "--help"],
        ["show", "--help"],
        ["ingest", "--help"],
        ["analysis", "--help"],
        ["backfill", "--help"],
    ]
    base, base_cpu, _ = _median_s([sys.executable, "-c", "pass"], repeat)
    print(
        f"median of {repeat} runs; python -c pass: {base:.3f} s wall, {base_cpu:.3f} s CPU; "
        f"budget {BUDGET_S} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"{'command':<24} {'wall s':>7} {'x pass':>7} {'CPU s':>6} {'x pass':>7}  loaded")
    for args in commands:
        wall, cpu, loaded = _median_s([sys.executable, "-c", PROBE, *args], repeat)
        label = "dat " + " ".join("RUN" if a == run_id else a for a in args)
        print(
            f"{label:<24} {wall:>7.3f} {wall / base:>7.1f} {cpu:>6.3f} "
            f"{cpu / max(base_cpu, 1e-3):>7.1f}  {loaded or '-'}"
        )
    workspace.close()


if __name__ == "__main__":
    main()
