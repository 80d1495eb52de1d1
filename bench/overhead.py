"""Dagster overhead: code-location load time, and a no-op stage materialization next to a real one.

The no-op is a re-materialization of a stage whose artifact already exists (the workflow reuses it
and computes nothing), so its time is what Dagster and the store add around a stage.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from bench.workspace import PROJECT, Workspace


def _timed(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    workspace = Workspace("dat_bench_")
    work = workspace.dir

    load = _timed(
        lambda: subprocess.run(
            [sys.executable, "-c", "import dat_pipeline.definitions"], check=True, cwd=PROJECT
        ),
        repeat=3,
    )
    baseline = _timed(lambda: subprocess.run([sys.executable, "-c", "import dagster"], check=True))

    import dagster as dg

    from dat_pipeline.dat.stages.discovery import DiscoveryConfig, catalog_files
    from dat_pipeline.dat.workflow import DatWorkflow
    from dat_pipeline.definitions import RESOURCES
    from dat_pipeline.defs.dat import materialize_stages
    from dat_pipeline.store import open_store

    flow = DatWorkflow(open_store(), work / "data")
    raw = _timed(lambda: catalog_files(work / "data", DiscoveryConfig(root="sample")))
    with dg.DagsterInstance.get() as instance:
        real_times, noop_times = [], []
        for i in range(5):
            run = flow.create_run(run_id=f"bench-{i}").run_id
            flow.lock(run, "discovery", {"root": "sample"})
            started = time.perf_counter()
            assert materialize_stages(instance, run, ["discovery"], RESOURCES).success
            real_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            assert materialize_stages(instance, run, ["discovery"], RESOURCES).success
            noop_times.append(time.perf_counter() - started)
    real, noop = statistics.median(real_times), statistics.median(noop_times)
    print(
        f"code location load (python -c import definitions): {load:.2f} s "
        f"(import dagster alone: {baseline:.2f} s)"
    )
    print(f"discovery of data/sample, domain function only:    {raw * 1000:.1f} ms")
    print(f"discovery materialized through Dagster:            {real * 1000:.0f} ms")
    print(f"no-op materialization (artifact reused):           {noop * 1000:.0f} ms")
    print(
        f"Dagster+store overhead per stage ≈ {noop * 1000:.0f} ms; real/no-op = {real / noop:.2f}"
    )
    workspace.close()


if __name__ == "__main__":
    main()
