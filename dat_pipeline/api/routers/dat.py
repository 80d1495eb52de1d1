"""`/api/dat`: runs, stages, materialization jobs, export, cleanup and profiles (SPEC 9).

Each route parses its input, calls one action of `dat_pipeline.services.dat` (the same one the
`dat` CLI calls) and returns its view; the service checks the caller's projects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Response
from fastapi.responses import FileResponse

from dat_pipeline.api import schemas
from dat_pipeline.api.context import Service
from dat_pipeline.api.errors import error_responses, without_server_paths
from dat_pipeline.api.routes import answer, created, job_route, starts_work
from dat_pipeline.dat.profiles import Profile
from dat_pipeline.names import RUN_ID_PATTERN
from dat_pipeline.services import dat
from dat_pipeline.services.context import ServiceContext

router = APIRouter(
    prefix="/api/dat",
    tags=["dat"],
    responses=error_responses(400, 401, 403, 404, 409, 422),
)

RunId = Annotated[
    str,
    Path(
        pattern=RUN_ID_PATTERN,
        max_length=63,
        description="DAT run id (a short slug).",
        examples=["q1-sales-3fa2c1"],
    ),
]
Stage = Annotated[schemas.StageName, Path(description="A stage of the DAT graph.")]  # type: ignore[valid-type]


@dataclass(frozen=True)
class StageOfRun:
    """A stage of a run the path names, with the caller's context: what every stage route acts
    on (`call` passes the three to a service action)."""

    ctx: ServiceContext
    run_id: str
    stage: str

    def call(self, action: Callable[..., Any], *args: Any) -> Any:
        return action(self.ctx, self.run_id, self.stage, *args)


def _stage_of_run(run_id: RunId, stage: Stage, ctx: Service) -> StageOfRun:
    return StageOfRun(ctx, run_id, stage.value)


StageAt = Annotated[StageOfRun, Depends(_stage_of_run)]
ProfileKey = Annotated[
    str,
    Path(min_length=1, max_length=200, description="Profile name, or the id of any version."),
]


# -- the stage graph --------------------------------------------------------------------------
@router.get("/stages", response_model=schemas.StageGraphPublic, summary="The stage graph")
def stage_graph(ctx: Service) -> dict[str, Any]:
    """Every stage in graph order: its gate, whether it is optional, what unlocking it cascades
    to, and the JSON schema of its config (what `POST .../lock` takes)."""
    return dat.stage_graph(ctx)


# -- runs -------------------------------------------------------------------------------------
@router.post("/runs", **created(schemas.RunPublic, "Create a run"))
def create_run(ctx: Service, body: schemas.RunCreateRequest | None = None) -> dict[str, Any]:
    """Create a DAT run (a new partition of `dat_runs`), like `dat runs create`. With a profile,
    the run records the profile id, has its stage configs pre-filled and follows upstream changes.
    """
    body = body or schemas.RunCreateRequest()
    return dat.create_run(ctx, body.name, body.profile, body.follow, body.project)


@router.get("/runs", response_model=schemas.RunListPublic, summary="List runs")
def list_runs(ctx: Service) -> dict[str, Any]:
    """The runs of the caller's projects, oldest first (`dat runs list`)."""
    return dat.list_runs(ctx)


@router.get("/runs/{run_id}", response_model=schemas.RunDetailPublic, summary="Show a run")
def show_run(run_id: RunId, ctx: Service) -> dict[str, Any]:
    """A run and the status of every stage (`dat runs show`)."""
    return dat.show_run(ctx, run_id)


@router.get("/runs/{run_id}/events", response_model=schemas.RunEventsPublic, summary="Audit trail")
def run_events(run_id: RunId, ctx: Service) -> dict[str, Any]:
    """Every lock, unlock, skip, completion and failure of the run (`dat events`)."""
    return dat.run_events(ctx, run_id)


# -- stages -----------------------------------------------------------------------------------
@router.get("/runs/{run_id}/stages", response_model=schemas.RunStatusPublic, summary="Stage status")
def run_stages(run_id: RunId, ctx: Service) -> dict[str, Any]:
    """State, stage id, kept config and artifact of every stage (`dat status`)."""
    return dat.run_status(ctx, run_id)


