"""Dagster layer of DAT: one asset per implemented stage, the `dat_stages` job and the code
location's executor (both in process for DAT runs), the `dat_unlock` job and `dat_lock_sensor`.

Assets are built from the stage graph (the default, or the YAML of DAT_STAGE_GRAPH) and the stage
registry, so a new stage appears here with no change to this module.
"""

from collections.abc import Callable
from typing import Any

import dagster as dg
import polars as pl

from dat_pipeline.dat.follow import chain, follow_before_build, with_ancestors
from dat_pipeline.dat.graph import load_graph
from dat_pipeline.dat.stages import STAGES
from dat_pipeline.dat.stages.parse import failed_tables
from dat_pipeline.dat.workflow import DatWorkflow, StageOutcome
from dat_pipeline.defs.resources import DAT_RESOURCE, DatResource
from dat_pipeline.errors import DatError
from dat_pipeline.frames import markdown_preview, schema_of
from dat_pipeline.names import OWNERS, RUN_TAG
from dat_pipeline.settings import get_settings
from dat_pipeline.store import Event, StageStatus

dat_runs = dg.DynamicPartitionsDefinition(name="dat_runs")

KEY_PREFIX = "dat"
STAGES_TAG = "dat/stages"
# A run that materializes the follow-mode chain of its stages itself: its completions start none.
CHAIN_TAG = "dat/chain"
SENSOR_NAME = "dat_lock_sensor"
GRAPH = load_graph(get_settings().stage_graph)


def stage_key(stage: str) -> dg.AssetKey:
    return dg.AssetKey([KEY_PREFIX, stage])


def _dagster_type(prop: dict[str, Any]) -> Any:
    """A launchpad config type for one JSON-schema property of a stage config (Any when complex)."""
    kinds = [option.get("type") for option in prop.get("anyOf", [prop])]
    nullable = "null" in kinds
    kinds = [k for k in kinds if k != "null"]
    simple = {"string": str, "boolean": bool, "integer": int, "number": float}
    if len(kinds) == 1 and kinds[0] in simple:
        base: Any = simple[kinds[0]]
    elif len(kinds) == 1 and kinds[0] == "array":
        item = (prop.get("anyOf", [prop])[0] if "items" not in prop else prop).get("items", {})
        base = [simple.get(item.get("type"), dg.Any)]
    else:
        base = dg.Any
    return dg.Noneable(base) if nullable else base


def lock_config_field(stage: str) -> dg.Field:
    """The `lock` field of a stage asset's config: the stage config, with every field optional."""
    model = STAGES[stage].config_model
    properties = model.model_json_schema().get("properties", {})
    shape = {
        name: dg.Field(_dagster_type(prop), is_required=False, description=prop.get("description"))
        for name, prop in properties.items()
    }
    return dg.Field(
        dg.Shape(shape),
        is_required=False,
        description=f"Lock {stage} with this config before materializing (omit to use the lock "
        "already set with `dat lock`).",
    )


def stage_metadata(
    outcome: StageOutcome, frame: pl.DataFrame, status: StageStatus, follow: bool
) -> dict[str, Any]:
    """What the UI shows per run (partition): the stage's lock, kept config and id, and the data."""
    metadata = {
        "stage_id": outcome.stage_id,
        "dat_run": outcome.run_id,
        "state": status.state,
        "locked_at": status.locked_at or "",
        "config": dg.MetadataValue.json(status.config or {}),
        "follow": follow,
        "reused": outcome.reused,
        "rows": frame.height,
        "columns": frame.width,
        "schema": dg.MetadataValue.json(schema_of(frame)),
        "duration_s": round(outcome.seconds, 3),
        "preview": dg.MetadataValue.md(markdown_preview(frame)),
        "dagster/row_count": frame.height,
    }
    if outcome.stage == "parse":  # the tables parse could not read, with their reasons
        metadata["failed_tables"] = dg.MetadataValue.json(failed_tables(frame))
    return metadata


def _failure(stage: str, run_id: str, exc: DatError) -> dg.Failure:
    """The domain error as the step's failure: one line on the run page and in the API."""
    message = str(exc).strip().splitlines()[0]
    return dg.Failure(
        description=message,
        metadata={"dat_run": run_id, "stage": stage, "error": exc.__class__.__name__},
    )


