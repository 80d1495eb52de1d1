"""`/api/analysis`: analysis sources, runs (Dagster runs, 202), phase status and the report
(SPEC 4, 9).

The same functions as `dat analysis add-source|sources|run|status|report`: `analysis.sources`,
`analysis.views` for the JSON shapes, `analysis.report`, and the Dagster layer's `launch_analysis`
(started on a worker thread by `start_analysis`, so the answer carries the run id at once).

Projects: a source added through the API belongs to the caller's project (table
`api_analysis_source_projects`); a source added by the CLI or the follow sensor belongs to
`default`. A caller sees only the sources of its projects, and an analysis job only when its
source is visible; anything else answers 404, exactly like a source that does not exist. Source
names are one namespace for every project (they are Dagster partition keys and warehouse schemas),
so adding a name another project already uses answers 400 without saying whose it is.

Files reach a source only from under the data root: `from` is a folder or file there (paths are
resolved and checked, never outside the root), or a DAT dataset id (`ds_xxxxxxxx`). Uploads of
another project (`uploads/<project>/`) read as absent, and the root itself or `uploads/` as a
whole are refused, since they hold every project's uploads.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Response, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from dat_pipeline.analysis.report import build_report, render_report
from dat_pipeline.analysis.runner import AnalysisRunner
from dat_pipeline.analysis.sources import AnalysisError, Source, add_source, get_source
from dat_pipeline.analysis.sources import list_sources as list_analysis_sources
from dat_pipeline.analysis.views import source_dict, status_view, up_to_date_run
from dat_pipeline.api.context import ApiContext, Caller, CallerDep, Context, json_safe
from dat_pipeline.api.errors import error_responses
from dat_pipeline.errors import NotFoundError
from dat_pipeline.names import DEFAULT_PROJECT, PROJECT_TAG
from dat_pipeline.paths import normalize_relative
from dat_pipeline.services import access as auth

router = APIRouter(
    prefix="/api/analysis",
    tags=["analysis"],
    responses=error_responses(400, 401, 403, 404, 409, 422),
)

SourceName = Annotated[
    str,
    Path(
        pattern=r"^[a-z][a-z0-9_]{0,62}$",
        description="Analysis source name (lowercase letters, digits and _).",
        examples=["sales_2024"],
    ),
]
DATASET_ID = re.compile(r"^ds_[0-9a-f]{8}$")
JobId = Annotated[str, Path(max_length=64, description="Job id (the Dagster run id).")]
MAX_CONCURRENCY = 16


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class AnalysisSource(BaseModel):
    name: str = Field(examples=["sales_2024"])
    kind: str = Field(description="folder or dataset.", examples=["folder"])
    location: str = Field(description="Folder or file relative to the data root, or a dataset id.")
    follow: bool = Field(description="Dataset sources: follow the newest export of that name.")
    options: dict[str, Any] = Field(description="Phase options, e.g. type_threshold.")
    created_at: str
    project: str = Field(description="The project the source belongs to.", examples=["default"])


class SourceList(BaseModel):
    sources: list[AnalysisSource]


class SourceCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {"name": "sales_2024", "from": "sample"},
                {"name": "q1_export", "from": "ds_1a2b3c4d", "follow": True},
            ]
        },
    )

    name: str = Field(max_length=63, description="Lowercase letters, digits and _.")
    from_: str = Field(
        alias="from",
        max_length=1000,
        description="A folder or file under the data root, or a DAT dataset id (ds_xxxxxxxx).",
    )
    follow: bool = Field(False, description="For a dataset: follow the newest export of its name.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Phase options (`--option key=value` of the CLI)."
    )
    project: str | None = Field(None, max_length=63, description="Default: the token's project.")


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phase: str | None = Field(
        None, max_length=64, description="Run this phase and what it needs; default: every phase."
    )
    concurrency: int = Field(
        2, ge=1, le=MAX_CONCURRENCY, description="Phases run at the same time (processes)."
    )


class PhaseReport(BaseModel):
    phase: str
    state: str = Field(description="ran, skipped, failed or blocked.")
    duration_s: float | None = None
    data_version: str | None = None
    error: str | None = None


class AnalysisJob(BaseModel):
    job_id: str = Field(description="The Dagster run id.")
    status: str = Field(description="Dagster run status.", examples=["STARTED", "SUCCESS"])
    source: str | None
    phases: list[str] = Field(description="The phases the run materializes.")
    started_at: float | None = Field(None, description="Unix time.")
    ended_at: float | None = Field(None, description="Unix time.")
    errors: list[str] = Field(description="First line of each step failure.")


class RunAccepted(BaseModel):
    source: str
    phases: list[str] = Field(description="Phases the job runs (the others are unchanged).")
    job: AnalysisJob | None = Field(None, description="The Dagster run; null when up to date.")
    run: dict[str, Any] | None = Field(
        None, description="When nothing had to run: the `dat analysis run --json` document."
    )


class PhaseStatus(BaseModel):
    phase: str
    state: str = Field(description="ok, stale, missing, failed or blocked.")
    duration_s: float | None
    data_version: str | None
    finished_at: str | None
    error: str | None
    blocked_by: list[str]


class AnalysisStatus(BaseModel):
    source: str
    phases: list[PhaseStatus]


class AnalysisReport(Open):
    """The report contract (issue 7): these keys always, more may be added."""

    source: str
    generated_at: str
    tables: list[dict[str, Any]]
    candidate_keys: list[dict[str, Any]]
    relationships: list[dict[str, Any]]
    correlations: list[dict[str, Any]]
    functional_dependencies: list[dict[str, Any]]
    temporal: list[dict[str, Any]]
    cycles: list[dict[str, Any]]
    turning_points: list[dict[str, Any]]
    slices: list[dict[str, Any]]
    topology: dict[str, Any]
    quality: dict[str, Any]
    validation: list[dict[str, Any]]
    phases: list[dict[str, Any]]


def _source_out(source: Source, project: str) -> dict[str, Any]:
    return {**json_safe(source_dict(source)), "project": project}


def _visible_source(context: ApiContext, caller: Caller, name: str) -> Source:
    try:
        source = get_source(context.store, name)
    except NotFoundError:
        source = None
    if source is None or auth.source_project(context.store, name) not in caller.projects:
        raise NotFoundError(
            f"unknown analysis source {name!r} (list sources with: GET /api/analysis/sources)"
        )
    return source


def _check_from(caller: Caller, text: str) -> None:
    """`from` may not span other projects' uploads: not the data root itself, not `uploads/`,
    and under `uploads/<project>/` only the caller's projects (others read as absent)."""
    if DATASET_ID.match(text.strip()):
        return
    relative = normalize_relative(text)
    parts = relative.split("/")
    if relative == ".":
        raise AnalysisError("give a folder or file under the data root, not the root itself")
    if parts[0] == "uploads" and (len(parts) < 2 or parts[1] not in caller.projects):
        raise NotFoundError(f"{text!r} does not exist under the data root")


