"""`python -m bench latency [--repeats N] [--parse-mb MB] [--only SECTION,...]`: what a person
waits for (SPEC 12, issue 17), through the paths a person takes, p50/p90 over the repeats, anchors
in the same run. Sections (all by default, or those `--only` names): follow, lock, parse, analysis.

- follow: re-lock `selection` of a follow-mode run (3 sample files) until its new export exists,
  under a real `dagster-daemon` (lock sensor, run queue, one run for the chain); plus the
  timeline of the last chain from Dagster's event log and the daemon's log. In the same daemon
  session: from each new export to the end of its follow-up analysis (an analysis source that
  follows the export), and a queued `dat ingest run` of a small CSV from submit to run end.
- lock: `dat lock RUN discovery --materialize` end to end (a new process each time), beside
  `python -c pass`, `python -c "import dagster"` and the domain function alone.
- parse: `dat lock RUN parse --materialize` on a generated CSV (default ~1 GB) against
  `pl.scan_csv().sink_parquet()` in a process of its own, alternating.
- analysis: `dat analysis run` against DuckDB's load + SUMMARIZE, from `bench.analysis`
  (`latency_figures`), which owns that measurement.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from bench.workspace import PROJECT, Workspace, built_run, one_file_steps

BIN = Path(sys.executable).parent
FILES = ["sample/customers.parquet", "sample/sales_2024_q1.csv", "sample/stores.tsv"]
BUILD = [
    ("discovery", {"root": "sample"}),
    ("selection", {"files": FILES}),
    ("table_availability", {}),
    ("table_selection", {"tables": {"sample/*": ["*"]}}),
    ("parse", {}),
    ("export", {"formats": ["parquet"]}),
]
# A new file subset each repeat: every chain step does new work (no artifact to reuse).
SUBSETS = [FILES[1:], FILES[:2], [FILES[0], FILES[2]], FILES[:1], FILES[1:2], FILES[2:]]


def option(name: str, default: int) -> int:
    args = sys.argv
    return int(args[args.index(name) + 1]) if name in args else default


def p50_p90(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[math.ceil(0.9 * len(ordered)) - 1]


def row(what: str, times: list[float], note: str = "") -> str:
    p50, p90 = p50_p90(times)
    return f"{what:<46} {p50:7.2f} {p90:7.2f}  {note}"


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.02)


def follow(repeats: int, more: bool = True) -> list[str]:
    """The follow-mode chain under a real daemon; with `more`, in the same daemon session, the
    analysis that follows the export and a queued ingestion of a small file."""
    import dagster as dg

    ws = Workspace()
    flow = ws.workflow()
    run = built_run(flow, BUILD, name="latency", follow=True)
    if more:
        follow_analysis(ws, flow, run)
    log = ws.dir / "daemon.log"
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=PROJECT,
        env=ws.env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    times: list[float] = []
    analysed: list[float] = []
    ingested: list[float] = []
    lines: list[str] = []
    chain_runs = dg.RunsFilter(tags={"dat/run": run})
    analysis_runs = dg.RunsFilter(tags={"analysis/source": "latency_follow"})
    try:
        with dg.DagsterInstance.get() as instance:
            # the sensor's first tick adds the run's partition: it has read the build's events
            wait_for(lambda: instance.has_dynamic_partition("dat_runs", run), 180, "the sensor")
            for files in SUBSETS[:repeats]:
                old = flow.stage_status(run, "export").stage_id
                known = {r.run_id for r in instance.get_runs(analysis_runs)}
                locked_at = time.time()
                flow.lock(run, "selection", {"files": files})

                def rebuilt(old: str | None = old) -> bool:
                    export = flow.stage_status(run, "export")
                    return export.completed and export.stage_id != old

                wait_for(rebuilt, 300, "the new export")
                exported_at = time.time()
                times.append(exported_at - locked_at)
                wait_for(
                    lambda: all(r.is_finished for r in instance.get_runs(chain_runs)), 60, "the run"
                )
                lines = timeline(instance, run, locked_at)
                if more:
                    analysed.append(reanalysed(instance, analysis_runs, known) - exported_at)
            if more:
                try:
                    ingested = [queued_ingestion(ws, instance) for _ in range(repeats)]
                except subprocess.CalledProcessError as exc:
                    failed = (exc.stderr or "").strip().splitlines()[-1:]
                    print(f"queued ingestion not measured: {' '.join(failed)}")
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
    out = [row("re-lock selection -> new export (daemon)", times, "one run per chain")]
    out += lines
    out += ["  daemon log during the last chain (lock sensor and run queue):"]
    out += [f"    {line}" for line in daemon_excerpt(log, locked_at)]
    if more:
        out.append(row("new export -> its analysis re-run finished", analysed, "follow sensor"))
        if ingested:
            out.append(row("queued ingestion: submit -> run finished", ingested, "125-row CSV"))
    ws.close()
    return out


def daemon_excerpt(log: Path, since: float) -> list[str]:
    """The daemon's lines about the lock sensor's runs and the queue, from `since` (epoch s)."""
    keep = ("requesting", "Creating new run", "Launching run", "Completed launch", "Launched")
    lines = []
    for raw in log.read_text(errors="replace").splitlines():
        line = re.sub(r"\x1b\[[0-9;]*m", "", raw).strip()
        try:
            at = datetime.strptime(line[:25], "%Y-%m-%d %H:%M:%S %z").timestamp()
        except ValueError:
            continue
        if at >= int(since) and any(word in line for word in keep):
            lines.append(line.replace(" - dagster.daemon.", " ")[:100])
    return lines[:12]


def follow_analysis(ws: Workspace, flow, run: str) -> None:  # type: ignore[no-untyped-def]
    """An analysis source following the run's export, analysed once (the baseline)."""
    import dagster as dg

    from dat_pipeline.analysis.runner import AnalysisRunner
    from dat_pipeline.analysis.sources import add_source
    from dat_pipeline.orchestration.analysis import launch_analysis

    dataset = flow.load_artifact(run, "export")["dataset_id"][0]
    runner = AnalysisRunner(store=flow.store, data_root=ws.dir / "data")
    add_source(flow.store, "latency_follow", dataset, follow=True, data_root=ws.dir / "data")
    with dg.DagsterInstance.get() as instance:
        launch_analysis(instance, "latency_follow", runner=runner, in_process=True)


