"""The ingestion actions: database sources, uploads, preview, ingestion runs and their jobs
(SPEC 2). The CLI (`dat sources|ingest|jobs`) and `/api/ingestion` call these.

Everything is scoped by the caller's projects: a source, upload or job of another project is not
found, like one that does not exist; sources without a project belong to `default`. A caller
scoped by a token (API, console) names a source for preview and runs by upload id or source
name, never by a server path; the local CLI user may also give a file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from dat_pipeline.errors import NotFoundError
from dat_pipeline.ingestion import jobs as job_store
from dat_pipeline.ingestion.runs import default_rules, resolve_request
from dat_pipeline.ingestion.runs import ingest as run_ingest
from dat_pipeline.ingestion.runs import preview as preview_rows
from dat_pipeline.ingestion.uploads import IngestError, get_upload, upload_file
from dat_pipeline.names import DEFAULT_PROJECT
from dat_pipeline.services.context import ServiceContext, json_safe
from dat_pipeline.sources import (
    add_database_source,
    delete_database_source,
    get_database_source,
    list_database_sources,
    make_source,
    test_connection,
)


def _source_project(source: Any) -> str:
    return source.project or DEFAULT_PROJECT


def _visible_source(ctx: ServiceContext, name: str) -> Any:
    try:
        source = get_database_source(ctx.store, name)
    except NotFoundError:
        source = None
    if source is None or not ctx.caller.sees(_source_project(source)):
        raise NotFoundError(
            f"unknown database source {name!r} (list them with: dat sources list)", source=name
        )
    return source


def _visible_upload(ctx: ServiceContext, upload_id: str) -> Any:
    try:
        upload = get_upload(ctx.store, upload_id)
    except NotFoundError:
        upload = None
    if upload is None or not ctx.caller.sees(upload.project):
        raise NotFoundError(f"unknown upload {upload_id!r}", upload_id=upload_id)
    return upload


def _visible_job(ctx: ServiceContext, job_id: str) -> job_store.Job:
    try:
        job = job_store.get_job(ctx.store, job_id)
    except NotFoundError:
        job = None
    if job is None or not ctx.caller.sees(job.project):
        raise NotFoundError(
            f"unknown job {job_id!r} (list jobs with: dat jobs list)", job_id=job_id
        )
    if job.mode == "queued":
        from dat_pipeline.orchestration.ingestion import reconcile_job

        job = reconcile_job(ctx.instance(), ctx.store, job_id)
    return job


def _check_source_ref(ctx: ServiceContext, ref: str) -> None:
    """A scoped caller's preview or run source: an upload or a database source it sees."""
    if ctx.caller.projects is None:
        return
    if ref.startswith("up_"):
        _visible_upload(ctx, ref)
    else:
        _visible_source(ctx, ref)


# -- database sources -------------------------------------------------------------------------
def list_sources(ctx: ServiceContext) -> list[dict[str, Any]]:
    """The database sources of the caller's projects; passwords masked."""
    return [
        source.summary()
        for source in list_database_sources(ctx.store)
        if ctx.caller.sees(_source_project(source))
    ]


def add_source(
    ctx: ServiceContext,
    name: str,
    kind: str,
    database: str,
    host: str | None = None,
    port: int | None = None,
    user: str | None = None,
    password: str | None = None,
    table: str | None = None,
    query: str | None = None,
    project: str | None = None,
    replace: bool = False,
) -> dict[str, Any]:
    """Add a database source; the password is stored encrypted (DAT_ENCRYPTION_KEY). `project`
    defaults to the caller's; replacing a source of a project the caller does not see is
    refused without saying whose it is."""
    if project is not None or ctx.caller.projects is not None:
        project = ctx.caller.project_for(project)
    if replace:
        try:
            existing = get_database_source(ctx.store, name)
        except NotFoundError:
            existing = None
        if existing is not None and not ctx.caller.sees(_source_project(existing)):
            raise IngestError(f"source name {name!r} is taken; pick another name", source=name)
    source = make_source(
        name=name,
        kind=kind,
        host=host,
        port=port,
        database=database,
        user=user,
        table=table,
        query=query,
        project=project,
    )
    return add_database_source(ctx.store, source, password, replace=replace).summary()