@router.get(
    "/runs/{run_id}/stages/{stage}", response_model=schemas.StageStatusPublic, summary="One stage"
)
def stage_status(at: StageAt) -> Any:
    """The status of one stage of the run."""
    return at.call(dat.stage_status)


@router.post(
    "/runs/{run_id}/stages/{stage}/lock",
    response_model=schemas.StageStatusPublic,
    summary="Lock a stage",
)
def lock_stage(at: StageAt, body: Annotated[schemas.LockRequest | None, Body()] = None) -> Any:
    """Lock a stage with a config (`dat lock`). Its gate must be met: otherwise 409 names the
    missing stage. Re-locking with new inputs unlocks what depends on it; the same inputs as an
    existing artifact reuse it (`completed` is then true at once). Materialize with
    `POST /api/dat/runs/{run_id}/materialize` (or let the lock sensor do it)."""
    return at.call(dat.lock, body.config if body is not None else None)


@router.post(
    "/runs/{run_id}/stages/{stage}/unlock",
    response_model=schemas.UnlockedPublic,
    summary="Unlock a stage",
)
def unlock_stage(at: StageAt) -> Any:
    """Unlock a stage and every stage gated on it (`dat unlock`). Artifacts are kept."""
    return at.call(dat.unlock)


@router.post(
    "/runs/{run_id}/stages/{stage}/skip", response_model=schemas.StageStatusPublic, summary="Skip"
)
def skip_stage(at: StageAt) -> Any:
    """Skip an optional stage (`dat skip`): it is locked as completed with an empty artifact;
    a stage that is not optional answers 409."""
    return at.call(dat.skip)


@router.get(
    "/runs/{run_id}/stages/{stage}/artifact",
    response_model=schemas.ArtifactPublic,
    summary="Rows of an artifact",
)
def stage_artifact(
    at: StageAt,
    limit: Annotated[int, Query(ge=0, le=10_000, description="Rows to return.")] = 20,
) -> Any:
    """The first rows of the stage's artifact and its row count (`dat show`)."""
    return at.call(dat.artifact, limit)


# -- materialization jobs ---------------------------------------------------------------------
@router.post(
    "/runs/{run_id}/materialize",
    **starts_work(
        schemas.MaterializedPublic, "Materialize locked stages", "Done (wait) or nothing to do."
    ),
)
def materialize(
    run_id: RunId,
    ctx: Service,
    response: Response,
    body: Annotated[schemas.MaterializeRequest | None, Body()] = None,
    wait: Annotated[
        bool, Query(description="Answer 200 once the job has ended instead of 202 at once.")
    ] = False,
) -> Any:
    """Materialize every locked stage that has no artifact yet, in graph order (or one stage),
    as a Dagster run on the shared instance (`dat materialize`). Answers 202 with the job (the
    Dagster run id) at once; follow it with `GET /api/dat/jobs/{job_id}`. A second request while
    the run is materializing answers 409."""
    stage = body.stage.value if body is not None and body.stage is not None else None
    started = dat.start_materialize(ctx, run_id, stage, wait)
    return answer(response, wait or started["job"] is None, started)


job_route(
    router,
    lambda ctx, job_id: without_server_paths(dat.show_job(ctx, job_id)),
    schemas.DatJobPublic,
    "A materialization job",
    "Status, stages, times and failures of a materialization job (a Dagster run of a DAT run\n"
    "of one of the caller's projects).",
)


@router.post("/runs/{run_id}/cancel", response_model=schemas.CancelledPublic, summary="Cancel")
def cancel_run(run_id: RunId, ctx: Service) -> Any:
    """Cancel the work of a run (`dat cancel`): stages stop at their next checkpoint, queued or
    running Dagster runs are cancelled; completed work is kept."""
    return dat.cancel(ctx, run_id)


# -- export -----------------------------------------------------------------------------------
@router.get(
    "/runs/{run_id}/export", response_model=schemas.ExportPublic, summary="Exported dataset"
)
def export(run_id: RunId, ctx: Service) -> Any:
    """The dataset the run exported: id, files per format and the manifest (columns, row count,
    lineage). 404 until the export stage has materialized."""
    return dat.export(ctx, run_id)


