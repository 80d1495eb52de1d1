"""`/api/ingestion`: database sources, uploads, preview, ingestion runs and their jobs (SPEC 2, 9).

The same functions as `dat sources|ingest|jobs`. Everything is scoped by project: a source, upload
or job of another project answers 404, like one that does not exist. Sources without a project
belong to `default`. Unlike the CLI, a source given to preview or run is an upload id or a source
name, never a server path: files reach the API as uploads.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from dat_pipeline.api.context import Caller, CallerDep, Context, json_safe
from dat_pipeline.api.errors import error_responses
from dat_pipeline.api.uploads import UPLOAD_OPENAPI, receive_file
from dat_pipeline.errors import NotFoundError
from dat_pipeline.ingestion import jobs as job_store
from dat_pipeline.ingestion.runs import ingest, preview, resolve_request
from dat_pipeline.ingestion.uploads import IngestError, get_upload, upload_file
from dat_pipeline.names import DEFAULT_PROJECT
from dat_pipeline.sources import (
    add_database_source,
    delete_database_source,
    get_database_source,
    list_database_sources,
    make_source,
    test_connection,
)

router = APIRouter(
    prefix="/api/ingestion",
    tags=["ingestion"],
    responses=error_responses(400, 401, 403, 404, 409, 422),
)

SourceName = Annotated[str, Path(max_length=63, description="Database source name.")]
UploadId = Annotated[str, Path(max_length=64, description="Upload id (`up_...`).")]
JobId = Annotated[str, Path(max_length=64, description="Job id (the Dagster run id).")]


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Source(Open):
    name: str = Field(examples=["crm_prod"])
    kind: str = Field(examples=["postgresql"])
    host: str | None = None
    port: int | None = None
    database: str
    user: str | None = None
    password: str | None = Field(None, description="`********` when one is stored; never shown.")
    table: str | None = None
    query: str | None = None
    project: str | None = None


class SourceCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "crm_prod",
                    "kind": "postgresql",
                    "host": "db.internal",
                    "database": "crm",
                    "user": "reader",
                    "password": "s3cret",
                    "table": "public.customers",
                }
            ]
        },
    )

    name: str = Field(max_length=63, description="Lowercase letters, digits and _.")
    kind: str = Field(description="mysql | postgresql | sqlite | duckdb")
    host: str | None = Field(None, max_length=255)
    port: int | None = Field(None, ge=1, le=65535)
    database: str = Field(max_length=1000, description="Name, or a file under the data root.")
    user: str | None = Field(None, max_length=255)
    password: str | None = Field(
        None, max_length=1000, description="Encrypted at rest with DAT_ENCRYPTION_KEY."
    )
    table: str | None = Field(None, max_length=1000)
    query: str | None = Field(None, max_length=100_000)
    project: str | None = Field(None, max_length=63, description="Default: the token's project.")
    replace: bool = Field(False, description="Overwrite a source of that name.")


class SourceTest(BaseModel):
    name: str
    ok: bool
    message: str


class SourceDeleted(BaseModel):
    name: str
    deleted: bool


class Upload(Open):
    upload_id: str = Field(examples=["up_0123456789abcdef"])
    project: str
    sha256: str
    filename: str
    path: str = Field(description="Relative to the data root.")
    size_bytes: int
    format: str
    row_count: int | None
    tables: list[str]
    created_at: str
    duplicate: bool = Field(description="The project already had this content (same checksum).")


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(max_length=200, description="Upload id or database source name.")
    rules: str = Field("", max_length=100_000, description="Cleaning rules as YAML.")
    table: str | None = Field(None, max_length=1000)
    limit: int | None = Field(None, ge=1, le=10_000, description="At most DAT_PREVIEW_ROW_LIMIT.")


class Preview(Open):
    source: str
    table: str | None
    columns: dict[str, str]
    rules: list[str]
    rows: list[dict[str, Any]]
    rows_shown: int
    rows_kept: int
    rows_rejected: int


class IngestRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(max_length=200, description="Upload id or database source name.")
    project: str | None = Field(None, max_length=63)
    table: str | None = Field(None, max_length=1000)
    rules: str | None = Field(
        None, max_length=100_000, description="Rules YAML; default: uploads/<project>/rules.yaml."
    )


class IngestResult(Open):
    mode: str = Field(description="`sync` (done, 200) or `queued` (a Dagster run, 202).")
    job_id: str
    status: str


class Job(Open):
    job_id: str
    mode: str
    status: str
    project: str
    source: str
    progress: int
    rows_processed: int
    error: str | None
    created_at: str
    updated_at: str


class JobList(BaseModel):
    jobs: list[Job]


class LogLine(BaseModel):
    seq: int
    at: str
    level: str
    message: str


class JobLogs(BaseModel):
    job_id: str
    lines: list[LogLine]


def _source_project(source: Any) -> str:
    return source.project or DEFAULT_PROJECT


def _visible_source(context: Context, caller: Caller, name: str) -> Any:
    try:
        source = get_database_source(context.store, name)
    except NotFoundError:
        source = None
    if source is None or _source_project(source) not in caller.projects:
        raise NotFoundError(f"unknown database source {name!r}")
    return source


def _visible_upload(context: Context, caller: Caller, upload_id: str) -> Any:
    try:
        upload = get_upload(context.store, upload_id)
    except NotFoundError:
        upload = None
    if upload is None or upload.project not in caller.projects:
        raise NotFoundError(f"unknown upload {upload_id!r}")
    return upload


def _visible_job(context: Context, caller: Caller, job_id: str) -> Any:
    try:
        job = job_store.get_job(context.store, job_id)
    except NotFoundError:
        job = None
    if job is None or job.project not in caller.projects:
        raise NotFoundError(f"unknown job {job_id!r}")
    if job.mode == "queued":
        from dat_pipeline.defs.ingestion import reconcile_job

        job = reconcile_job(context.instance(), context.store, job_id)
    return job


def _check_source_ref(context: Context, caller: Caller, ref: str) -> None:
    """A preview or run source must be an upload or a database source of the caller's projects."""
    if ref.startswith("up_"):
        _visible_upload(context, caller, ref)
    else:
        _visible_source(context, caller, ref)


