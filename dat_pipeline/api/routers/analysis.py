"""`/api/analysis`: analysis sources, runs (Dagster runs, 202), phase status and the report
(SPEC 4, 9).

Each route calls one action of `dat_pipeline.services.analysis`, the same as `dat analysis
add-source|sources|run|status|report`; the service scopes sources to the caller's projects (a
source of another project answers 404, like one that does not exist) and keeps a scoped caller's
`from` under the data root and inside its own uploads. Source names are one namespace for every
project, so adding a name another project already uses answers 400 without saying whose it is.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Response
from fastapi.responses import PlainTextResponse

from dat_pipeline.api import schemas
from dat_pipeline.api.context import Service
from dat_pipeline.api.errors import error_responses
from dat_pipeline.api.routes import answer, created, job_route, starts_work
from dat_pipeline.names import NAME_PATTERN
from dat_pipeline.services import analysis

router = APIRouter(
    prefix="/api/analysis",
    tags=["analysis"],
    responses=error_responses(400, 401, 403, 404, 409, 422),
)

SourceName = Annotated[
    str,
    Path(
        pattern=NAME_PATTERN,
        description="Analysis source name (lowercase letters, digits and _).",
        examples=["sales_2024"],
    ),
]


# -- sources ----------------------------------------------------------------------------------
@router.get(
    "/sources", response_model=schemas.AnalysisSourceListPublic, summary="List analysis sources"
)
def list_sources(ctx: Service) -> Any:
    """The analysis sources of the caller's projects, by name (`dat analysis sources`)."""
    return analysis.list_sources(ctx)


@router.post("/sources", **created(schemas.AnalysisSourcePublic, "Add an analysis source"))
def create_source(body: schemas.AnalysisSourceCreateRequest, ctx: Service) -> Any:
    """Register a source (a new partition of `sources`), like `dat analysis add-source NAME
    --from PATH|DATASET`: a folder or file under the data root (never outside it), or a DAT
    dataset id. It must hold at least one readable table."""
    return analysis.add_source(
        ctx, body.name, body.from_, body.follow, dict(body.options), body.project
    )


@router.get(
    "/sources/{name}",
    response_model=schemas.AnalysisSourcePublic,
    summary="Show an analysis source",
)
def show_source(name: SourceName, ctx: Service) -> Any:
    """One source of the caller's projects."""
    return analysis.show_source(ctx, name)


# -- runs -------------------------------------------------------------------------------------
@router.post(
    "/sources/{name}/run",
    **starts_work(
        schemas.AnalysisRunAcceptedPublic, "Analyse a source", "Every phase was up to date."
    ),
)
def run_analysis(
    name: SourceName,
    response: Response,
    ctx: Service,
    body: Annotated[schemas.AnalysisRunRequest | None, Body()] = None,
) -> Any:
    """Run the analysis of a source (`dat analysis run`): the phases whose code or inputs changed
    run as one Dagster run (multiprocess executor); answers 202 with the job (the Dagster run id)
    at once; follow it with `GET /api/analysis/jobs/{job_id}`. When every phase is unchanged,
    answers 200 with `run` (all skipped) and no job. A second run of the same source while one
    is running answers 409."""
    body = body or schemas.AnalysisRunRequest()
    started = analysis.start_run(ctx, name, body.phase, body.concurrency)
    return answer(response, started["job"] is None, started)


job_route(
    router,
    analysis.show_job,
    schemas.AnalysisJobPublic,
    "An analysis job",
    "Status, phases, times and failures of an analysis run (a Dagster run of a source of one "
    "of\nthe caller's projects).",
)


@router.get(
    "/sources/{name}/status", response_model=schemas.AnalysisStatusPublic, summary="Phase status"
)
def source_status(name: SourceName, ctx: Service) -> Any:
    """Per phase: state (ok, stale, missing, failed, blocked), duration and data version
    (`dat analysis status`)."""
    return analysis.status(ctx, name)


@router.get(
    "/sources/{name}/report",
    response_model=schemas.AnalysisReportPublic,
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
    ctx: Service,
    report_format: Annotated[
        Literal["json", "md", "html"],
        Query(alias="format", description="json (default), md or html."),
    ] = "json",
) -> Any:
    """The report of a source (`dat analysis report`) from its stored results: tables, keys,
    relationships, correlations, time, cycles, slices, topology, quality, validation and the
    phases (failed ones with what they blocked). Nothing is written."""
    if report_format == "json":
        return analysis.report(ctx, name)
    media = "text/markdown" if report_format == "md" else "text/html"
    text = analysis.render(ctx, name, report_format)
    return PlainTextResponse(text, media_type=f"{media}; charset=utf-8")
