"""`/api/dat`: runs, stages, materialization jobs, export, cleanup and profiles (SPEC 9).

A thin layer over the same functions as the `dat` CLI: the workflow, `dat.views` for the JSON
shapes, `dat.profiles`, `dat.cleanup` and `orchestration.launch`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response, status
from fastapi.responses import FileResponse

from dat_pipeline.api import auth, models
from dat_pipeline.api.context import CallerDep, Context, json_safe, visible_run
from dat_pipeline.api.errors import error_responses
from dat_pipeline.dat import profiles as profile_api
from dat_pipeline.dat import views
from dat_pipeline.dat.cleanup import apply_cleanup, plan_cleanup
from dat_pipeline.dat.profiles import Profile, create_run_from_profile, parse_profile
from dat_pipeline.errors import GateError, NotFoundError
from dat_pipeline.paths import resolve_inside

router = APIRouter(
    prefix="/api/dat",
    tags=["dat"],
    responses=error_responses(400, 401, 403, 404, 409, 422),
)

RunId = Annotated[
    str,
    Path(
        pattern=models.RUN_ID_PATTERN,
        max_length=63,
        description="DAT run id (a short slug).",
        examples=["q1-sales-3fa2c1"],
    ),
]
Stage = Annotated[models.StageName, Path(description="A stage of the DAT graph.")]  # type: ignore[valid-type]
ProfileKey = Annotated[
    str,
    Path(min_length=1, max_length=200, description="Profile name, or the id of any version."),
]
WAIT_LIMIT_S = 600.0


def _run_out(run: Any, project: str) -> dict[str, Any]:
    return {**views.run_dict(run), "project": project}


# -- the stage graph --------------------------------------------------------------------------
@router.get("/stages", response_model=models.StageGraph, summary="The stage graph")
def stage_graph(context: Context, _caller: CallerDep) -> dict[str, Any]:
    """Every stage in graph order: its gate, whether it is optional, what unlocking it cascades
    to, and the JSON schema of its config (what `POST .../lock` takes)."""
    flow = context.workflow
    stages = []
    for name in flow.graph.order:
        if name not in flow.stages:
            continue
        rule = flow.graph.rule(name)
        spec = flow.stages[name]
        stages.append(
            {
                "stage": name,
                "description": (spec.description or rule.description).strip(),
                "requires": list(rule.requires),
                "requires_completed": list(rule.requires_completed),
                "optional": rule.optional,
                "cascades": list(flow.graph.cascade(name)),
                "config_schema": spec.config_model.model_json_schema(),
            }
        )
    return {"stages": stages}


# -- runs -------------------------------------------------------------------------------------
@router.post(
    "/runs",
    response_model=models.Run,
    status_code=status.HTTP_201_CREATED,
    summary="Create a run",
)
def create_run(
    context: Context, caller: CallerDep, body: models.RunCreate | None = None
) -> dict[str, Any]:
    """Create a DAT run (a new partition of `dat_runs`), like `dat runs create`. With a profile,
    the run records the profile id, has its stage configs pre-filled and follows upstream changes.
    """
    body = body or models.RunCreate()
    project = caller.project_for(body.project)
    flow = context.workflow
    if body.profile:
        run = create_run_from_profile(flow, body.profile, name=body.name)
    else:
        run = flow.create_run(name=body.name, follow=body.follow)
    auth.assign_run_project(context.store, run.run_id, project)
    from dat_pipeline.defs.dat import ensure_run_partition

    ensure_run_partition(context.instance(), run.run_id)
    return _run_out(run, project)


@router.get("/runs", response_model=models.RunList, summary="List runs")
def list_runs(context: Context, caller: CallerDep) -> dict[str, Any]:
    """The runs of the caller's projects, oldest first (`dat runs list`)."""
    projects = auth.run_projects(context.store)
    runs = []
    for run in context.store.list_runs():
        project = projects.get(run.run_id, auth.DEFAULT_PROJECT)
        if project in caller.projects:
            runs.append(_run_out(run, project))
    return {"runs": runs}