def get_source(ctx: ServiceContext, name: str, tables: bool = False) -> dict[str, Any]:
    """One source (password masked); with `tables`, connect and list its tables."""
    source = _visible_source(ctx, name)
    data: dict[str, Any] = source.summary()
    if tables:
        from dat_pipeline.adapters.database import DatabaseAdapter

        data["tables"] = DatabaseAdapter(ctx.store, source).list_tables()
    return data


def delete_source(ctx: ServiceContext, name: str) -> dict[str, Any]:
    """Delete a source and its encrypted password."""
    _visible_source(ctx, name)
    delete_database_source(ctx.store, name)
    return {"name": name, "deleted": True}


def test_source(ctx: ServiceContext, name: str) -> dict[str, Any]:
    """Connect (within 10 s) and check the table or query; `ok` false with the reason."""
    _visible_source(ctx, name)
    ok, message = test_connection(ctx.store, name)
    return {"name": name, "ok": ok, "message": message}


# -- uploads ----------------------------------------------------------------------------------
def upload(
    ctx: ServiceContext, path: Path, project: str | None, sha256: str | None = None
) -> dict[str, Any]:
    """Store a file under uploads/<project>/raw/ with checksum, size, format and row count;
    `duplicate` when the project already had this content. With `sha256` (what a front-end
    received), a file that changed while it was stored is refused."""
    target = ctx.caller.project_for(project)
    stored = upload_file(ctx.store, Path(path), target, ctx.data_root)
    if sha256 is not None and stored.sha256 != sha256:
        raise IngestError(f"upload {Path(path).name} changed while it was stored; send it again")
    return stored.to_dict()


def get_upload_view(ctx: ServiceContext, upload_id: str) -> dict[str, Any]:
    """An upload of the caller's projects."""
    return {**_visible_upload(ctx, upload_id).to_dict(), "duplicate": False}


# -- preview and runs -------------------------------------------------------------------------
def preview(
    ctx: ServiceContext,
    source: str,
    rules: str = "",
    table: str | None = None,
    limit: int | None = None,
    mapping: dict[str, str | None] | None = None,
    project: str | None = None,
) -> dict[str, Any]:
    """Up to DAT_PREVIEW_ROW_LIMIT rows with each rule's verdict; reads only those rows.
    `mapping` renames (source -> new name) or drops (-> None) columns before the rules; without
    rules, `project`'s default rules apply (uploads/<project>/rules.yaml), as `ingest` does."""
    _check_source_ref(ctx, source)
    if not rules and project is not None:
        rules = default_rules(ctx.data_root, ctx.caller.project_for(project))
    return json_safe(preview_rows(ctx.store, ctx.data_root, source, rules, table, limit, mapping))