# -- sources ----------------------------------------------------------------------------------
@router.get("/sources", response_model=list[Source], summary="List database sources")
def list_sources(context: Context, caller: CallerDep) -> Any:
    """The database sources of the caller's projects (`dat sources list`); passwords masked."""
    return [
        s.summary()
        for s in list_database_sources(context.store)
        if _source_project(s) in caller.projects
    ]


@router.post(
    "/sources",
    response_model=Source,
    status_code=status.HTTP_201_CREATED,
    summary="Add a database source",
)
def create_source(body: SourceCreate, context: Context, caller: CallerDep) -> Any:
    """Add a database source (`dat sources add`); the password is stored encrypted."""
    project = caller.project_for(body.project)
    if body.replace:
        try:
            existing = get_database_source(context.store, body.name)
        except NotFoundError:
            existing = None
        if existing is not None and _source_project(existing) not in caller.projects:
            raise IngestError(f"source name {body.name!r} is taken; pick another name")
    fields = body.model_dump(exclude={"password", "replace", "project"})
    source = make_source(**fields, project=project)
    stored = add_database_source(context.store, source, body.password, replace=body.replace)
    return stored.summary()


@router.get("/sources/{name}", response_model=Source, summary="Show a database source")
def show_source(name: SourceName, context: Context, caller: CallerDep) -> Any:
    """One source (`dat sources show`); the password is masked."""
    return _visible_source(context, caller, name).summary()


@router.delete("/sources/{name}", response_model=SourceDeleted, summary="Delete a source")
def delete_source(name: SourceName, context: Context, caller: CallerDep) -> Any:
    """Delete a source and its encrypted password (`dat sources delete`)."""
    _visible_source(context, caller, name)
    delete_database_source(context.store, name)
    return {"name": name, "deleted": True}


@router.post("/sources/{name}/test", response_model=SourceTest, summary="Test a source")
def check_source(name: SourceName, context: Context, caller: CallerDep) -> Any:
    """Connect (within 10 s) and check the table or query (`dat sources test`); `ok` false with
    the reason when it fails."""
    _visible_source(context, caller, name)
    ok, message = test_connection(context.store, name)
    return {"name": name, "ok": ok, "message": message}


# -- uploads ----------------------------------------------------------------------------------
@router.post(
    "/uploads",
    response_model=Upload,
    status_code=status.HTTP_201_CREATED,
    summary="Upload a file",
    openapi_extra=UPLOAD_OPENAPI,
    responses={
        200: {"model": Upload, "description": "Same content already uploaded to the project."},
        **error_responses(413),
    },
)
async def create_upload(
    request: Request,
    response: Response,
    context: Context,
    caller: CallerDep,
    project: Annotated[
        str | None, Query(max_length=63, description="Default: the token's project.")
    ] = None,
) -> Any:
    """Upload a file (multipart, part `file`) to `uploads/<project>/raw/` with checksum, size,
    format and row count (`dat ingest upload`). Streamed to disk; a file above
    DAT_UPLOAD_MAX_BYTES is refused with 413 while streaming and nothing is kept."""
    target = caller.project_for(project)
    async with receive_file(request, context.settings.upload_max_bytes) as received:
        upload = await run_in_threadpool(
            upload_file, context.store, received.path, target, context.settings.data_root
        )
    if upload.sha256 != received.sha256:
        raise IngestError(f"upload {received.filename} changed while it was stored; send it again")
    if upload.duplicate:
        response.status_code = status.HTTP_200_OK
    return upload.to_dict()


