"""Dagster layer of the analysis (SPEC 4): one asset per phase, partitioned by source.

Assets are built from the phase registry (`needs` become deps, `version` the code version) and
are thin: each calls `AnalysisRunner.run_phase`, which skips a phase whose fingerprint is
unchanged, and reports the fingerprint as the asset's data version. Phase assets only write
Parquet, so independent phases run in parallel; the one asset that writes the DuckDB warehouse
(`warehouse_views`) is in the `duckdb` pool (SPEC 8).

`launch_analysis` is what `dat analysis run` and the demo call: it selects only the phases whose
fingerprint changed and runs them as one Dagster run with the multiprocess executor.
"""

import contextlib
import hashlib
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg

from dat_pipeline.analysis.phase import PhaseSpec
from dat_pipeline.analysis.runner import (
    META_FILE,
    AnalysisRun,
    AnalysisRunner,
    PhaseGraph,
    PhaseOutcome,
    PhaseReport,
    default_graph,
)
from dat_pipeline.analysis.sources import fingerprint, list_sources
from dat_pipeline.errors import DatError

if TYPE_CHECKING:
    from dat_pipeline.orchestration.launch import Launch

sources_partitions = dg.DynamicPartitionsDefinition(name="sources")

OWNERS = ["team:data-platform"]
KEY_PREFIX = "analysis"
GROUP = "analysis"
VIEWS_ASSET = "warehouse_views"
SOURCE_TAG = "analysis/source"
DEFAULT_CONCURRENCY = 2


def phase_key(phase: str) -> dg.AssetKey:
    return dg.AssetKey([KEY_PREFIX, phase])


def _figure_metadata(figures: dict[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    for name, value in figures.items():
        if isinstance(value, bool | int | float | str) or value is None:
            metadata[name] = value
        else:
            metadata[name] = dg.MetadataValue.json(value)
    return metadata


def phase_metadata(outcome: PhaseOutcome, seconds: float) -> dict[str, Any]:
    meta = outcome.meta
    tables = "\n".join(
        ["| table | rows | columns |", "|---|---|---|"]
        + [f"| {name} | {t['rows']:,} | {t['columns']} |" for name, t in meta.tables.items()]
    )
    return {
        **_figure_metadata(meta.figures),
        "source": outcome.source,
        "data_version": outcome.fingerprint,
        "skipped": outcome.skipped,
        "duration_s": round(meta.duration_s, 3),
        "step_duration_s": round(seconds, 3),
        "finished_at": meta.finished_at,
        "summary": dg.MetadataValue.md(meta.summary or "_no summary_"),
        "tables": dg.MetadataValue.md(tables),
    }


def _validation_check(outcome: PhaseOutcome) -> dg.AssetCheckResult:
    """The validation phase's checks as one Dagster asset check (warn when any check fails)."""
    checks = outcome.tables.get("checks")
    failing = [] if checks is None else checks.filter(checks["failed"] > 0).to_dicts()
    rows = "\n".join(
        ["| check | table | column | failed |", "|---|---|---|---|"]
        + [f"| {c['check']} | {c['table']} | {c['column']} | {c['failed']:,} |" for c in failing]
    )
    return dg.AssetCheckResult(
        passed=not failing,
        check_name="derived_checks_pass",
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "checks": 0 if checks is None else checks.height,
            "failing": len(failing),
            "failing_checks": dg.MetadataValue.md(rows),
        },
    )


def build_phase_asset(spec: PhaseSpec, graph: PhaseGraph) -> dg.AssetsDefinition:
    key = phase_key(spec.name)
    check_specs = (
        [
            dg.AssetCheckSpec(
                "derived_checks_pass",
                asset=key,
                description="Every check the validation phase derived (emails, ranges, keys, "
                "foreign keys, dates) passes.",
            )
        ]
        if spec.name == "validation"
        else None
    )

    @dg.asset(
        name=spec.name,
        key_prefix=KEY_PREFIX,
        group_name=GROUP,
        partitions_def=sources_partitions,
        deps=[phase_key(need) for need in spec.needs],
        description=spec.description.strip(),
        owners=OWNERS,
        kinds={"python", "parquet"},
        tags={"analysis/phase": spec.name},
        code_version=spec.version,
        check_specs=check_specs,
    )
    def _phase_asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        start = time.perf_counter()
        runner = AnalysisRunner(graph=graph)
        outcome = runner.run_phase(context.partition_key, spec.name, log=context.log.info)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)  # data_version is what we rely on
            return dg.MaterializeResult(
                data_version=dg.DataVersion(outcome.fingerprint),
                metadata=phase_metadata(outcome, time.perf_counter() - start),
                check_results=[_validation_check(outcome)] if check_specs else None,
            )

    return _phase_asset


def build_views_asset(graph: PhaseGraph) -> dg.AssetsDefinition:
    @dg.asset(
        name=VIEWS_ASSET,
        key_prefix=KEY_PREFIX,
        group_name=GROUP,
        partitions_def=sources_partitions,
        deps=[phase_key(name) for name in graph.order],
        description="The source's phase results as DuckDB views "
        '`"<source>"."<phase>__<table>"` in the warehouse (over the Parquet results).',
        owners=OWNERS,
        kinds={"duckdb"},
        pool="duckdb",
        code_version="1",
    )
    def _views_asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        runner = AnalysisRunner(graph=graph)
        views = runner.register_views(context.partition_key)
        versions = [state.fingerprint or "" for state in runner.states(context.partition_key)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)
            return dg.MaterializeResult(
                data_version=dg.DataVersion(
                    hashlib.sha256("".join(versions).encode()).hexdigest()[:32]
                ),
                metadata={
                    "views": len(views),
                    "warehouse": dg.MetadataValue.path(str(runner.warehouse)),
                    "view_names": dg.MetadataValue.md("\n".join(f"- `{v}`" for v in views)),
                },
            )

    return _views_asset