@router.get("/runs/{run_id}", response_model=models.RunDetail, summary="Show a run")
def show_run(run_id: RunId, context: Context, caller: CallerDep) -> dict[str, Any]:
    """A run and the status of every stage (`dat runs show`)."""
    run = visible_run(context, caller, run_id)
    status_view = views.run_status(context.workflow, run_id)
    return {**_run_out(run, auth.run_project(context.store, run_id)), **status_view}


@router.get("/runs/{run_id}/events", response_model=models.Events, summary="Audit trail")
def run_events(run_id: RunId, context: Context, caller: CallerDep) -> dict[str, Any]:
    """Every lock, unlock, skip, completion and failure of the run (`dat events`)."""
    visible_run(context, caller, run_id)
    events = [json_safe(event.__dict__) for event in context.store.run_events(run_id)]
    return {"run_id": run_id, "events": events}


# -- stages -----------------------------------------------------------------------------------
@router.get("/runs/{run_id}/stages", response_model=models.RunStatus, summary="Stage status")
def run_stages(run_id: RunId, context: Context, caller: CallerDep) -> dict[str, Any]:
    """State, stage id, kept config and artifact of every stage (`dat status`)."""
    visible_run(context, caller, run_id)
    return views.run_status(context.workflow, run_id)


@router.get("/runs/{run_id}/stages/{stage}", response_model=models.StageStatus, summary="One stage")
def stage_status(run_id: RunId, stage: Stage, context: Context, caller: CallerDep) -> Any:
    """The status of one stage of the run."""
    visible_run(context, caller, run_id)
    flow = context.workflow
    return views.status_dict(flow, flow.stage_status(run_id, stage.value))


@router.post(
    "/runs/{run_id}/stages/{stage}/lock",
    response_model=models.StageStatus,
    summary="Lock a stage",
)
def lock_stage(
    run_id: RunId,
    stage: Stage,
    context: Context,
    caller: CallerDep,
    body: Annotated[models.LockRequest | None, Body()] = None,
) -> Any:
    """Lock a stage with a config (`dat lock`). Its gate must be met: otherwise 409 names the
    missing stage. Re-locking with new inputs unlocks what depends on it; the same inputs as an
    existing artifact reuse it (`completed` is then true at once). Materialize with
    `POST /api/dat/runs/{run_id}/materialize` (or let the lock sensor do it)."""
    visible_run(context, caller, run_id)
    flow = context.workflow
    config = body.config if body is not None else None
    return views.status_dict(flow, flow.lock(run_id, stage.value, config))


@router.post(
    "/runs/{run_id}/stages/{stage}/unlock",
    response_model=models.Unlocked,
    summary="Unlock a stage",
)
def unlock_stage(run_id: RunId, stage: Stage, context: Context, caller: CallerDep) -> Any:
    """Unlock a stage and every stage gated on it (`dat unlock`). Artifacts are kept."""
    visible_run(context, caller, run_id)
    return {"unlocked": context.workflow.unlock(run_id, stage.value)}


@router.post(
    "/runs/{run_id}/stages/{stage}/skip", response_model=models.StageStatus, summary="Skip"
)
def skip_stage(run_id: RunId, stage: Stage, context: Context, caller: CallerDep) -> Any:
    """Skip an optional stage (`dat skip`): it is locked as completed with an empty artifact;
    a stage that is not optional answers 409."""
    visible_run(context, caller, run_id)
    flow = context.workflow
    return views.status_dict(flow, flow.skip(run_id, stage.value))


@router.get(
    "/runs/{run_id}/stages/{stage}/artifact",
    response_model=models.Artifact,
    summary="Rows of an artifact",
)
def stage_artifact(
    run_id: RunId,
    stage: Stage,
    context: Context,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=0, le=10_000, description="Rows to return.")] = 20,
) -> Any:
    """The first rows of the stage's artifact and its row count (`dat show`)."""
    visible_run(context, caller, run_id)
    return json_safe(views.artifact_rows(context.workflow, run_id, stage.value, limit))


