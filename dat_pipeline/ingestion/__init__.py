"""Ingestion (SPEC 2): uploads, cleaning runs with rejects, jobs, the drop folder. No Dagster here."""

from dat_pipeline.ingestion.jobs import Job, get_job, job_logs, list_jobs, request_cancel
from dat_pipeline.ingestion.runs import (
    IngestCancelled,
    IngestRequest,
    ingest,
    preview,
    read_rules,
    resolve_request,
    run_ingestion,
)
from dat_pipeline.ingestion.uploads import IngestError, Upload, get_upload, upload_file

__all__ = [
    "IngestCancelled",
    "IngestError",
    "IngestRequest",
    "Job",
    "Upload",
    "get_job",
    "get_upload",
    "ingest",
    "job_logs",
    "list_jobs",
    "preview",
    "read_rules",
    "request_cancel",
    "resolve_request",
    "run_ingestion",
    "upload_file",
]