def build_analysis_assets(graph: PhaseGraph | None = None) -> list[dg.AssetsDefinition]:
    """One asset per phase of `graph` (default: the registered phases), plus `warehouse_views`."""
    graph = graph or default_graph()
    assets = [build_phase_asset(graph.spec(name), graph) for name in graph.order]
    return [*assets, build_views_asset(graph)]


analysis_assets = build_analysis_assets()


PRELOAD = [
    "scipy.signal",
    "scipy.stats",
    "statsmodels.tsa.filters.hp_filter",
    "statsmodels.tsa.seasonal",
    "statsmodels.tsa.stattools",
]


def executor_config(concurrency: int) -> dict[str, Any]:
    """Multiprocess executor config: step processes fork from a server that has already imported
    the phases (and polars, Dagster), so a step starts in a fraction of a second instead of
    re-importing everything. The phases import scipy and statsmodels only where they use them
    (the CLI and the code location stay quick); the server preloads them once for all steps."""
    return {
        "max_concurrent": max(1, concurrency),
        "start_method": {"forkserver": {"preload_modules": [__name__, *PRELOAD]}},
    }


analysis_job = dg.define_asset_job(
    "analysis_job",
    selection=dg.AssetSelection.groups(GROUP),
    executor_def=dg.multiprocess_executor,
    config={"execution": {"config": executor_config(DEFAULT_CONCURRENCY)}},
    description="Every analysis phase of a source (the partition); independent phases run in "
    "parallel and unchanged ones are skipped.",
    tags={"kind": "analysis"},
)


def analysis_job_for_execution() -> dg.JobDefinition:
    """The analysis job, resolved; the target of `reconstructable` for multiprocess runs."""
    return dg.Definitions(assets=analysis_assets, jobs=[analysis_job]).resolve_job_def(
        "analysis_job"
    )


def _stale_selection(runner: AnalysisRunner, source: str) -> list[dg.AssetKey]:
    stale = [phase for phase, state in runner.plan(source).items() if state != "ok"]
    return [phase_key(phase) for phase in stale] + ([phase_key(VIEWS_ASSET)] if stale else [])


@dg.schedule(
    name="analysis_refresh_schedule",
    job=analysis_job,
    cron_schedule="0 3 * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Nightly: re-analyse every source whose tables (or phase code) changed.",
)
def analysis_refresh_schedule(context: dg.ScheduleEvaluationContext):  # type: ignore[no-untyped-def]
    runner = AnalysisRunner()
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    requested = False
    for source in context.instance.get_dynamic_partitions(sources_partitions.name):
        try:
            selection = _stale_selection(runner, source)
        except DatError as exc:
            context.log.warning(f"source {source}: {exc}")
            continue
        if selection:
            requested = True
            yield dg.RunRequest(
                run_key=f"{source}:{day}",
                partition_key=source,
                asset_selection=selection,
                tags={SOURCE_TAG: source},
            )
    if not requested:
        yield dg.SkipReason("every source is up to date")


@dg.sensor(
    name="analysis_follow_sensor",
    job=analysis_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Re-analyses every source created with --follow when what it reads changed (a new DAT "
        "export under the same name, or changed files): only the stale phases run."
    ),
)
def analysis_follow_sensor(context: dg.SensorEvaluationContext):  # type: ignore[no-untyped-def]
    runner = AnalysisRunner()
    requested = False
    for source in list_sources(runner.store):
        if not source.follow:
            continue
        try:
            selection = _stale_selection(runner, source.name)
            key = fingerprint(source, runner.data_root)
        except DatError as exc:
            context.log.warning(f"source {source.name}: {exc}")
            continue
        if not selection:
            continue
        requested = True
        context.log.info(f"re-analysing {source.name}: {len(selection) - 1} stale phases")
        yield dg.RunRequest(
            run_key=f"follow:{source.name}:{key}",  # once per new version of the data
            partition_key=source.name,
            asset_selection=selection,
            tags={SOURCE_TAG: source.name},
        )
    if not requested:
        yield dg.SkipReason("every followed source is up to date")


# -- running from the CLI and the demo -------------------------------------------------------
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

    def __enter__(self) -> "_Progress":
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
) -> "Launch":
    """`launch_analysis` on a worker thread (the DAT jobs' mechanism,
    `orchestration.launch.launch_tagged`): returns the `Launch` once its Dagster run exists, so
    the HTTP API can answer 202 with the run id. `job_id` is None when every selected phase was unchanged (no run started). One analysis
    per source at a time in this process: a second gets a GateError naming the running job."""
    from dat_pipeline.orchestration.launch import launch_tagged

    runner = runner or AnalysisRunner()
    to_run = [phase for phase, state in runner.plan(source, phases).items() if state != "ok"]

    def work(tags: dict[str, str]) -> AnalysisRun:
        return launch_analysis(
            instance,
            source,
            phases,
            concurrency=concurrency,
            runner=runner,
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