@router.get("/uploads/{upload_id}", response_model=Upload, summary="Show an upload")
def show_upload(upload_id: UploadId, context: Context, caller: CallerDep) -> Any:
    """An upload of the caller's projects."""
    return {**_visible_upload(context, caller, upload_id).to_dict(), "duplicate": False}


# -- preview and runs -------------------------------------------------------------------------
@router.post("/preview", response_model=Preview, summary="Preview rules on a source")
def preview_source(body: PreviewRequest, context: Context, caller: CallerDep) -> Any:
    """Up to DAT_PREVIEW_ROW_LIMIT rows with each rule's verdict (`dat ingest preview`); reads
    only those rows and writes nothing."""
    _check_source_ref(context, caller, body.source)
    data_root = context.settings.data_root
    result = preview(context.store, data_root, body.source, body.rules, body.table, body.limit)
    return json_safe(result)


@router.post(
    "/runs",
    response_model=IngestResult,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Ingest a source",
    responses={200: {"model": IngestResult, "description": "Small input: ingested already."}},
)
def run_ingest(
    body: Annotated[IngestRunRequest, Body()],
    response: Response,
    context: Context,
    caller: CallerDep,
) -> Any:
    """Ingest an upload or a database source (`dat ingest run`): at once when small (200, the
    result), else as a queued Dagster run (202 with the job id; see `GET .../jobs/{job_id}`)."""
    _check_source_ref(context, caller, body.source)
    project = caller.project_for(body.project) if body.project else None
    store, data_root = context.store, context.settings.data_root
    request = resolve_request(store, data_root, body.source, project, body.table, body.rules)
    if request.project not in caller.projects:
        raise NotFoundError(f"unknown database source {body.source!r}")

    def submit(req):  # type: ignore[no-untyped-def]
        from dat_pipeline.defs.ingestion import submit_ingestion

        return submit_ingestion(context.instance(), store, req)

    result = ingest(store, data_root, request, submit)
    if result["mode"] == "sync":
        response.status_code = status.HTTP_200_OK
    return json_safe(result)


# -- jobs -------------------------------------------------------------------------------------
@router.get("/jobs", response_model=JobList, summary="List ingestion jobs")
def list_jobs(
    context: Context,
    caller: CallerDep,
    job_status: Annotated[
        str | None, Query(alias="status", max_length=16, description="PENDING, RUNNING, ...")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Any:
    """Recent jobs of the caller's projects, newest first (`dat jobs list`)."""
    found = [
        job
        for project in caller.projects
        for job in job_store.list_jobs(context.store, job_status, project, limit)
    ]
    found.sort(key=lambda job: job.created_at, reverse=True)
    return {"jobs": [json_safe(job.to_dict()) for job in found[:limit]]}


@router.get("/jobs/{job_id}", response_model=Job, summary="Show a job")
def show_job(job_id: JobId, context: Context, caller: CallerDep) -> Any:
    """Status, progress, rows processed, outputs and error (`dat jobs show`)."""
    return json_safe(_visible_job(context, caller, job_id).to_dict())


@router.get("/jobs/{job_id}/logs", response_model=JobLogs, summary="Logs of a job")
def show_job_logs(job_id: JobId, context: Context, caller: CallerDep) -> Any:
    """The log lines of a job (`dat jobs logs`)."""
    _visible_job(context, caller, job_id)
    return {"job_id": job_id, "lines": job_store.job_logs(context.store, job_id)}


@router.post("/jobs/{job_id}/cancel", response_model=Job, summary="Cancel a job")
def cancel_job(job_id: JobId, context: Context, caller: CallerDep) -> Any:
    """Cancel a pending or running job and its queued Dagster run (`dat jobs cancel`)."""
    from dat_pipeline.defs.ingestion import cancel_ingestion

    job = _visible_job(context, caller, job_id)
    instance = context.instance() if job.mode == "queued" else None
    return json_safe(cancel_ingestion(instance, context.store, job_id).to_dict())