def _prepare(
    context: dg.AssetExecutionContext, workflow: DatWorkflow, run_id: str, stage: str
) -> None:
    """Lock `stage` before computing it: with the launchpad's `lock` config, or, in a follow-mode
    chain, with its kept config (a config that no longer validates stops the chain here)."""
    workflow.ensure_run(run_id)
    lock = context.op_execution_context.op_config.get("lock")
    if lock is not None:
        status = workflow.lock(run_id, stage, lock)
        context.log.info(f"locked {stage} of {run_id} as {status.stage_id}")
        return
    action = follow_before_build(workflow, run_id, stage)
    if action is not None:
        context.log.info(f"follow {run_id}: {action.action} {stage} as {action.stage_id}")


def build_stage_asset(stage: str) -> dg.AssetsDefinition:
    rule = GRAPH.rule(stage)
    spec = STAGES[stage]

    @dg.asset(
        name=stage,
        key_prefix=KEY_PREFIX,
        group_name="dat",
        partitions_def=dat_runs,
        deps=[stage_key(name) for name in rule.requires],
        config_schema={"lock": lock_config_field(stage)},
        description=(spec.description or rule.description).strip(),
        owners=OWNERS,
        kinds={"python", "parquet"},
        tags={"dat/stage": stage},
        code_version="1",
    )
    def _stage_asset(context: dg.AssetExecutionContext, dat: DatResource) -> dg.MaterializeResult:
        """Lock if asked, compute, and commit the artifact (written by the stage, keyed by run and
        stage id): downstream stages read it from the store, so no IO manager is involved."""
        run_id = context.partition_key
        workflow = dat.workflow().acting_for(context.run.run_id)
        try:
            _prepare(context, workflow, run_id, stage)
            outcome = workflow.compute(run_id, stage, log=context.log.info)
            frame = outcome.frame if outcome.frame is not None else pl.read_parquet(outcome.path)
            if outcome.reused:
                context.log.info(f"{stage} {outcome.stage_id} already materialized: reused")
            status = workflow.stage_status(run_id, stage)
            metadata = stage_metadata(outcome, frame, status, workflow.get_run(run_id).follow)
            completed = workflow.commit(outcome).completed
        except DatError as exc:
            raise _failure(stage, run_id, exc) from exc
        return dg.MaterializeResult(
            data_version=dg.DataVersion(outcome.stage_id),
            metadata={
                **metadata,
                "path": dg.MetadataValue.path(str(outcome.path)),
                "completed": completed,
            },
        )

    return _stage_asset


dat_stage_assets = [build_stage_asset(stage) for stage in GRAPH.order if stage in STAGES]

# DAT stages are small and sequential: one process per run, no step subprocess.
dat_stages_job = dg.define_asset_job(
    "dat_stages",
    selection=dg.AssetSelection.groups("dat"),
    executor_def=dg.in_process_executor,
    description="Materialize stages of a DAT run (the partition), in one process.",
)


_DEFAULT = dg.multi_or_in_process_executor


def is_dat_job(job: dg.JobDefinition) -> bool:
    """A job (or the subset a run selected) that runs DAT stage assets only."""
    keys = job.asset_layer.selected_asset_keys
    return bool(keys) and all(key.path[0] == KEY_PREFIX for key in keys)


@dg.executor(
    name="dat_in_process",
    config_schema=_DEFAULT.config_schema,
    requirements=_DEFAULT.get_requirements,
)
def dat_in_process_executor(init_context: dg.InitExecutorContext) -> Any:
    """The code location's default executor: a run of DAT stages only (a materialization
    clicked in the UI uses the implicit asset job) runs in process, with no step subprocess;
    any other run gets Dagster's default (multiprocess unless its config says in_process)."""
    config = init_context.executor_config
    if is_dat_job(init_context.job.get_definition()):
        chosen = next(iter(config.values()), None) or {}  # retries apply to both modes
        kept = {key: chosen[key] for key in ("retries", "step_dependency_config") if key in chosen}
        config = {"in_process": {"retries": {"enabled": {}}, **kept}}
    context = dg.InitExecutorContext(
        job=init_context.job,
        executor_def=_DEFAULT,
        executor_config=config,
        instance=init_context.instance,
    )
    return _DEFAULT.executor_creation_fn(context)  # type: ignore[misc]