def _runner(context: ApiContext) -> AnalysisRunner:
    return AnalysisRunner(context.store, context.settings.data_root)


def _job_out(context: ApiContext, job_id: str) -> dict[str, Any] | None:
    from dat_pipeline.defs.analysis import SOURCE_TAG, VIEWS_ASSET
    from dat_pipeline.orchestration.launch import job_dict

    instance = context.instance()
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


# -- sources ----------------------------------------------------------------------------------
@router.get("/sources", response_model=SourceList, summary="List analysis sources")
def list_sources(context: Context, caller: CallerDep) -> Any:
    """The analysis sources of the caller's projects, by name (`dat analysis sources`)."""
    projects = auth.source_projects(context.store)
    found = []
    for source in list_analysis_sources(context.store):
        project = projects.get(source.name, DEFAULT_PROJECT)
        if project in caller.projects:
            found.append(_source_out(source, project))
    return {"sources": found}


@router.post(
    "/sources",
    response_model=AnalysisSource,
    status_code=status.HTTP_201_CREATED,
    summary="Add an analysis source",
)
def create_source(body: SourceCreate, context: Context, caller: CallerDep) -> Any:
    """Register a source (a new partition of `sources`), like `dat analysis add-source NAME
    --from PATH|DATASET`: a folder or file under the data root (never outside it), or a DAT
    dataset id. It must hold at least one readable table."""
    from dat_pipeline.defs.analysis import ensure_source_partition

    project = caller.project_for(body.project)
    _check_from(caller, body.from_)
    source = add_source(
        context.store,
        body.name,
        body.from_,
        follow=body.follow,
        options=dict(body.options),
        data_root=context.settings.data_root,
    )
    auth.assign_source_project(context.store, source.name, project)
    ensure_source_partition(context.instance(), source.name)
    return _source_out(source, project)


