"""`/api/ingestion`: database sources, uploads, preview, ingestion runs and their jobs (SPEC 2, 9).

Each route calls one action of `dat_pipeline.services.ingestion`, the same as `dat sources|ingest|
jobs`. Everything is scoped by project: a source, upload or job of another project answers 404,
like one that does not exist. Unlike the CLI, a source given to preview or run is an upload id or
a source name, never a server path: files reach the API as uploads.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from dat_pipeline.api import schemas
from dat_pipeline.api.context import Service
from dat_pipeline.api.errors import error_responses
from dat_pipeline.api.routes import JobId, answer, created, job_route, starts_work
from dat_pipeline.api.uploads import UPLOAD_OPENAPI, receive_file
from dat_pipeline.services import ingestion

router = APIRouter(
    prefix="/api/ingestion",
    tags=["ingestion"],
    responses=error_responses(400, 401, 403, 404, 409, 422),
)

SourceName = Annotated[str, Path(max_length=63, description="Database source name.")]
UploadId = Annotated[str, Path(max_length=64, description="Upload id (`up_...`).")]


# -- sources ----------------------------------------------------------------------------------
@router.get(
    "/sources", response_model=list[schemas.DatabaseSourcePublic], summary="List database sources"
)
def list_sources(ctx: Service) -> Any:
    """The database sources of the caller's projects (`dat sources list`); passwords masked."""
    return ingestion.list_sources(ctx)


@router.post("/sources", **created(schemas.DatabaseSourcePublic, "Add a database source"))
def create_source(body: schemas.DatabaseSourceCreateRequest, ctx: Service) -> Any:
    """Add a database source (`dat sources add`); the password is stored encrypted."""
    fields = body.model_dump(exclude={"name", "kind", "database"})
    return ingestion.add_source(ctx, body.name, body.kind, body.database, **fields)


@router.get(
    "/sources/{name}", response_model=schemas.DatabaseSourcePublic, summary="Show a database source"
)
def show_source(name: SourceName, ctx: Service) -> Any:
    """One source (`dat sources show`); the password is masked."""
    return ingestion.get_source(ctx, name)


@router.delete(
    "/sources/{name}", response_model=schemas.SourceDeletedPublic, summary="Delete a source"
)
def delete_source(name: SourceName, ctx: Service) -> Any:
    """Delete a source and its encrypted password (`dat sources delete`)."""
    return ingestion.delete_source(ctx, name)


@router.post(
    "/sources/{name}/test", response_model=schemas.SourceTestPublic, summary="Test a source"
)
def check_source(name: SourceName, ctx: Service) -> Any:
    """Connect (within 10 s) and check the table or query (`dat sources test`); `ok` false with
    the reason when it fails."""
    return ingestion.test_source(ctx, name)


# -- uploads ----------------------------------------------------------------------------------
@router.post(
    "/uploads",
    response_model=schemas.UploadPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Upload a file",
    openapi_extra=UPLOAD_OPENAPI,
    responses={
        200: {
            "model": schemas.UploadPublic,
            "description": "Same content already uploaded to the project.",
        },
        **error_responses(413),
    },
)
async def create_upload(
    request: Request,
    response: Response,
    ctx: Service,
    project: Annotated[
        str | None, Query(max_length=63, description="Default: the token's project.")
    ] = None,
) -> Any:
    """Upload a file (multipart, part `file`) to `uploads/<project>/raw/` with checksum, size,
    format and row count (`dat ingest upload`). Streamed to disk; a file above
    DAT_UPLOAD_MAX_BYTES is refused with 413 while streaming and nothing is kept."""
    target = ctx.caller.project_for(project)
    async with receive_file(request, ctx.settings.upload_max_bytes) as received:
        upload = await run_in_threadpool(
            ingestion.upload, ctx, received.path, target, received.sha256
        )
    if upload["duplicate"]:
        response.status_code = status.HTTP_200_OK
    return upload


@router.get("/uploads", response_model=list[schemas.UploadPublic], summary="List uploads")
def list_uploads(ctx: Service) -> Any:
    """The uploads of the caller's projects, newest first."""
    return ingestion.list_uploads(ctx)