@dg.op(
    config_schema={
        "stage": dg.Field(
            dg.Enum("DatStage", [dg.EnumValue(s) for s in GRAPH.order]),
            description="Stage to unlock; the stages gated on it are unlocked too.",
        )
    },
    tags={"kind": "dat"},
)
def unlock_stage(context: dg.OpExecutionContext, dat: DatResource) -> list[str]:
    """Unlock a stage of the run (the partition) and cascade; artifacts are kept."""
    unlocked = dat.workflow().unlock(context.partition_key, context.op_config["stage"])
    context.log.info(f"unlocked {unlocked or 'nothing (already unlocked)'}")
    context.add_output_metadata({"unlocked": unlocked})
    return unlocked


@dg.job(
    partitions_def=dat_runs,
    executor_def=dg.in_process_executor,
    description="Unlock a stage of a DAT run (cascades downstream).",
)
def dat_unlock() -> None:
    unlock_stage()


def _trigger(
    workflow: DatWorkflow, event: Event, covers_chain: Callable[[str], bool]
) -> tuple[list[str], list[str]]:
    """What one event asks the sensor to materialize: (unbuilt ancestors, the stage and its
    chain), each in graph order; empty when nothing.

    A lock or skip made outside Dagster: the stage if it has no artifact (with its unbuilt
    ancestors) and its follow-mode chain. A completion in a Dagster run that did not cover its
    chain (a launchpad lock): the chain. Everything a Dagster run locks itself is left to it.
    """
    if event.stage is None or event.stage not in workflow.stages:
        return [], []
    origin = event.detail.get("dagster_run")
    status = workflow.stage_status(event.run_id, event.stage)
    if not status.locked or status.stage_id != event.stage_id:
        return [], []
    if event.kind in ("lock", "skip") and not origin:
        follow = chain(workflow, event.run_id, [event.stage])
        if workflow.artifact_path(status) is not None:
            return [], follow
        built = with_ancestors(workflow, event.run_id, [event.stage])
        own = built.index(event.stage)
        return built[:own], [event.stage, *follow]
    if event.kind == "complete" and origin and not covers_chain(origin):
        return [], chain(workflow, event.run_id, [event.stage])
    return [], []


def pending_requests(
    workflow: DatWorkflow,
    events: list[Event],
    covers_chain: Callable[[str], bool] = lambda _run: True,
    building: Callable[[str], tuple[set[str], set[str]]] = lambda _run: (set(), set()),
) -> tuple[list[dg.RunRequest], set[str]]:
    """One run request per event that needs work (see `_trigger`), keyed by the event's sequence
    number, so a replay after a crash asks for nothing new.

    Left out: stages an earlier request of the same tick covers; ancestors that any active
    Dagster run of the DAT run will build; and stages that a run started elsewhere (the CLI, the
    API: `building` gives both sets) is building.
    """
    requests = []
    runs_seen: set[str] = set()
    active: dict[str, set[str]] = {}
    covered: dict[str, set[str]] = {}
    for event in events:
        runs_seen.add(event.run_id)
        ancestors, stages = _trigger(workflow, event, covers_chain)
        if not stages:
            continue
        if event.run_id not in covered:
            active[event.run_id], covered[event.run_id] = building(event.run_id)
        taken = covered[event.run_id]
        wanted = {*ancestors} - active[event.run_id] | {*stages}
        selection = [s for s in workflow.graph.order if s in wanted - taken]
        if not selection:
            continue
        taken |= set(selection)
        requests.append(
            dg.RunRequest(
                run_key=f"{event.run_id}:{event.stage}@{event.stage_id}#{event.seq}",
                partition_key=event.run_id,
                asset_selection=[stage_key(s) for s in selection],
                tags={RUN_TAG: event.run_id, STAGES_TAG: ",".join(selection), CHAIN_TAG: "1"},
            )
        )
    return requests, runs_seen


ACTIVE = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def _covers_chain(instance: dg.DagsterInstance) -> Callable[[str], bool]:
    def covers(dagster_run_id: str) -> bool:
        run = instance.get_run_by_id(dagster_run_id)
        return run is None or CHAIN_TAG in run.tags

    return covers