@router.get("/sources/{name}", response_model=AnalysisSource, summary="Show an analysis source")
def show_source(name: SourceName, context: Context, caller: CallerDep) -> Any:
    """One source of the caller's projects."""
    source = _visible_source(context, caller, name)
    return _source_out(source, auth.source_project(context.store, name))


# -- runs -------------------------------------------------------------------------------------
@router.post(
    "/sources/{name}/run",
    response_model=RunAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Analyse a source",
    responses={200: {"model": RunAccepted, "description": "Every phase was up to date."}},
)
def run_analysis(
    name: SourceName,
    response: Response,
    context: Context,
    caller: CallerDep,
    body: Annotated[RunRequest | None, Body()] = None,
) -> Any:
    """Run the analysis of a source (`dat analysis run`): the phases whose code or inputs changed
    run as one Dagster run (multiprocess executor); answers 202 with the job (the Dagster run id)
    at once; follow it with `GET /api/analysis/jobs/{job_id}`. When every phase is unchanged,
    answers 200 with `run` (all skipped) and no job. A second run of the same source while one
    is running answers 409."""
    from dat_pipeline.defs.analysis import start_analysis

    _visible_source(context, caller, name)
    body = body or RunRequest()
    runner = _runner(context)
    if body.phase is not None and body.phase not in runner.graph.specs:
        raise AnalysisError(
            f"no analysis phase {body.phase!r}; phases: {', '.join(runner.graph.order)}"
        )
    phases = [body.phase] if body.phase else None
    done = up_to_date_run(runner, name, phases)
    if done is None:
        instance = context.instance()
        launch = start_analysis(
            instance,
            name,
            phases,
            concurrency=body.concurrency,
            runner=runner,
            extra_tags={PROJECT_TAG: auth.source_project(context.store, name)},
        )
        if launch.job_id is not None:
            return {
                "source": name,
                "phases": launch.stages,
                "job": _job_out(context, launch.job_id),
                "run": None,
            }
        done = up_to_date_run(runner, name, phases)  # another run did the work meanwhile
        if done is None:
            raise AnalysisError(f"the analysis of {name} did not start; try again")
    response.status_code = status.HTTP_200_OK
    return {"source": name, "phases": [], "job": None, "run": json_safe(done.to_dict())}


@router.get("/jobs/{job_id}", response_model=AnalysisJob, summary="An analysis job")
def show_job(job_id: JobId, context: Context, caller: CallerDep) -> Any:
    """Status, phases, times and failures of an analysis run (a Dagster run of a source of one of
    the caller's projects)."""
    job = _job_out(context, job_id)
    if job is None or job["source"] is None:
        raise NotFoundError(f"unknown analysis job {job_id!r}")
    try:
        _visible_source(context, caller, job["source"])
    except NotFoundError:
        raise NotFoundError(f"unknown analysis job {job_id!r}") from None
    return job


@router.get("/sources/{name}/status", response_model=AnalysisStatus, summary="Phase status")
def source_status(name: SourceName, context: Context, caller: CallerDep) -> Any:
    """Per phase: state (ok, stale, missing, failed, blocked), duration and data version
    (`dat analysis status`)."""
    _visible_source(context, caller, name)
    return json_safe(status_view(_runner(context), name))


@router.get(
    "/sources/{name}/report",
    response_model=AnalysisReport,
    summary="The analysis report",
    responses={
        200: {
            "description": "The report: JSON (the contract), Markdown or a self-contained HTML "
            "page, by `format`.",
            "content": {
                "text/markdown": {"schema": {"type": "string"}},
                "text/html": {"schema": {"type": "string"}},
            },
        }
    },
)
def source_report(
    name: SourceName,
    context: Context,
    caller: CallerDep,
    report_format: Annotated[
        Literal["json", "md", "html"],
        Query(alias="format", description="json (default), md or html."),
    ] = "json",
) -> Any:
    """The report of a source (`dat analysis report`) from its stored results: tables, keys,
    relationships, correlations, time, cycles, slices, topology, quality, validation and the
    phases (failed ones with what they blocked). Nothing is written."""
    _visible_source(context, caller, name)
    runner = _runner(context)
    if report_format == "json":
        return build_report(runner, name)
    text = render_report(runner, name, report_format)
    media = "text/markdown" if report_format == "md" else "text/html"
    return PlainTextResponse(text, media_type=f"{media}; charset=utf-8")