# -- materialization jobs ---------------------------------------------------------------------
@router.post(
    "/runs/{run_id}/materialize",
    response_model=models.Materialized,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Materialize locked stages",
    responses={200: {"model": models.Materialized, "description": "Done (wait) or nothing to do."}},
)
def materialize(
    run_id: RunId,
    context: Context,
    caller: CallerDep,
    response: Response,
    body: Annotated[models.MaterializeRequest | None, Body()] = None,
    wait: Annotated[
        bool, Query(description="Answer 200 once the job has ended instead of 202 at once.")
    ] = False,
) -> Any:
    """Materialize every locked stage that has no artifact yet, in graph order (or one stage),
    as a Dagster run on the shared instance (`dat materialize`). Answers 202 with the job (the
    Dagster run id) at once; follow it with `GET /api/dat/jobs/{job_id}`. A second request while
    the run is materializing answers 409."""
    from dat_pipeline.orchestration.launch import job_dict, launch_stages

    visible_run(context, caller, run_id)
    flow = context.workflow
    stage = body.stage.value if body is not None and body.stage is not None else None
    if stage is not None:
        current = flow.stage_status(run_id, stage)
        if not current.locked:
            raise GateError(
                f"cannot materialize {stage}: {stage} is not locked "
                f"(lock it: POST /api/dat/runs/{run_id}/stages/{stage}/lock)"
            )
        pending = [stage] if flow.artifact_path(current) is None else []
    else:
        pending = flow.pending(run_id)
    if not pending:
        response.status_code = status.HTTP_200_OK
        return {"run_id": run_id, "materialized": [], "job": None}
    instance = context.instance()
    launch = launch_stages(instance, run_id, pending, context.resources())
    if wait:
        launch.wait(WAIT_LIMIT_S)
        response.status_code = status.HTTP_200_OK
    return {"run_id": run_id, "materialized": pending, "job": job_dict(instance, launch.job_id)}


@router.get("/jobs/{job_id}", response_model=models.Job, summary="A materialization job")
def show_job(
    job_id: Annotated[str, Path(max_length=64, description="Dagster run id.")],
    context: Context,
    caller: CallerDep,
) -> Any:
    """Status, stages, times and failures of a materialization job (a Dagster run of a DAT run
    of one of the caller's projects)."""
    from dat_pipeline.orchestration.launch import job_dict

    job = job_dict(context.instance(), job_id)
    if job is None or job["run_id"] is None:
        raise NotFoundError(f"unknown job {job_id!r}")
    try:
        visible_run(context, caller, job["run_id"])
    except NotFoundError:
        raise NotFoundError(f"unknown job {job_id!r}") from None
    return job


@router.post("/runs/{run_id}/cancel", response_model=models.Cancelled, summary="Cancel")
def cancel_run(run_id: RunId, context: Context, caller: CallerDep) -> Any:
    """Cancel the work of a run (`dat cancel`): stages stop at their next checkpoint, queued or
    running Dagster runs are cancelled; completed work is kept."""
    from dat_pipeline.orchestration.launch import cancel_dagster_runs

    visible_run(context, caller, run_id)
    event = context.workflow.cancel(run_id)
    dagster_runs = cancel_dagster_runs(context.instance(), run_id)
    return {"run_id": run_id, "cancel_event": event, "dagster_runs": dagster_runs}


# -- export -----------------------------------------------------------------------------------
@router.get("/runs/{run_id}/export", response_model=models.Export, summary="Exported dataset")
def export(run_id: RunId, context: Context, caller: CallerDep) -> Any:
    """The dataset the run exported: id, files per format and the manifest (columns, row count,
    lineage). 404 until the export stage has materialized."""
    visible_run(context, caller, run_id)
    return json_safe(views.export_view(context.workflow, run_id))