def _building(instance: dg.DagsterInstance) -> Callable[[str], tuple[set[str], set[str]]]:
    """The stages active Dagster runs of a DAT run will build: all of them, and those of runs
    this sensor did not request (the CLI, the API, the UI)."""

    def building(run_id: str) -> tuple[set[str], set[str]]:
        active: set[str] = set()
        elsewhere: set[str] = set()
        for run in instance.get_runs(dg.RunsFilter(tags={RUN_TAG: run_id}, statuses=ACTIVE)):
            stages = {key.path[-1] for key in run.asset_selection or []}
            active |= stages
            if run.tags.get("dagster/sensor_name") != SENSOR_NAME:
                elsewhere |= stages
        return active, elsewhere

    return building


def sync_partitions(instance: dg.DagsterInstance, workflow: DatWorkflow) -> list[str]:
    """Every `dat_runs` partition added in Dagster (the UI) is a DAT run: create the missing."""
    known = {run.run_id for run in workflow.store.list_runs()}
    created = []
    for run_id in instance.get_dynamic_partitions(dat_runs.name):
        if run_id not in known:
            try:
                created.append(workflow.ensure_run(run_id).run_id)
            except DatError:
                continue  # not a run id (the asset says why when it is materialized)
    return created


@dg.sensor(
    name=SENSOR_NAME,
    job=dat_stages_job,
    minimum_interval_seconds=1,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Follows the DAT event log: materializes newly locked stages and, in follow-mode runs, "
        "the whole downstream chain in the same run (each stage re-locks with its kept config)."
    ),
)
def dat_lock_sensor(context: dg.SensorEvaluationContext, dat: DatResource) -> dg.SensorResult:
    workflow = dat.workflow()
    for run_id in sync_partitions(context.instance, workflow):
        context.log.info(f"created DAT run {run_id} for the partition added in Dagster")
    start = int(context.cursor or 0)
    events = workflow.store.events_after(start, limit=500)
    if not events:
        return dg.SensorResult(skip_reason=f"no events after #{start}", cursor=str(start))
    requests, runs_seen = pending_requests(
        workflow, events, _covers_chain(context.instance), _building(context.instance)
    )
    missing = [
        run_id
        for run_id in sorted(runs_seen)
        if not context.instance.has_dynamic_partition(dat_runs.name, run_id)
    ]
    for request in requests:
        context.log.info(f"requesting {request.tags[STAGES_TAG]} of {request.partition_key}")
    return dg.SensorResult(
        run_requests=requests,
        cursor=str(events[-1].seq),
        dynamic_partitions_requests=[dat_runs.build_add_request(missing)] if missing else [],
    )


def ensure_run_partition(instance: dg.DagsterInstance, run_id: str) -> None:
    if not instance.has_dynamic_partition(dat_runs.name, run_id):
        instance.add_dynamic_partitions(dat_runs.name, [run_id])


def dat_resources() -> dict[str, Any]:
    """The resources a DAT run needs, without loading the rest of the code location."""
    return {"dat": DatResource()}


def materialize_stages(
    instance: dg.DagsterInstance,
    run_id: str,
    stages: list[str],
    resources: dict[str, Any] | None = None,
    log_level: str = "INFO",
    tags: dict[str, str] | None = None,
    dagster_run_id: str | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize `stages` of a DAT run now, in this process, as a `dat_stages` run on
    `instance` (shown in the UI with its logs): with their locked ancestors that have no
    artifact yet and, in follow mode, the chain they re-lock. `resources` default to
    `dat_resources()` (a caller need not import the whole code location). `dagster_run_id` is
    the id the run gets: the one a lock made for it already names (`DatWorkflow.acting_for`)."""
    resources = resources or dat_resources()
    ensure_run_partition(instance, run_id)
    workflow = resources["dat"].workflow()
    selection = with_ancestors(workflow, run_id, stages)
    job = dg.Definitions(
        assets=dat_stage_assets, jobs=[dat_stages_job], resources=resources
    ).resolve_job_def(dat_stages_job.name)
    return job.get_subset(asset_selection={stage_key(s) for s in selection}).execute_in_process(
        instance=instance,
        partition_key=run_id,
        run_id=dagster_run_id,
        tags={**(tags or {}), RUN_TAG: run_id, STAGES_TAG: ",".join(selection), CHAIN_TAG: "1"},
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        raise_on_error=False,
    )


defs = dg.Definitions(
    assets=dat_stage_assets,
    jobs=[dat_stages_job, dat_unlock],
    sensors=[dat_lock_sensor],
    resources={"dat": DAT_RESOURCE},
)