def ingest(
    ctx: ServiceContext,
    source: str,
    project: str | None = None,
    table: str | None = None,
    rules: str | None = None,
    mapping: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """Ingest now when small (mode `sync`, the result), else queue a Dagster run (mode `queued`,
    its job id at once). `mapping` renames or drops columns before the rules."""
    _check_source_ref(ctx, source)
    if project is not None and ctx.caller.projects is not None:
        project = ctx.caller.project_for(project)
    request = resolve_request(ctx.store, ctx.data_root, source, project, table, rules)
    if mapping:
        request = dataclasses.replace(request, mapping=mapping)
    if not ctx.caller.sees(request.project):
        raise NotFoundError(f"unknown database source {source!r}", source=source)

    def submit(req):  # type: ignore[no-untyped-def]
        from dat_pipeline.orchestration.ingestion import submit_ingestion

        return submit_ingestion(ctx.instance(), ctx.store, req)

    return json_safe(run_ingest(ctx.store, ctx.data_root, request, submit))


# -- jobs -------------------------------------------------------------------------------------
def list_jobs(
    ctx: ServiceContext, status: str | None = None, project: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Recent jobs of the caller's projects (or of `project`), newest first."""
    if ctx.caller.projects is None:
        found = job_store.list_jobs(ctx.store, status, project, limit)
    else:
        projects = [p for p in ctx.caller.projects if project is None or p == project]
        found = [job for p in projects for job in job_store.list_jobs(ctx.store, status, p, limit)]
        found.sort(key=lambda job: job.created_at, reverse=True)
    return [json_safe(job.to_dict()) for job in found[:limit]]


def get_job(ctx: ServiceContext, job_id: str) -> dict[str, Any]:
    """Status, progress, rows processed, outputs and error of one job."""
    return json_safe(_visible_job(ctx, job_id).to_dict())


def job_logs(ctx: ServiceContext, job_id: str) -> list[dict[str, Any]]:
    """The log lines of one job."""
    _visible_job(ctx, job_id)
    return job_store.job_logs(ctx.store, job_id)


def cancel_job(ctx: ServiceContext, job_id: str) -> dict[str, Any]:
    """Cancel a pending or running job and its queued Dagster run."""
    from dat_pipeline.orchestration.ingestion import cancel_ingestion

    job = _visible_job(ctx, job_id)
    instance = ctx.instance() if job.mode == "queued" else None
    return json_safe(cancel_ingestion(instance, ctx.store, job_id).to_dict())


# -- the ingestion wizard: uploads, unsaved sources, rule sets, templates ----------------------
def list_uploads(ctx: ServiceContext) -> list[dict[str, Any]]:
    """The uploads of the caller's projects, newest first."""
    from dat_pipeline.ingestion.uploads import list_uploads as stored_uploads

    return [upload.to_dict() for upload in stored_uploads(ctx.store, ctx.caller.projects)]


def delete_upload(ctx: ServiceContext, upload_id: str) -> dict[str, Any]:
    """Forget an upload and delete its raw file; cleaned outputs and jobs are kept."""
    from dat_pipeline.ingestion.uploads import delete_upload as forget_upload

    _visible_upload(ctx, upload_id)
    return {**forget_upload(ctx.store, ctx.data_root, upload_id).to_dict(), "deleted": True}


def test_new_source(
    ctx: ServiceContext, password: str | None = None, **fields: Any
) -> dict[str, Any]:
    """Test a database source before saving it (the same checks as `test_source`)."""
    source = make_source(**{"name": "unsaved", **fields})
    ok, message = test_connection(ctx.store, source, password)
    return {"name": source.name, "ok": ok, "message": message}


def cleaning_templates() -> list[dict[str, Any]]:
    """Every cleaning rule type with its parameters and a YAML example."""
    from dat_pipeline.cleaning import rule_templates

    return rule_templates()


def list_rule_sets(ctx: ServiceContext, project: str | None = None) -> list[str]:
    """The named rule sets of a project (default: the caller's)."""
    from dat_pipeline.ingestion import rulesets

    return rulesets.list_rule_sets(ctx.store, ctx.data_root, ctx.caller.project_for(project))


def get_rule_set(ctx: ServiceContext, name: str, project: str | None = None) -> str:
    from dat_pipeline.ingestion import rulesets

    return rulesets.get_rule_set(ctx.store, ctx.data_root, ctx.caller.project_for(project), name)


def save_rule_set(
    ctx: ServiceContext, name: str, rules: str, project: str | None = None
) -> dict[str, Any]:
    """Validate and save a named rule set of the project (replacing one of the same name)."""
    from dat_pipeline.ingestion import rulesets

    target = ctx.caller.project_for(project)
    saved = rulesets.save_rule_set(ctx.store, ctx.data_root, target, name, rules)
    return {"project": target, "name": saved}
