"""The analysis actions: sources, runs, phase status, the report, reset and the phase graph
(SPEC 4). The CLI (`dat analysis ...`) and `/api/analysis` call these.

Projects: a source belongs to the project it was added for (none: `default`); a caller sees only
the sources of its projects, and an analysis job only when its source is visible; anything else
is not found. Source names are one namespace for every project (they are Dagster partition keys
and warehouse schemas). A scoped caller reaches files only under the data root: never the root
itself nor `uploads/` as a whole, and other projects' uploads read as absent.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from dat_pipeline.analysis.report import build_report, render_report, write_report
from dat_pipeline.analysis.runner import AnalysisRunner, PhaseReport, default_graph
from dat_pipeline.analysis.sources import AnalysisError, Source, get_source, source_bytes
from dat_pipeline.analysis.sources import add_source as add_analysis_source
from dat_pipeline.analysis.sources import list_sources as list_analysis_sources
from dat_pipeline.analysis.views import source_dict, status_view, up_to_date_run
from dat_pipeline.errors import NotFoundError
from dat_pipeline.names import DATASET_ID, DEFAULT_PROJECT, PROJECT_TAG
from dat_pipeline.paths import normalize_relative
from dat_pipeline.services import access
from dat_pipeline.services.context import ServiceContext, json_safe

DEFAULT_CONCURRENCY = 2
IN_PROCESS_MAX_BYTES = 1 << 30


def _runner(ctx: ServiceContext) -> AnalysisRunner:
    return AnalysisRunner(ctx.store, ctx.data_root)


def _source_out(source: Source, project: str) -> dict[str, Any]:
    return {**json_safe(source_dict(source)), "project": project}


def _visible_source(ctx: ServiceContext, name: str) -> Source:
    """The source, if the caller sees it; a scoped caller's error names no other source."""
    if ctx.caller.projects is None:
        return get_source(ctx.store, name)
    try:
        source = get_source(ctx.store, name)
    except NotFoundError:
        source = None
    if source is None or not ctx.caller.sees(access.source_project(ctx.store, name)):
        raise NotFoundError(
            f"unknown analysis source {name!r} (list sources with: GET /api/analysis/sources)",
            source=name,
        )
    return source


def _check_from(ctx: ServiceContext, text: str) -> None:
    """A scoped caller's `from` may not span other projects' uploads: not the data root itself,
    not `uploads/`, and under `uploads/<project>/` only the caller's projects."""
    if ctx.caller.projects is None or DATASET_ID.match(text.strip()):
        return
    if text.startswith("upload:"):  # a project's clean uploads: only the caller's projects
        if not ctx.caller.sees(text.removeprefix("upload:")):
            raise NotFoundError(f"{text!r}: no such project")
        return
    if text.startswith("db://"):
        return
    relative = normalize_relative(text)
    parts = relative.split("/")
    if relative == ".":
        raise AnalysisError("give a folder or file under the data root, not the root itself")
    if parts[0] == "uploads" and (len(parts) < 2 or not ctx.caller.sees(parts[1])):
        raise NotFoundError(f"{text!r} does not exist under the data root")


# -- sources ----------------------------------------------------------------------------------
def add_source(
    ctx: ServiceContext,
    name: str,
    from_: str,
    follow: bool = False,
    options: dict[str, Any] | None = None,
    project: str | None = None,
) -> dict[str, Any]:
    """Register a source (a new partition of `sources`): a folder or file under the data root,
    or a DAT dataset id (`ds_xxxxxxxx`). It must hold at least one readable table."""
    from dat_pipeline.orchestration.analysis import ensure_source_partition

    project = ctx.caller.project_for(project)
    _check_from(ctx, from_)
    source = add_analysis_source(
        ctx.store, name, from_, follow=follow, options=dict(options or {}), data_root=ctx.data_root
    )
    if project != DEFAULT_PROJECT:
        access.assign_source_project(ctx.store, source.name, project)
    ensure_source_partition(ctx.instance(), source.name)
    return _source_out(source, project)


def list_sources(ctx: ServiceContext) -> dict[str, Any]:
    """The sources of the caller's projects, by name."""
    projects = access.source_projects(ctx.store)
    found = []
    for source in list_analysis_sources(ctx.store):
        project = projects.get(source.name, DEFAULT_PROJECT)
        if ctx.caller.sees(project):
            found.append(_source_out(source, project))
    return {"sources": found}


def show_source(ctx: ServiceContext, name: str) -> dict[str, Any]:
    source = _visible_source(ctx, name)
    return _source_out(source, access.source_project(ctx.store, name))


# -- runs -------------------------------------------------------------------------------------
def _phases(runner: AnalysisRunner, phase: str | None) -> list[str] | None:
    if phase is None:
        return None
    if phase not in runner.graph.specs:
        raise AnalysisError(
            f"no analysis phase {phase!r}; phases: {', '.join(runner.graph.order)}", phase=phase
        )
    return [phase]


def pick_concurrency(ctx: ServiceContext, source: str) -> int:
    """1 (in this process) below `IN_PROCESS_MAX_BYTES` of source files, else
    `DEFAULT_CONCURRENCY` processes: below it a step process costs more than parallel phases
    save (`python -m bench analysis`: 100k rows, 60 s in process against 148 s with 2)."""
    size = source_bytes(get_source(ctx.store, source), ctx.data_root)
    return 1 if size < IN_PROCESS_MAX_BYTES else DEFAULT_CONCURRENCY