@router.get(
    "/runs/{run_id}/export/files/{file_format}",
    summary="Download an exported file",
    response_class=FileResponse,
    responses={200: {"description": "The file.", "content": {"application/octet-stream": {}}}},
)
def export_file(
    run_id: RunId,
    file_format: Annotated[str, Path(pattern=r"^(parquet|csv|excel|json)$")],
    context: Context,
    caller: CallerDep,
) -> FileResponse:
    """One file of the exported dataset, in a format the export stage wrote."""
    visible_run(context, caller, run_id)
    exported = views.export_view(context.workflow, run_id)
    if file_format not in exported["files"]:
        raise NotFoundError(
            f"run {run_id} exported no {file_format} file (formats: "
            f"{', '.join(exported['files'])}); re-lock export with it"
        )
    path = resolve_inside(context.workflow.data_root, exported["files"][file_format])
    return FileResponse(path, filename=f"{exported['dataset_id']}_{path.name}")


# -- cleanup ----------------------------------------------------------------------------------
@router.get("/runs/{run_id}/cleanup", response_model=models.Cleanup, summary="Cleanup dry run")
def cleanup_plan(run_id: RunId, context: Context, caller: CallerDep) -> Any:
    """What `dat cleanup RUN` would delete: artifacts no locked stage references and temp files
    of interrupted writes. Deletes nothing."""
    visible_run(context, caller, run_id)
    return views.cleanup_report(run_id, plan_cleanup(context.workflow, run_id), False)


@router.post("/runs/{run_id}/cleanup", response_model=models.Cleanup, summary="Apply cleanup")
def cleanup_apply(run_id: RunId, context: Context, caller: CallerDep) -> Any:
    """Delete what the dry run lists (`dat cleanup RUN --apply`); never what a locked stage
    references."""
    visible_run(context, caller, run_id)
    return views.cleanup_report(run_id, apply_cleanup(context.workflow, run_id), True)


# -- profiles ---------------------------------------------------------------------------------
@router.post(
    "/profiles",
    response_model=models.ProfileSaved,
    status_code=status.HTTP_201_CREATED,
    summary="Create a profile",
    tags=["profiles"],
)
def create_profile(profile: Profile, context: Context, _caller: CallerDep) -> Any:
    """Save an extraction profile (`dat profiles create`); the same body twice gives the same id
    (`created` false). Profiles are shared by every project."""
    return views.save_profile(context.store, profile)


@router.get(
    "/profiles", response_model=models.ProfileList, summary="List profiles", tags=["profiles"]
)
def list_profiles(
    context: Context,
    _caller: CallerDep,
    all_versions: Annotated[
        bool, Query(alias="all", description="Include superseded versions.")
    ] = False,
) -> Any:
    """Current profiles by name (`dat profiles list`)."""
    records = profile_api.list_profiles(context.store, include_superseded=all_versions)
    return {"profiles": [record.to_dict() for record in records]}


@router.get(
    "/profiles/{key}", response_model=models.Profile, summary="Show a profile", tags=["profiles"]
)
def show_profile(key: ProfileKey, context: Context, _caller: CallerDep) -> Any:
    """A profile by name, or any version by id, with the stage configs it pre-fills."""
    return profile_api.get_profile(context.store, key).to_dict()


@router.put(
    "/profiles/{key}",
    response_model=models.ProfileReplaced,
    summary="Replace a profile",
    tags=["profiles"],
)
def replace_profile(
    key: ProfileKey,
    body: Annotated[dict[str, Any], Body(examples=[{"include": ["*.csv"], "root": "sample"}])],
    context: Context,
    _caller: CallerDep,
) -> Any:
    """Replace a profile's body (`dat profiles update --file`); the name stays unless the body
    gives one. The new body gets a new id; the old version keeps its id for the runs made from it.
    """
    current = profile_api.get_profile(context.store, key)
    profile = parse_profile({"name": current.name, **body}, "profile")
    return views.replace_profile(context.store, current, profile)


@router.delete(
    "/profiles/{key}", response_model=models.Deleted, summary="Delete a profile", tags=["profiles"]
)
def delete_profile(key: ProfileKey, context: Context, _caller: CallerDep) -> Any:
    """Delete a profile and its older versions (`dat profiles delete`)."""
    return {"deleted": profile_api.delete_profile(context.store, key)}