@router.delete("/uploads/{upload_id}", summary="Delete an upload")
def delete_upload(upload_id: UploadId, ctx: Service) -> dict[str, Any]:
    """Forget an upload and delete its raw file; cleaned outputs and jobs are kept."""
    return ingestion.delete_upload(ctx, upload_id)


@router.get("/templates/cleaning", summary="Cleaning rule templates")
def cleaning_templates(_ctx: Service) -> list[dict[str, Any]]:
    """Every cleaning rule type with its parameters and a YAML example (`dat rules templates`)."""
    return ingestion.cleaning_templates()


@router.get("/rulesets", summary="Named rule sets")
def list_rule_sets(
    ctx: Service, project: Annotated[str | None, Query(max_length=63)] = None
) -> list[str]:
    """The named cleaning rule sets of a project (default: the token's)."""
    return ingestion.list_rule_sets(ctx, project)


@router.get("/rulesets/{name}", summary="A named rule set")
def get_rule_set(
    name: Annotated[str, Path(max_length=63)],
    ctx: Service,
    project: Annotated[str | None, Query(max_length=63)] = None,
) -> dict[str, Any]:
    """The rules YAML of a named rule set."""
    return {"name": name, "rules": ingestion.get_rule_set(ctx, name, project)}


@router.put("/rulesets/{name}", summary="Save a named rule set")
def save_rule_set(
    name: Annotated[str, Path(max_length=63)], body: schemas.RuleSetRequest, ctx: Service
) -> dict[str, Any]:
    """Validate and save (or replace) a named rule set of the project."""
    return ingestion.save_rule_set(ctx, name, body.rules, body.project)


@router.get("/uploads/{upload_id}", response_model=schemas.UploadPublic, summary="Show an upload")
def show_upload(upload_id: UploadId, ctx: Service) -> Any:
    """An upload of the caller's projects."""
    return ingestion.get_upload_view(ctx, upload_id)


# -- preview and runs -------------------------------------------------------------------------
@router.post("/preview", response_model=schemas.PreviewPublic, summary="Preview rules on a source")
def preview_source(body: schemas.PreviewRequest, ctx: Service) -> Any:
    """Up to DAT_PREVIEW_ROW_LIMIT rows with each rule's verdict (`dat ingest preview`); reads
    only those rows and writes nothing."""
    return ingestion.preview(ctx, body.source, body.rules, body.table, body.limit, body.mapping)


@router.post(
    "/runs",
    **starts_work(schemas.IngestResultPublic, "Ingest a source", "Small input: ingested already."),
)
def run_ingest(
    body: Annotated[schemas.IngestRunRequest, Body()],
    response: Response,
    ctx: Service,
) -> Any:
    """Ingest an upload or a database source (`dat ingest run`): at once when small (200, the
    result), else as a queued Dagster run (202 with the job id; see `GET .../jobs/{job_id}`)."""
    result = ingestion.ingest(ctx, body.source, body.project, body.table, body.rules, body.mapping)
    return answer(response, result["mode"] == "sync", result)


# -- jobs -------------------------------------------------------------------------------------
@router.get("/jobs", response_model=schemas.IngestionJobListPublic, summary="List ingestion jobs")
def list_jobs(
    ctx: Service,
    job_status: Annotated[
        str | None, Query(alias="status", max_length=16, description="PENDING, RUNNING, ...")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Any:
    """Recent jobs of the caller's projects, newest first (`dat jobs list`)."""
    return {"jobs": ingestion.list_jobs(ctx, job_status, None, limit)}


job_route(
    router,
    ingestion.get_job,
    schemas.IngestionJobPublic,
    "Show a job",
    "Status, progress, rows processed, outputs and error (`dat jobs show`).",
)


@router.get("/jobs/{job_id}/logs", response_model=schemas.JobLogsPublic, summary="Logs of a job")
def show_job_logs(job_id: JobId, ctx: Service) -> Any:
    """The log lines of a job (`dat jobs logs`)."""
    return {"job_id": job_id, "lines": ingestion.job_logs(ctx, job_id)}


@router.post(
    "/jobs/{job_id}/cancel", response_model=schemas.IngestionJobPublic, summary="Cancel a job"
)
def cancel_job(job_id: JobId, ctx: Service) -> Any:
    """Cancel a pending or running job and its queued Dagster run (`dat jobs cancel`)."""
    return ingestion.cancel_job(ctx, job_id)