ExportFormat = Annotated[str, Path(pattern=r"^(parquet|csv|excel|json)$")]
_FILE = {200: {"description": "The file.", "content": {"application/octet-stream": {}}}}


@router.get(
    "/runs/{run_id}/export/files/{file_format}",
    summary="Download an exported file",
    response_class=FileResponse,
    responses=_FILE,
)
def export_file(run_id: RunId, file_format: ExportFormat, ctx: Service) -> FileResponse:
    """The file of the exported dataset in a format the export stage wrote, when it wrote one
    (one table, or the Excel workbook); a dataset of several tables answers 400 for a format with
    a file per table: download each with `.../export/files/{file_format}/{table}`."""
    path, filename = dat.export_file(ctx, run_id, file_format)
    return FileResponse(path, filename=filename)


@router.get(
    "/runs/{run_id}/export/files/{file_format}/{table}",
    summary="Download a table's exported file",
    response_class=FileResponse,
    responses=_FILE,
)
def export_table_file(
    run_id: RunId,
    file_format: ExportFormat,
    table: Annotated[str, Path(max_length=200, description="A table of the manifest.")],
    ctx: Service,
) -> FileResponse:
    """The file of one table of the exported dataset (`tables[].name` in the manifest) in a
    format the export stage wrote; for Excel, the workbook that holds its sheet."""
    path, filename = dat.export_file(ctx, run_id, file_format, table)
    return FileResponse(path, filename=filename)


# -- cleanup ----------------------------------------------------------------------------------
@router.get(
    "/runs/{run_id}/cleanup", response_model=schemas.CleanupPublic, summary="Cleanup dry run"
)
def cleanup_plan(run_id: RunId, ctx: Service) -> Any:
    """What `dat cleanup RUN` would delete: artifacts no locked stage references and temp files
    of interrupted writes. Deletes nothing."""
    return dat.cleanup(ctx, run_id, apply=False)


@router.post(
    "/runs/{run_id}/cleanup", response_model=schemas.CleanupPublic, summary="Apply cleanup"
)
def cleanup_apply(run_id: RunId, ctx: Service) -> Any:
    """Delete what the dry run lists (`dat cleanup RUN --apply`); never what a locked stage
    references."""
    return dat.cleanup(ctx, run_id, apply=True)


# -- profiles ---------------------------------------------------------------------------------
# Their own tag in the docs; shared by every project (not scoped like runs).
profiles = APIRouter(prefix="/profiles", tags=["profiles"])


@profiles.post("", **created(schemas.ProfileSavedPublic, "Create a profile"))
def create_profile(profile: Profile, ctx: Service) -> Any:
    """Save an extraction profile (`dat profiles create`); the same body twice gives the same id
    (`created` false). Profiles are shared by every project."""
    return dat.save_profile(ctx, profile)


@profiles.get("", response_model=schemas.ProfileListPublic, summary="List profiles")
def list_profiles(
    ctx: Service,
    all_versions: Annotated[
        bool, Query(alias="all", description="Include superseded versions.")
    ] = False,
) -> Any:
    """Current profiles by name (`dat profiles list`)."""
    return dat.list_profiles(ctx, all_versions)


@profiles.get("/{key}", response_model=schemas.ProfilePublic, summary="Show a profile")
def show_profile(key: ProfileKey, ctx: Service) -> Any:
    """A profile by name, or any version by id, with the stage configs it pre-fills."""
    return dat.get_profile(ctx, key)


@profiles.put("/{key}", response_model=schemas.ProfileReplacedPublic, summary="Replace a profile")
def replace_profile(
    key: ProfileKey,
    body: Annotated[dict[str, Any], Body(examples=[{"include": ["*.csv"], "root": "sample"}])],
    ctx: Service,
) -> Any:
    """Replace a profile's body (`dat profiles update --file`); the name stays unless the body
    gives one. The new body gets a new id; the old version keeps its id for the runs made from it.
    """
    return dat.update_profile(ctx, key, body)


@profiles.delete("/{key}", response_model=schemas.DeletedPublic, summary="Delete a profile")
def delete_profile(key: ProfileKey, ctx: Service) -> Any:
    """Delete a profile and its older versions (`dat profiles delete`)."""
    return dat.delete_profile(ctx, key)


router.include_router(profiles)
