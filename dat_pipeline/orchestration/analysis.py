"""Running analyses from the CLI, the API and the demo: register a source's partition, launch
the stale phases as one Dagster run (in process or with the multiprocess executor), report each
phase as it finishes, and start that on a worker thread for the API's 202.

`launch_analysis` selects only the phases whose fingerprint changed; unchanged ones are reported
as skipped without starting a run.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence

import dagster as dg

from dat_pipeline.analysis.runner import META_FILE, AnalysisRun, AnalysisRunner, PhaseReport
from dat_pipeline.defs.analysis import (
    DEFAULT_CONCURRENCY,
    VIEWS_ASSET,
    analysis_job_for_execution,
    build_analysis_assets,
    executor_config,
    phase_key,
    sources_partitions,
)
from dat_pipeline.errors import DatError
from dat_pipeline.names import SOURCE_TAG
from dat_pipeline.orchestration.launch import Launch, launch_tagged


def ensure_source_partition(instance: dg.DagsterInstance, source: str) -> None:
    if not instance.has_dynamic_partition(sources_partitions.name, source):
        instance.add_dynamic_partitions(sources_partitions.name, [source])


class _Progress:
    """Reports each phase as its `meta.json` appears (the runner writes it last)."""

    def __init__(
        self,
        runner: AnalysisRunner,
        source: str,
        phases: Sequence[str],
        emit: Callable[[PhaseReport], None],
    ):
        self.runner, self.source, self.emit = runner, source, emit
        self.pending = {phase: self._stamp(phase) for phase in phases}
        self.reports: dict[str, PhaseReport] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="analysis-progress", daemon=True)

    def _stamp(self, phase: str) -> int | None:
        path = self.runner.phase_dir(self.source, phase) / META_FILE
        try:
            return path.stat().st_mtime_ns
        except OSError:
            return None

    def poll(self) -> None:
        for phase, before in list(self.pending.items()):
            stamp = self._stamp(phase)
            if stamp is None or stamp == before:
                continue
            meta = self.runner.read_meta(self.source, phase)
            if meta is None:
                continue
            del self.pending[phase]
            report = PhaseReport(
                phase,
                "ran" if meta.status == "ok" else "failed",
                meta.duration_s,
                meta.fingerprint,
                meta.error,
            )
            self.reports[phase] = report
            self.emit(report)

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            self.poll()

    def __enter__(self) -> _Progress:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()


def _unreported(
    runner: AnalysisRunner,
    source: str,
    phase: str,
    reports: dict[str, PhaseReport],
    run_id: str,
) -> PhaseReport:
    """A selected phase that wrote no new result: skipped by the runner, blocked by a failed
    phase it needs, or stopped by the run itself."""
    meta = runner.read_meta(source, phase)
    if meta is not None and meta.status == "ok" and runner.plan(source, [phase])[phase] == "ok":
        return PhaseReport(phase, "skipped", meta.duration_s, meta.fingerprint)
    failed = [
        a for a in runner.graph.ancestors(phase) if a in reports and reports[a].state == "failed"
    ]
    if failed:
        return PhaseReport(phase, "blocked", error=f"blocked by {', '.join(failed)}")
    return PhaseReport(phase, "failed", error=f"did not run; see Dagster run {run_id}")


def launch_analysis(
    instance: dg.DagsterInstance,
    source: str,
    phases: Sequence[str] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_progress: Callable[[PhaseReport], None] | None = None,
    runner: AnalysisRunner | None = None,
    in_process: bool = False,
    log_level: str = "ERROR",
    tags: Mapping[str, str] | None = None,
) -> AnalysisRun:
    """Run `phases` (and what they need; default all) of `source` as one Dagster run.

    Phases whose fingerprint is unchanged are reported as skipped without starting a run; the
    rest run with the multiprocess executor (`concurrency` processes), or in this process with
    `in_process` (required when `runner` has a custom phase graph). `tags` are added to the
    Dagster run's (`start_analysis` finds the run by them).
    """
    start = time.perf_counter()
    runner = runner or AnalysisRunner()
    emit = on_progress or (lambda _report: None)
    runner.source(source)
    ensure_source_partition(instance, source)
    plan = runner.plan(source, phases)
    reports = runner.unchanged_reports(source, phases)
    for report in reports.values():
        emit(report)
    to_run = [phase for phase in plan if phase not in reports]
    run_id = None
    success = True
    if to_run:
        selection = [phase_key(p) for p in to_run] + [phase_key(VIEWS_ASSET)]
        tags = {**(tags or {}), SOURCE_TAG: source}
        logging = {"loggers": {"console": {"config": {"log_level": log_level}}}}
        with _Progress(runner, source, to_run, emit) as progress:
            if in_process:
                result = dg.materialize(
                    assets=build_analysis_assets(runner.graph),
                    selection=selection,
                    partition_key=source,
                    instance=instance,
                    tags=tags,
                    run_config=logging,
                    raise_on_error=False,
                )
            else:
                result = dg.execute_job(
                    dg.reconstructable(analysis_job_for_execution),
                    instance=instance,
                    run_config={**logging, "execution": {"config": executor_config(concurrency)}},
                    tags={**tags, "dagster/partition": source},
                    asset_selection=selection,
                )
        run_id, success = result.run_id, result.success
        reports.update(progress.reports)
        for phase in to_run:
            if phase not in reports:
                reports[phase] = _unreported(runner, source, phase, reports, run_id)
                emit(reports[phase])
        if not success:
            # warehouse_views did not run: still expose what succeeded.
            with contextlib.suppress(DatError):
                runner.register_views(source)
    ordered = [reports[phase] for phase in plan]
    success = success and all(r.state in ("ran", "skipped") for r in ordered)
    return AnalysisRun(source, success, time.perf_counter() - start, run_id, ordered)


def start_analysis(
    instance: dg.DagsterInstance,
    source: str,
    phases: Sequence[str] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    runner: AnalysisRunner | None = None,
    extra_tags: Mapping[str, str] | None = None,
) -> Launch:
    """`launch_analysis` on a worker thread (the DAT jobs' mechanism,
    `orchestration.launch.launch_tagged`): returns the `Launch` once its Dagster run exists, so
    the HTTP API can answer 202 with the run id. `job_id` is None when every selected phase was unchanged (no run started). One analysis
    per source at a time in this process: a second gets a GateError naming the running job."""
    runner = runner or AnalysisRunner()
    to_run = [phase for phase, state in runner.plan(source, phases).items() if state != "ok"]

    def work(tags: dict[str, str]) -> AnalysisRun:
        return launch_analysis(
            instance,
            source,
            phases,
            concurrency=concurrency,
            runner=runner,
            in_process=concurrency == 1,
            tags={**(extra_tags or {}), **tags},
        )

    return launch_tagged(
        instance,
        f"analysis/{source}",
        to_run,
        work,
        f"dat-analysis-{source}",
        label=f"the analysis of {source}",
        allow_no_run=True,
    )