def reanalysed(instance, runs, known: set[str]) -> float:  # type: ignore[no-untyped-def]
    """When the first analysis run started after `known` finished."""

    def finished():  # type: ignore[no-untyped-def]
        new = [r for r in instance.get_runs(runs) if r.run_id not in known]
        return new[-1] if new and new[-1].is_finished else None

    wait_for(lambda: finished() is not None, 600, "the re-analysis")
    return instance.get_run_record_by_id(finished().run_id).end_time


def queued_ingestion(ws: Workspace, instance) -> float:  # type: ignore[no-untyped-def]
    """`dat ingest run` of a small CSV, queued (sync limit lowered), until its run finished."""
    sample = ws.dir / "data" / "sample" / "sales_2024_q1.csv"
    env = {**ws.env, "DAT_SYNC_MAX_ROWS": "10"}
    started = time.time()
    done = subprocess.run(
        [str(BIN / "dat"), "ingest", "run", str(sample), "--project", "bench", "--json"],
        check=True,
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
    )
    job_id = json.loads(done.stdout)["job_id"]
    wait_for(lambda: instance.get_run_by_id(job_id).is_finished, 300, "the ingestion run")
    return instance.get_run_record_by_id(job_id).end_time - started


def timeline(instance, run: str, locked_at: float) -> list[str]:  # type: ignore[no-untyped-def]
    """The last chain, seconds after the re-lock: run created, started, each step, ended."""
    import dagster as dg

    [record] = instance.get_run_records(dg.RunsFilter(tags={"dat/run": run}), limit=1)
    marks = [("run created (sensor tick)", record.create_timestamp.timestamp())]
    marks.append(("run started (dequeued, launched)", record.start_time or 0.0))
    kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}
    for event in instance.all_logs(record.dagster_run.run_id, of_type=kinds):
        verb = (
            "start" if event.dagster_event.event_type == dg.DagsterEventType.STEP_START else "done"
        )
        marks.append((f"{event.step_key.removeprefix('dat__')} {verb}", event.timestamp))
    marks.append(("run ended", record.end_time or 0.0))
    return [f"  +{at - locked_at:6.2f} s  {what}" for what, at in marks]


