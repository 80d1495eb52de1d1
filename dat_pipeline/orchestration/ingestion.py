"""Queued ingestions: submit a run of `ingestion_job` to the instance, bring a failed or
cancelled Dagster run into the jobs table, cancel a job and its run.

A queued ingestion is a run of `ingestion_job` whose config is the request; its run id is the
job id the CLI prints, so `dat jobs show ID` and the UI talk about the same run. Submitting a run
without a workspace needs its code origins, which only Dagster's private API builds: `_origins`
is the one place that uses it (pinned by a test).
"""

from __future__ import annotations

import os
import sys

import dagster as dg

from dat_pipeline.defs.ingestion import ASSET_NAME, JOB_NAME, LOCATION_NAME
from dat_pipeline.ingestion import jobs
from dat_pipeline.ingestion.runs import IngestRequest
from dat_pipeline.names import INGESTION_PROJECT_TAG, PROJECT_TAG
from dat_pipeline.store import ControlStore

DEFINITIONS_MODULE = "dat_pipeline.definitions"


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

    working_directory = os.getcwd()
    target = LoadableTargetOrigin(
        executable_path=sys.executable,
        module_name=DEFINITIONS_MODULE,
        working_directory=working_directory,
    )
    location = ManagedGrpcPythonEnvCodeLocationOrigin(target, LOCATION_NAME)
    remote = RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), JOB_NAME)
    python = (
        ReconstructableRepository.for_module(DEFINITIONS_MODULE, "defs", working_directory)
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
        tags={INGESTION_PROJECT_TAG: request.project, PROJECT_TAG: request.project},
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
