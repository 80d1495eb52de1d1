"""Dagster layer of ingestion (group `ingestion`): the ingestion asset and job, queued submission,
and the drop-folder sensor. Thin shells over `dat_pipeline.ingestion`.

A queued ingestion is a run of `ingestion_job` whose config is the request; its run id is the job
id the CLI prints, so `dat jobs show ID` and the UI talk about the same run.
"""

import os
import sys
import time

import dagster as dg

from dat_pipeline.defs.resources import DatResource
from dat_pipeline.ingestion import jobs
from dat_pipeline.ingestion.inbox import inbox_summary, scan_inbox
from dat_pipeline.ingestion.runs import DEFAULT_CHUNK_ROWS, IngestRequest, run_ingestion
from dat_pipeline.store import ControlStore

GROUP = "ingestion"
JOB_NAME = "ingestion_job"
ASSET_NAME = "ingested_table"
LOCATION_NAME = "dat_pipeline"  # as in workspace.yaml
PROJECT_TAG = "dat/ingestion_project"


class IngestionConfig(dg.Config):
    """One ingestion: an upload id (kind `file`) or a database source name (kind `database`)."""

    project: str
    kind: str
    source: str
    table: str | None = None
    rules_yaml: str = ""
    chunk_rows: int = DEFAULT_CHUNK_ROWS


@dg.asset(
    name=ASSET_NAME,
    group_name=GROUP,
    kinds={"polars", "parquet"},
    owners=["team:data-engineering"],
    tags={"dat/domain": "ingestion"},
)
def ingested_table(
    context: dg.AssetExecutionContext, config: IngestionConfig, dat: DatResource
) -> dg.MaterializeResult:
    """One file or database table, cleaned with its project's rules: cleaned and rejects Parquet
    under `uploads/<project>/clean/`. Progress is logged every 5 % and kept in the jobs table."""
    flow = dat.workflow()
    request = IngestRequest.from_dict(config.model_dump())
    jobs.create_job(
        flow.store, context.run_id, "queued", request.project, request.source, request.to_dict()
    )

    def progress(percent: int, rows: int, total: int | None) -> None:
        context.log.info(f"progress {percent}% ({rows} of {total or '?'} rows)")

    outcome = run_ingestion(flow.store, flow.data_root, context.run_id, request, progress)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": outcome["rows_kept"],
            "rows_in": outcome["rows_in"],
            "rows_rejected": outcome["rows_rejected"],
            "source": outcome["source"],
            "table": outcome["table"],
            "clean": dg.MetadataValue.path(outcome["outputs"]["clean"]),
            "rejects": dg.MetadataValue.path(outcome["outputs"]["rejects"]),
            "rules": ", ".join(outcome["rules"]) or "(none)",
            "duration_s": outcome["duration_s"],
            "schema": dg.MetadataValue.md(
                "| column | type |\n|---|---|\n"
                + "\n".join(f"| {name} | {dtype} |" for name, dtype in outcome["columns"].items())
            ),
        }
    )


ingestion_job = dg.define_asset_job(
    JOB_NAME, selection=[ingested_table], description="Ingest one upload or database table."
)


def _origins() -> tuple[object, object]:
    """Where the daemon finds `ingestion_job` (the workspace's code location) and how a run worker
    re-imports it (the module of the one Definitions object)."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.remote_origin import (
        ManagedGrpcPythonEnvCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    module, working_directory = "dat_pipeline.definitions", os.getcwd()
    target = LoadableTargetOrigin(
        executable_path=sys.executable, module_name=module, working_directory=working_directory
    )
    location = ManagedGrpcPythonEnvCodeLocationOrigin(target, LOCATION_NAME)
    remote = RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), JOB_NAME)
    python = (
        ReconstructableRepository.for_module(module, "defs", working_directory)
        .get_reconstructable_job(JOB_NAME)
        .get_python_origin()
    )
    return remote, python


def submit_ingestion(
    instance: dg.DagsterInstance, store: ControlStore, request: IngestRequest
) -> str:
    """Queue a run of `ingestion_job` for `request` on the instance; record the job PENDING under
    the run's id and return it. The daemon (or any launcher) executes it."""
    from dat_pipeline.definitions import defs

    remote, python = _origins()
    run = instance.create_run_for_job(
        job_def=defs.resolve_job_def(JOB_NAME),
        run_config={"ops": {ASSET_NAME: {"config": request.to_dict()}}},
        tags={PROJECT_TAG: request.project},
        remote_job_origin=remote,
        job_code_origin=python,
    )
    jobs.create_job(store, run.run_id, "queued", request.project, request.source, request.to_dict())
    jobs.append_log(store, run.run_id, f"queued as Dagster run {run.run_id}")
    instance.submit_run(run.run_id, workspace=None)  # type: ignore[arg-type]
    return run.run_id


def reconcile_job(instance: dg.DagsterInstance, store: ControlStore, job_id: str) -> jobs.Job:
    """The job, with a queued run that Dagster reports failed or canceled (a crashed worker, a
    cancel from the UI) brought into the jobs table."""
    job = jobs.get_job(store, job_id)
    if job.mode != "queued" or job.status in jobs.TERMINAL:
        return job
    run = instance.get_run_by_id(job_id)
    if run is None:
        return job
    if run.status == dg.DagsterRunStatus.FAILURE:
        jobs.set_status(store, job_id, jobs.FAILED, error="the Dagster run failed; see its logs")
    elif run.status == dg.DagsterRunStatus.CANCELED:
        jobs.set_status(store, job_id, jobs.CANCELLED, error="the Dagster run was canceled")
    return jobs.get_job(store, job_id)


def cancel_ingestion(
    instance: dg.DagsterInstance | None, store: ControlStore, job_id: str
) -> jobs.Job:
    """Cancel a job: mark it CANCELLED (its worker stops at the next chunk) and cancel a queued or
    running Dagster run of the same id."""
    job = jobs.request_cancel(store, job_id)
    if job.mode == "queued" and instance is not None:
        run = instance.get_run_by_id(job_id)
        if run is not None and not run.is_finished:
            instance.run_coordinator.cancel_run(job_id)
    return job


@dg.sensor(
    job=ingestion_job,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Drop folder: a complete file in <data_root>/inbox/[<project>/] (size unchanged between "
        "two ticks) is moved to uploads and ingested once with the project's default rules "
        "(uploads/<project>/rules.yaml)."
    ),
)
def inbox_sensor(context: dg.SensorEvaluationContext, dat: DatResource) -> dg.SensorResult:
    """Thin shell over `scan_inbox`: run requests and the new cursor commit together."""
    started = time.perf_counter()
    flow = dat.workflow()
    scan = scan_inbox(flow.store, flow.data_root, context.cursor)
    for relative, problem in scan.problems.items():
        context.log.warning(f"inbox/{relative}: {problem}")
    requests = [
        dg.RunRequest(
            run_key=item.run_key,
            run_config={"ops": {ASSET_NAME: {"config": item.request.to_dict()}}},
            tags={PROJECT_TAG: item.request.project, "dat/inbox_file": item.relative},
        )
        for item in scan.ready
    ]
    summary = inbox_summary(scan)
    context.log.info(f"inbox scan in {time.perf_counter() - started:.2f}s: {summary}")
    return dg.SensorResult(run_requests=requests, cursor=scan.cursor.dump())


ingestion_assets = [ingested_table]
ingestion_jobs = [ingestion_job]
ingestion_sensors = [inbox_sensor]