def lock_materialize(repeats: int) -> list[str]:
    ws = Workspace()
    flow = ws.workflow()
    dat = str(BIN / "dat")
    cli, domain, bare, dagster_import, floor = [], [], [], [], []
    # what any in-process Dagster run pays before DAT does anything: import and open the instance
    opened = "from dat_pipeline.defs.instance import in_process_instance as i; i().dispose()"
    for i in range(repeats):
        run = flow.create_run(name=f"lock {i}").run_id
        config = f'include=["*{i}*", "*.csv"]'
        argv = [dat, "lock", run, "discovery", "--set", "root=sample", "--set", config]
        cli.append(ws.timed([*argv, "--materialize"]))
        started = time.perf_counter()
        other = flow.create_run(name=f"domain {i}").run_id
        flow.lock(other, "discovery", {"root": "sample", "include": [f"*{i}*", "*.csv"]})
        flow.materialize(other, "discovery")
        domain.append(time.perf_counter() - started)
        bare.append(ws.timed([sys.executable, "-c", "pass"]))
        dagster_import.append(ws.timed([sys.executable, "-c", "import dagster"]))
        floor.append(ws.timed([sys.executable, "-c", opened]))
    ws.close()
    return [
        row("dat lock RUN discovery --materialize", cli, "end to end, new process"),
        row("  anchor: python -c pass", bare),
        row("  anchor: python -c 'import dagster'", dagster_import),
        row("  anchor: import dagster + open the instance", floor, "Dagster's floor"),
        row("  anchor: lock + materialize, domain only", domain, "in this process"),
    ]


def generate_csv(path: Path, megabytes: int) -> None:
    import polars as pl

    rows = 200_000
    with path.open("wb") as handle:
        first = True
        seed = 0
        while handle.tell() < megabytes * 1_000_000:
            frame = pl.DataFrame(
                {
                    "id": pl.int_range(seed, seed + rows, eager=True),
                    "store": (pl.int_range(0, rows, eager=True) % 97).cast(pl.String),
                    "amount": pl.int_range(0, rows, eager=True) * 0.37,
                    "when": pl.Series(["2024-03-01 10:15:00"] * rows),
                    "note": pl.Series(["lorem ipsum dolor sit amet"] * rows),
                }
            )
            frame.write_csv(handle, include_header=first)
            first = False
            seed += rows


def parse(repeats: int, megabytes: int) -> list[str]:
    ws = Workspace()
    big = ws.dir / "data" / "big"
    big.mkdir()
    csv = big / "sales.csv"
    generate_csv(csv, megabytes)
    size_gb = csv.stat().st_size / 1e9
    flow = ws.workflow()
    run = built_run(flow, one_file_steps("big/sales.csv"), name="parse latency")
    raw_code = "import polars as pl, sys; pl.scan_csv(sys.argv[1]).sink_parquet(sys.argv[2])"
    ours, raw = [], []
    for i in range(repeats):
        # a new chunk size each time: a new stage id, so the parse does all its work again
        ours.append(
            ws.timed(
                [
                    str(BIN / "dat"),
                    "lock",
                    run,
                    "parse",
                    "--set",
                    f"chunk_rows={100_000 + i}",
                    "--materialize",
                ]
            )
        )
        out = ws.dir / f"raw_{i}.parquet"
        raw.append(ws.timed([sys.executable, "-c", raw_code, str(csv), str(out)]))
        out.unlink()
    ratio = [r / o for o, r in zip(ours, raw, strict=True)]
    ws.close()
    return [
        row(f"dat lock RUN parse --materialize ({size_gb:.2f} GB)", ours, "end to end"),
        row("  anchor: pl.scan_csv().sink_parquet()", raw, "own process"),
        f"{'  throughput ratio raw/ours (p50, min)':<46} {statistics.median(ratio):7.2f} "
        f"{min(ratio):7.2f}  target >= 0.8",
    ]


def analysis(repeats: int) -> list[str]:
    from bench.analysis import latency_figures

    return latency_figures(repeats)


def main() -> None:
    repeats = option("--repeats", 5)
    megabytes = option("--parse-mb", 1000)
    sections: dict[str, Callable[[], list[str]]] = {
        "follow": lambda: follow(repeats),
        "lock": lambda: lock_materialize(repeats),
        "parse": lambda: parse(repeats, megabytes),
        "analysis": lambda: analysis(repeats),
    }
    only = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else []
    unknown = sorted(set(only) - set(sections))
    if unknown:
        sys.exit(f"unknown section(s) {unknown}: choose from {', '.join(sections)}")
    print(f"{'what (seconds)':<46} {'p50':>7} {'p90':>7}  ({repeats} repeats)")
    for name, section in sections.items():
        if not only or name in only:
            print("\n".join(section()), flush=True)
    print(f"load at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
