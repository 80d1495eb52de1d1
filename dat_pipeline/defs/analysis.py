"""Dagster layer of the analysis (SPEC 4): one asset per phase, partitioned by source.

Assets are built from the phase registry (`needs` become deps, `version` the code version) and
are thin: each calls `AnalysisRunner.run_phase`, which skips a phase whose fingerprint is
unchanged, and reports the fingerprint as the asset's data version. Phase assets only write
Parquet, so independent phases run in parallel; the one asset that writes the DuckDB warehouse
(`warehouse_views`) is in the `duckdb` pool (SPEC 8).

Launching an analysis from the CLI, the API and the demo is `dat_pipeline.orchestration.analysis`.
"""

import hashlib
import time
from typing import Any

import dagster as dg

from dat_pipeline.analysis.phase import PhaseSpec
from dat_pipeline.analysis.runner import AnalysisRunner, PhaseGraph, PhaseOutcome, default_graph
from dat_pipeline.analysis.sources import fingerprint, list_sources
from dat_pipeline.errors import DatError
from dat_pipeline.names import OWNERS, SOURCE_TAG

sources_partitions = dg.DynamicPartitionsDefinition(name="sources")

KEY_PREFIX = "analysis"
GROUP = "analysis"
VIEWS_ASSET = "warehouse_views"
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


def _phase_check(name: str, outcome: PhaseOutcome) -> dg.AssetCheckResult:
    """A phase's `checks` table as one Dagster asset check (warn when any check fails)."""
    checks = outcome.tables.get("checks")
    failing = [] if checks is None else checks.filter(checks["failed"] > 0).to_dicts()
    rows = "\n".join(
        ["| check | table | column | failed |", "|---|---|---|---|"]
        + [f"| {c['check']} | {c['table']} | {c['column']} | {c['failed']:,} |" for c in failing]
    )
    return dg.AssetCheckResult(
        passed=not failing,
        check_name=name,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "checks": 0 if checks is None else checks.height,
            "failing": len(failing),
            "failing_checks": dg.MetadataValue.md(rows),
        },
    )


def build_phase_asset(spec: PhaseSpec, graph: PhaseGraph) -> dg.AssetsDefinition:
    key = phase_key(spec.name)
    check_specs = [
        dg.AssetCheckSpec(name, asset=key, description=text) for name, text in spec.checks.items()
    ] or None

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
        return dg.MaterializeResult(
            data_version=dg.DataVersion(outcome.fingerprint),
            metadata=phase_metadata(outcome, time.perf_counter() - start),
            check_results=[_phase_check(name, outcome) for name in spec.checks] or None,
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


defs = dg.Definitions(
    assets=analysis_assets,
    jobs=[analysis_job],
    sensors=[analysis_follow_sensor],
    schedules=[analysis_refresh_schedule],
)