def run(
    ctx: ServiceContext,
    source: str,
    phase: str | None = None,
    concurrency: int | None = None,
    on_progress: Callable[[PhaseReport], None] | None = None,
) -> dict[str, Any]:
    """Run the stale phases of `source` (and what they need) now, as one Dagster run; unchanged
    phases are reported as skipped without starting Dagster. `concurrency` 1 runs in this
    process; None picks by the source's size (`pick_concurrency`). `on_progress` hears each phase as it finishes. Returns the run document (`success`
    false when a phase failed or was blocked)."""
    _visible_source(ctx, source)
    runner = _runner(ctx)
    phases = _phases(runner, phase)
    done = up_to_date_run(runner, source, phases)
    if done is not None:
        for report in done.phases:
            (on_progress or (lambda _report: None))(report)
        return json_safe(done.to_dict())
    from dat_pipeline.orchestration.analysis import launch_analysis

    concurrency = concurrency or pick_concurrency(ctx, source)
    finished = launch_analysis(
        ctx.instance(),
        source,
        phases,
        concurrency=concurrency,
        on_progress=on_progress,
        runner=runner,
        in_process=concurrency == 1,
    )
    return json_safe(finished.to_dict())


def start_run(
    ctx: ServiceContext, source: str, phase: str | None = None, concurrency: int | None = None
) -> dict[str, Any]:
    """Start the analysis of `source` as a Dagster run on a worker thread: `job` is the run, or
    None with `run` (all skipped) when every phase was unchanged. A second run of the same
    source while one is running raises GateError."""
    from dat_pipeline.orchestration.analysis import start_analysis

    _visible_source(ctx, source)
    runner = _runner(ctx)
    phases = _phases(runner, phase)
    done = up_to_date_run(runner, source, phases)
    if done is None:
        launch = start_analysis(
            ctx.instance(),
            source,
            phases,
            concurrency=concurrency or pick_concurrency(ctx, source),
            runner=runner,
            extra_tags={PROJECT_TAG: access.source_project(ctx.store, source)},
        )
        if launch.job_id is not None:
            job = _job_out(ctx, launch.job_id)
            return {"source": source, "phases": launch.stages, "job": job, "run": None}
        done = up_to_date_run(runner, source, phases)  # another run did the work meanwhile
        if done is None:
            raise AnalysisError(f"the analysis of {source} did not start; try again")
    return {"source": source, "phases": [], "job": None, "run": json_safe(done.to_dict())}


def _job_out(ctx: ServiceContext, job_id: str) -> dict[str, Any] | None:
    from dat_pipeline.defs.analysis import VIEWS_ASSET
    from dat_pipeline.names import SOURCE_TAG
    from dat_pipeline.orchestration.launch import job_dict

    instance = ctx.instance()
    job = job_dict(instance, job_id)
    record = instance.get_run_record_by_id(job_id)
    if job is None or record is None:
        return None
    return {
        "job_id": job["job_id"],
        "status": job["status"],
        "source": record.dagster_run.tags.get(SOURCE_TAG),
        "phases": [phase for phase in job["stages"] if phase != VIEWS_ASSET],
        "started_at": job["started_at"],
        "ended_at": job["ended_at"],
        "errors": job["errors"],
    }


def show_job(ctx: ServiceContext, job_id: str) -> dict[str, Any]:
    """An analysis run (a Dagster run of a source the caller sees)."""
    return access.visible_job(
        _job_out(ctx, job_id),
        "source",
        lambda source: _visible_source(ctx, source),
        NotFoundError(f"unknown analysis job {job_id!r}", job_id=job_id),
    )


# -- results ----------------------------------------------------------------------------------
def status(ctx: ServiceContext, source: str) -> dict[str, Any]:
    """Per phase: state (ok, stale, missing, failed, blocked), duration and data version."""
    _visible_source(ctx, source)
    return json_safe(status_view(_runner(ctx), source))


def report(ctx: ServiceContext, source: str) -> dict[str, Any]:
    """The report document of a source, from its stored results; nothing is written."""
    _visible_source(ctx, source)
    return build_report(_runner(ctx), source)


def render(ctx: ServiceContext, source: str, fmt: str) -> str:
    """The report as Markdown (`md`) or a self-contained HTML page (`html`)."""
    _visible_source(ctx, source)
    return render_report(_runner(ctx), source, fmt)


def write(ctx: ServiceContext, source: str, fmt: str) -> Path:
    """Write the report as Markdown or HTML under the source's results; returns the path."""
    _visible_source(ctx, source)
    return write_report(_runner(ctx), source, fmt)


def reset(ctx: ServiceContext, source: str, phase: str | None = None) -> dict[str, Any]:
    """Delete the stored results of a phase and its dependents (default: every phase)."""
    _visible_source(ctx, source)
    runner = _runner(ctx)
    removed = runner.reset(source, phase)
    if removed:
        runner.register_views(source)
    return {"source": source, "reset": removed}


def graph() -> dict[str, Any]:
    """The phase graph: each phase with what it needs, its version and description."""
    phases = default_graph()
    return {
        "phases": [
            {
                "name": name,
                "needs": list(phases.needs(name)),
                "version": phases.spec(name).version,
                "description": phases.spec(name).description,
            }
            for name in phases.order
        ],
        "mermaid": phases.mermaid(),
    }


def graph_text(fmt: str = "text") -> str:
    """The phase graph as text or a mermaid diagram."""
    phases = default_graph()
    return phases.mermaid() if fmt == "mermaid" else phases.text()
