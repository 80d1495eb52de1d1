"""The DAT actions, one function per thing a person does; the CLI, the API and the web console
call these and only render what they return (JSON-ready dicts, the `dat ... --json` shapes).

Every function takes a `ServiceContext` first; a run of a project the caller does not see is
not found, exactly like a run that does not exist. Errors are `dat_pipeline.errors` types with
structured fields (a front-end maps them by type: GateError is 409 in the API, exit 1 in the CLI).
Dagster is imported only by the actions that start or look up Dagster runs.

Stable names (the web console builds on them):
    stage_graph(ctx)                              the stages, gates, cascades and config schemas
    create_run(ctx, name, profile, follow, project)
    list_runs(ctx) / show_run(ctx, run_id) / run_events(ctx, run_id)
    run_status(ctx, run_id) / stage_status(ctx, run_id, stage)
    lock(ctx, run_id, stage, config, materialize) / unlock(ctx, run_id, stage) / skip(...)
    lock_with_cascade(ctx, ...)                   lock, and what the lock unlocked downstream
    chain(ctx, run_id, log_level)                 re-lock what a cascade unlocked, kept configs
    skipped_stages(ctx, run_id)                   locked stages whose last lock was a skip
    pending(ctx, run_id, stage)                   what materialize would build, in graph order
    materialize(ctx, run_id, stage, log_level)    now, in this process (the CLI)
    start_materialize(ctx, run_id, stage, wait)   as a background Dagster run (API, console)
    show_job(ctx, job_id) / cancel(ctx, run_id)
    artifact(ctx, run_id, stage, limit) / artifact_frame(ctx, run_id, stage)
    artifact_sections(ctx, run_id, stage, limit)  titled row sections (one per preview table)
    export(ctx, run_id) / export_file(ctx, run_id, file_format, table)
    cleanup(ctx, run_id, apply)
    save_profile(ctx, body, origin) / list_profiles(ctx, all_versions) / get_profile(ctx, key)
    update_profile(ctx, key, changes, replace) / delete_profile(ctx, key)
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dat_pipeline.dat import views
from dat_pipeline.errors import DatError, GateError, NotFoundError
from dat_pipeline.paths import resolve_inside
from dat_pipeline.services import access
from dat_pipeline.services.context import ServiceContext, json_safe
from dat_pipeline.store import RunRecord

if TYPE_CHECKING:
    import polars as pl

    from dat_pipeline.dat.profiles import Profile

WAIT_LIMIT_S = 600.0


# -- access -----------------------------------------------------------------------------------
def get_run(ctx: ServiceContext, run_id: str) -> RunRecord:
    """The run, if it exists in a project the caller sees; one NotFoundError otherwise."""
    run = ctx.store.get_run(run_id)
    hidden = ctx.caller.projects is not None and not ctx.caller.sees(
        access.run_project(ctx.store, run_id)
    )
    if run is None or hidden:
        raise NotFoundError(
            f"unknown run {run_id!r} (list runs with: dat runs list)", run_id=run_id
        )
    return run


def _run_out(run: RunRecord, project: str) -> dict[str, Any]:
    return {**views.run_dict(run), "project": project}


# -- the stage graph --------------------------------------------------------------------------
def stage_graph(ctx: ServiceContext) -> dict[str, Any]:
    """Every implemented stage in graph order: its gate, whether it is optional, what unlocking
    it cascades to, and the JSON schema of its config."""
    flow = ctx.workflow
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
def create_run(
    ctx: ServiceContext,
    name: str | None = None,
    profile: str | None = None,
    follow: bool = False,
    project: str | None = None,
) -> dict[str, Any]:
    """Create a DAT run (a new partition of `dat_runs`) in `project` (default: the caller's).
    With a profile, the run records the profile id, has its stage configs kept and follows."""
    project = ctx.caller.project_for(project)
    flow = ctx.workflow
    if profile:
        from dat_pipeline.dat import profiles as profile_api

        run = profile_api.create_run_from_profile(flow, profile, name=name)
    else:
        run = flow.create_run(name=name, follow=follow)
    access.assign_run_project(ctx.store, run.run_id, project)
    from dat_pipeline.defs.dat import ensure_run_partition

    ensure_run_partition(ctx.instance(), run.run_id)
    return _run_out(run, project)


def list_runs(ctx: ServiceContext) -> dict[str, Any]:
    """The runs of the caller's projects, oldest first."""
    projects = access.run_projects(ctx.store)
    runs = []
    for run in ctx.store.list_runs():
        project = projects.get(run.run_id, access.DEFAULT_PROJECT)
        if ctx.caller.sees(project):
            runs.append(_run_out(run, project))
    return {"runs": runs}


def show_run(ctx: ServiceContext, run_id: str) -> dict[str, Any]:
    """A run, its project and the status of every stage."""
    run = get_run(ctx, run_id)
    return {
        **_run_out(run, access.run_project(ctx.store, run_id)),
        **run_status(ctx, run_id),
    }


def run_events(ctx: ServiceContext, run_id: str) -> dict[str, Any]:
    """The audit trail: every lock, unlock, skip, completion and failure of the run."""
    get_run(ctx, run_id)
    events = [json_safe(event.__dict__) for event in ctx.store.run_events(run_id)]
    return {"run_id": run_id, "events": events}


# -- stages -----------------------------------------------------------------------------------
def run_status(ctx: ServiceContext, run_id: str) -> dict[str, Any]:
    """State, stage id, kept config and artifact of every stage, in graph order, and the Dagster
    recordings of built stages that are still pending or failed (`dagster_records`)."""
    from dat_pipeline.orchestration import record

    get_run(ctx, run_id)
    flow = ctx.workflow
    return {**views.run_status(flow, run_id), "dagster_records": record.unfinished(flow, run_id)}


def stage_status(ctx: ServiceContext, run_id: str, stage: str) -> dict[str, Any]:
    get_run(ctx, run_id)
    flow = ctx.workflow
    return views.status_dict(flow, flow.stage_status(run_id, stage))


def lock(
    ctx: ServiceContext,
    run_id: str,
    stage: str,
    config: dict[str, Any] | None = None,
    materialize: bool = False,
    log_level: str = "CRITICAL",
) -> dict[str, Any]:
    """Lock a stage with `config` (None: the kept config); its gate must be met (GateError
    names the missing stage). With `materialize`, build its artifact (or, when it exists, the
    follow-mode chain the lock unlocked) now, in this process.

    With `materialize` the lock names the Dagster run that builds it, so the lock sensor leaves
    the stage to that run: a tick between the lock and the run requests nothing."""
    get_run(ctx, run_id)
    flow = ctx.workflow
    if not materialize:
        return views.status_dict(flow, flow.lock(run_id, stage, config))
    from dat_pipeline.dat.follow import chain as follow_chain

    dagster_run_id = str(uuid.uuid4())
    status = flow.acting_for(dagster_run_id).lock(run_id, stage, config)
    built = flow.artifact_path(status) is not None
    stages = follow_chain(flow, run_id, [stage]) if built else [stage]
    if stages:
        _materialize_now(ctx, run_id, stages, log_level, dagster_run_id)
        status = flow.stage_status(run_id, stage)
    return views.status_dict(flow, status)


def _locked(ctx: ServiceContext, run_id: str) -> set[str]:
    return {s.stage for s in ctx.workflow.status(run_id) if s.locked}


def lock_with_cascade(
    ctx: ServiceContext, run_id: str, stage: str, **options: Any
) -> dict[str, Any]:
    """`lock(ctx, run_id, stage, **options)`, and the stages it unlocked (a re-lock with new
    inputs cascades), in graph order: `{"status": ..., "unlocked": [...]}`. Their configs are
    kept: `chain` re-locks them."""
    get_run(ctx, run_id)
    before = _locked(ctx, run_id)
    status = lock(ctx, run_id, stage, **options)
    gone = before - _locked(ctx, run_id)
    return {"status": status, "unlocked": [s for s in ctx.workflow.graph.order if s in gone]}


def chain(ctx: ServiceContext, run_id: str, log_level: str = "CRITICAL") -> dict[str, Any]:
    """Re-lock, in graph order, each stage a cascade unlocked, with its kept config (a skipped
    one is skipped again), building each now so that the next is checked against it; a locked
    stage not built yet (the re-locked one, say) is built first. Stops at the first kept config
    that no longer validates: DatError naming the stage, the reason and what was re-locked so
    far. `relocked`: [{stage, stage_id, skipped}]."""
    from dat_pipeline.dat.follow import relock_ready

    get_run(ctx, run_id)
    flow = ctx.workflow
    waiting = flow.pending(run_id)
    if waiting:
        _materialize_now(ctx, run_id, waiting, log_level)
    done: list[dict[str, Any]] = []
    while True:
        # as in `lock`: the re-locks name the Dagster run that builds them (the sensor leaves them)
        dagster_run_id = str(uuid.uuid4())
        actions = relock_ready(flow.acting_for(dagster_run_id), run_id)
        if not actions:
            break
        unbuilt = [
            action.stage
            for action in actions
            if action.action != "stopped"
            and flow.artifact_path(flow.stage_status(run_id, action.stage)) is None
        ]
        if unbuilt:
            _materialize_now(ctx, run_id, unbuilt, log_level, dagster_run_id)
        for action in actions:
            if action.action == "stopped":
                so_far = ", ".join(d["stage"] for d in done) or "nothing"
                raise DatError(
                    f"re-locking stopped at {action.stage} of run {run_id}: {action.reason} "
                    f"(re-locked so far: {so_far})",
                    run_id=run_id,
                    stage=action.stage,
                    reason=action.reason,
                )
            skipped = action.action == "reskipped"
            done.append({"stage": action.stage, "stage_id": action.stage_id, "skipped": skipped})
    return {"run_id": run_id, "relocked": done}


def skipped_stages(ctx: ServiceContext, run_id: str) -> list[str]:
    """The locked stages whose last lock was a skip (their state is LOCKED; a front-end shows
    them as skipped)."""
    get_run(ctx, run_id)
    last: dict[str, Any] = {}
    for event in ctx.store.run_events(run_id):
        if event.kind in ("lock", "skip") and event.stage:
            last[event.stage] = event
    return [
        s.stage
        for s in ctx.workflow.status(run_id)
        if s.locked and s.stage in last and last[s.stage].kind == "skip"
        if last[s.stage].stage_id == s.stage_id
    ]


def unlock(ctx: ServiceContext, run_id: str, stage: str) -> dict[str, Any]:
    """Unlock a stage and every stage gated on it; artifacts and configs are kept."""
    get_run(ctx, run_id)
    return {"unlocked": ctx.workflow.unlock(run_id, stage)}


def skip(ctx: ServiceContext, run_id: str, stage: str) -> dict[str, Any]:
    """Skip an optional stage: locked as completed with an empty artifact (GateError if the
    stage is not optional)."""
    get_run(ctx, run_id)
    flow = ctx.workflow
    return views.status_dict(flow, flow.skip(run_id, stage))


def pending(ctx: ServiceContext, run_id: str, stage: str | None = None) -> list[str]:
    """The stages `materialize` would build: every locked stage without an artifact, in graph
    order, or only `stage` (which must be locked: GateError otherwise)."""
    get_run(ctx, run_id)
    flow = ctx.workflow
    if stage is None:
        return flow.pending(run_id)
    current = flow.stage_status(run_id, stage)
    if not current.locked:
        raise GateError(
            f"cannot materialize {stage}: {stage} is not locked "
            f"(run: dat lock {run_id} {stage} ...)",
            stage=stage,
            missing_stage=stage,
            reason="is not locked",
        )
    return [stage] if flow.artifact_path(current) is None else []


def materialize(
    ctx: ServiceContext, run_id: str, stage: str | None = None, log_level: str = "CRITICAL"
) -> dict[str, Any]:
    """Materialize the pending stages now, in this process, as a run on the shared Dagster
    instance (shown in the UI). A failure raises one-line DatError with each step's domain
    message; Dagster's own log goes to the console at `log_level`."""
    stages = pending(ctx, run_id, stage)
    if stages:
        _materialize_now(ctx, run_id, stages, log_level)
    return {"run_id": run_id, "materialized": stages}


def _materialize_now(
    ctx: ServiceContext,
    run_id: str,
    stages: list[str],
    log_level: str = "CRITICAL",
    dagster_run_id: str | None = None,
) -> None:
    """Build `stages` (with their unbuilt locked ancestors and, in follow mode, the chain) with
    the domain code in this process, then hand the Dagster run `dagster_run_id` that records them
    (shown in the UI with its logs) to a detached process: no Dagster import here (SPEC 12)."""
    from dat_pipeline.dat.follow import with_ancestors
    from dat_pipeline.orchestration import record

    dagster_run_id = dagster_run_id or str(uuid.uuid4())
    flow = ctx.workflow.acting_for(dagster_run_id)
    selection = with_ancestors(flow, run_id, stages)
    try:
        lines = record.build(flow, run_id, selection)
    except DatError as exc:
        built = exc.fields.get("built")
        if built:  # what was built before the failure is still recorded
            record.hand_off(flow, run_id, built, dagster_run_id, log_level, exc.fields["lines"])
        raise DatError(
            f"materializing {', '.join(stages)} of run {run_id} failed: {exc}",
            run_id=run_id,
            stages=stages,
        ) from exc
    record.hand_off(flow, run_id, selection, dagster_run_id, log_level, lines)


def start_materialize(
    ctx: ServiceContext, run_id: str, stage: str | None = None, wait: bool = False
) -> dict[str, Any]:
    """Start materializing the pending stages as a Dagster run on a worker thread; `job` is the
    run (None when nothing was pending). With `wait`, return once it ended. A second request for
    the same DAT run while one is running raises GateError."""
    from dat_pipeline.orchestration.launch import job_dict, launch_stages

    stages = pending(ctx, run_id, stage)
    if not stages:
        return {"run_id": run_id, "materialized": [], "job": None}
    instance = ctx.instance()
    launch = launch_stages(instance, run_id, stages, ctx.resources())
    if wait:
        launch.wait(WAIT_LIMIT_S)
    return {"run_id": run_id, "materialized": stages, "job": job_dict(instance, launch.job_id)}


def show_job(ctx: ServiceContext, job_id: str) -> dict[str, Any]:
    """A materialization job (a Dagster run of a DAT run the caller sees)."""
    from dat_pipeline.orchestration.launch import job_dict

    return access.visible_job(
        job_dict(ctx.instance(), job_id),
        "run_id",
        lambda run_id: get_run(ctx, run_id),
        NotFoundError(f"unknown job {job_id!r}", job_id=job_id),
    )


def cancel(ctx: ServiceContext, run_id: str) -> dict[str, Any]:
    """Cancel the work of a run: stages stop at their next checkpoint, queued or running Dagster
    runs are cancelled; completed work is kept."""
    from dat_pipeline.orchestration.launch import cancel_dagster_runs

    get_run(ctx, run_id)
    event = ctx.workflow.cancel(run_id)
    dagster_runs = cancel_dagster_runs(ctx.instance(), run_id)
    return {"run_id": run_id, "cancel_event": event, "dagster_runs": dagster_runs}


# -- artifacts and export ---------------------------------------------------------------------
def artifact(ctx: ServiceContext, run_id: str, stage: str, limit: int = 20) -> dict[str, Any]:
    """The first `limit` rows of a stage's artifact and its row count."""
    get_run(ctx, run_id)
    return json_safe(views.artifact_rows(ctx.workflow, run_id, stage, limit))


def artifact_frame(ctx: ServiceContext, run_id: str, stage: str) -> tuple[str | None, pl.DataFrame]:
    """The stage id and the whole artifact frame (for front-ends that page or render it)."""
    get_run(ctx, run_id)
    flow = ctx.workflow
    return flow.stage_status(run_id, stage).stage_id, flow.load_artifact(run_id, stage)


def artifact_sections(
    ctx: ServiceContext, run_id: str, stage: str, limit: int = 20
) -> list[tuple[str, list[str], list[list[Any]]]]:
    """A stage's artifact as titled sections of rows (title, column names, rows): one per table
    for preview (only the columns that table fills), one for every other stage."""
    get_run(ctx, run_id)
    return [
        (title, list(names), rows)
        for title, names, rows in views.artifact_sections(ctx.workflow, run_id, stage, limit)
    ]


def export(ctx: ServiceContext, run_id: str) -> dict[str, Any]:
    """The dataset the run exported: id, files per format and the manifest."""
    get_run(ctx, run_id)
    return json_safe(views.export_view(ctx.workflow, run_id))


def export_file(
    ctx: ServiceContext, run_id: str, file_format: str, table: str | None = None
) -> tuple[Path, str]:
    """The path of one exported file and the name to download it as: the file of `table` (a
    table of the manifest) or, without it, the format's only file (one table, or the workbook)."""
    exported = export(ctx, run_id)
    if file_format not in exported["files"]:
        raise NotFoundError(
            f"run {run_id} exported no {file_format} file (formats: "
            f"{', '.join(exported['files'])}); re-lock export with it",
            format=file_format,
        )
    tables = exported["manifest"].get("tables", [])
    files = exported["files"][file_format]
    if table is not None:
        owned = [t["files"][file_format] for t in tables if t["name"] == table]
        if not owned:
            raise NotFoundError(
                f"run {run_id} exported no table {table!r} (tables: "
                f"{', '.join(t['name'] for t in tables)}); name one of those",
                table=table,
                format=file_format,
            )
        files = owned
    elif isinstance(files, list) and len(files) > 1:
        raise DatError(
            f"run {run_id} exported {len(files)} {file_format} files, one per table "
            f"({', '.join(t['name'] for t in tables)}); name the table to download its file",
            format=file_format,
        )
    path = resolve_inside(ctx.data_root, files[0] if isinstance(files, list) else files)
    return path, f"{exported['dataset_id']}_{path.name}"


def cleanup(ctx: ServiceContext, run_id: str, apply: bool = False) -> dict[str, Any]:
    """Artifacts no locked stage references and temp files of interrupted writes: listed (dry
    run) or deleted with `apply`; never what a locked stage references."""
    get_run(ctx, run_id)
    flow = ctx.workflow
    from dat_pipeline.dat.cleanup import apply_cleanup, plan_cleanup

    items = apply_cleanup(flow, run_id) if apply else plan_cleanup(flow, run_id)
    return views.cleanup_report(run_id, items, apply)


# -- profiles (shared by every project) -------------------------------------------------------
def save_profile(
    ctx: ServiceContext, body: dict[str, Any] | Profile, origin: str = "profile"
) -> dict[str, Any]:
    """Save a profile (a body, or one already validated); the same body twice gives the same id
    (`created` false). `origin` names where the body came from in validation errors."""
    from dat_pipeline.dat import profiles as profile_api

    profile = (
        body if isinstance(body, profile_api.Profile) else profile_api.parse_profile(body, origin)
    )
    return views.save_profile(ctx.store, profile)


def list_profiles(ctx: ServiceContext, all_versions: bool = False) -> dict[str, Any]:
    """Current profiles by name; with `all_versions`, superseded ones too."""
    from dat_pipeline.dat import profiles as profile_api

    records = profile_api.list_profiles(ctx.store, include_superseded=all_versions)
    return {"profiles": [record.to_dict() for record in records]}


def get_profile(ctx: ServiceContext, key: str) -> dict[str, Any]:
    """A profile by name, or any version by id, with the stage configs it pre-fills."""
    from dat_pipeline.dat import profiles as profile_api

    return profile_api.get_profile(ctx.store, key).to_dict()


def update_profile(
    ctx: ServiceContext,
    key: str,
    changes: dict[str, Any],
    replace: bool = True,
    origin: str = "profile",
) -> dict[str, Any]:
    """Replace a profile's body with `changes` (its name stays unless they give one), or with
    `replace` false change only the given fields. The new body gets a new id; the old version
    keeps its id for the runs made from it (`changed` false when nothing changed)."""
    from dat_pipeline.dat import profiles as profile_api

    current = profile_api.get_profile(ctx.store, key)
    base = {"name": current.name} if replace else current.profile.model_dump(mode="json")
    profile = profile_api.parse_profile({**base, **changes}, origin)
    return views.replace_profile(ctx.store, current, profile)


def delete_profile(ctx: ServiceContext, key: str) -> dict[str, Any]:
    """Delete a profile and its older versions; runs made from it keep their configs."""
    from dat_pipeline.dat import profiles as profile_api

    return {"deleted": profile_api.delete_profile(ctx.store, key)}
