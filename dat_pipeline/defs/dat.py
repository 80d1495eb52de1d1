"""Dagster layer of DAT: one asset per implemented stage, the artifact IO manager, the
`dat_unlock` job and `dat_lock_sensor`.

Assets are built from the stage graph and the stage registry, so a new stage appears here with
no change to this module.
"""

import warnings
from collections import defaultdict
from typing import Any

import dagster as dg
import polars as pl

from dat_pipeline.dat.follow import follow_completions
from dat_pipeline.dat.graph import DEFAULT_GRAPH
from dat_pipeline.dat.stages import STAGES
from dat_pipeline.dat.workflow import StageOutcome
from dat_pipeline.defs.resources import DatResource
from dat_pipeline.frames import markdown_preview, schema_of

dat_runs = dg.DynamicPartitionsDefinition(name="dat_runs")

OWNERS = ["team:data-platform"]
KEY_PREFIX = "dat"
RUN_TAG = "dat/run"


def stage_key(stage: str) -> dg.AssetKey:
    return dg.AssetKey([KEY_PREFIX, stage])


class DatArtifactIOManager(dg.ConfigurableIOManager):
    """Persists a stage artifact as Parquet (atomic write, keyed by run partition and stage id)
    and records the stage as completed; loads the locked artifact of a run for downstream use."""

    dat: dg.ResourceDependency[DatResource]

    def handle_output(self, context: dg.OutputContext, obj: StageOutcome) -> None:
        status = self.dat.workflow().commit(obj)
        context.add_output_metadata(
            {"path": dg.MetadataValue.path(str(obj.path)), "completed": status.completed}
        )

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        stage = context.asset_key.path[-1]
        return self.dat.workflow().load_artifact(context.asset_partition_key, stage)


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


def stage_metadata(outcome: StageOutcome, frame: pl.DataFrame) -> dict[str, Any]:
    return {
        "stage_id": outcome.stage_id,
        "dat_run": outcome.run_id,
        "reused": outcome.reused,
        "rows": frame.height,
        "columns": frame.width,
        "schema": dg.MetadataValue.json(schema_of(frame)),
        "duration_s": round(outcome.seconds, 3),
        "preview": dg.MetadataValue.md(markdown_preview(frame)),
        "dagster/row_count": frame.height,
    }


def build_stage_asset(stage: str) -> dg.AssetsDefinition:
    rule = DEFAULT_GRAPH.rule(stage)
    spec = STAGES[stage]

    @dg.asset(
        name=stage,
        key_prefix=KEY_PREFIX,
        group_name="dat",
        partitions_def=dat_runs,
        deps=[stage_key(name) for name in rule.requires],
        config_schema={"lock": lock_config_field(stage)},
        io_manager_key="dat_io_manager",
        description=(spec.description or rule.description).strip(),
        owners=OWNERS,
        kinds={"python", "parquet"},
        tags={"dat/stage": stage},
        code_version="1",
    )
    def _stage_asset(context: dg.AssetExecutionContext, dat: DatResource) -> dg.Output:
        workflow = dat.workflow()
        run_id = context.partition_key
        lock = context.op_execution_context.op_config.get("lock")
        if lock is not None:
            status = workflow.lock(run_id, stage, lock)
            context.log.info(f"locked {stage} of {run_id} as {status.stage_id}")
        outcome = workflow.compute(run_id, stage, log=context.log.info)
        frame = outcome.frame if outcome.frame is not None else pl.read_parquet(outcome.path)
        if outcome.reused:
            context.log.info(f"{stage} {outcome.stage_id} already materialized: reused")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)  # data_version is what we rely on
            return dg.Output(
                outcome,
                data_version=dg.DataVersion(outcome.stage_id),
                metadata=stage_metadata(outcome, frame),
            )

    return _stage_asset


dat_stage_assets = [build_stage_asset(stage) for stage in DEFAULT_GRAPH.order if stage in STAGES]


@dg.op(
    config_schema={
        "stage": dg.Field(
            dg.Enum("DatStage", [dg.EnumValue(s) for s in DEFAULT_GRAPH.order]),
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


@dg.job(partitions_def=dat_runs, description="Unlock a stage of a DAT run (cascades downstream).")
def dat_unlock() -> None:
    unlock_stage()


def pending_requests(workflow, events) -> tuple[list[dg.RunRequest], set[str]]:  # type: ignore[no-untyped-def]
    """Run requests for the stages newly locked in `events` whose artifact is missing.

    One request per DAT run per tick: the newly locked stages plus any locked ancestor that has
    no artifact yet, so a stage never runs before its upstream in another run. The run key is the
    (run, stage, stage_id) triples, so the same lock is never requested twice.
    """
    locked_by_run: dict[str, dict[str, str]] = defaultdict(dict)
    runs_seen: set[str] = set()
    for event in events:
        runs_seen.add(event.run_id)
        if event.kind == "lock" and event.stage in STAGES:
            locked_by_run[event.run_id][event.stage] = event.stage_id
    requests = []
    for run_id, locked in locked_by_run.items():
        statuses = {s.stage: s for s in workflow.status(run_id)}
        wanted = [
            stage
            for stage, stage_id in locked.items()
            if statuses[stage].locked
            and statuses[stage].stage_id == stage_id
            and workflow.artifact_path(statuses[stage]) is None
        ]
        if not wanted:
            continue
        selection = set(wanted)
        for stage in wanted:
            for ancestor in DEFAULT_GRAPH.order:
                if stage in DEFAULT_GRAPH.downstream(ancestor):
                    status = statuses[ancestor]
                    if status.locked and workflow.artifact_path(status) is None:
                        selection.add(ancestor)
        ordered = [s for s in DEFAULT_GRAPH.order if s in selection]
        triples = ",".join(f"{s}@{statuses[s].stage_id}" for s in ordered if s in wanted)
        requests.append(
            dg.RunRequest(
                run_key=f"{run_id}:{triples}",
                partition_key=run_id,
                asset_selection=[stage_key(s) for s in ordered],
                tags={RUN_TAG: run_id, "dat/stages": ",".join(ordered)},
            )
        )
    return requests, runs_seen


FOLLOW_ROUNDS = 8  # follow-mode re-locks append events; pick them up within the same tick


@dg.sensor(
    name="dat_lock_sensor",
    asset_selection=dg.AssetSelection.groups("dat"),
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Follows the DAT event log: materializes newly locked stages, and in follow-mode runs "
        "re-locks downstream stages with their kept config when an upstream stage changes."
    ),
)
def dat_lock_sensor(context: dg.SensorEvaluationContext, dat: DatResource) -> dg.SensorResult:
    workflow = dat.workflow()
    start = int(context.cursor or 0)
    cursor = start
    requests: list[dg.RunRequest] = []
    runs_seen: set[str] = set()
    for _ in range(FOLLOW_ROUNDS):
        events = workflow.store.events_after(cursor, limit=500)
        if not events:
            break
        for action in follow_completions(workflow, events):
            detail = f": {action.reason}" if action.reason else f" as {action.stage_id}"
            context.log.info(f"follow {action.run_id}: {action.action} {action.stage}{detail}")
        round_requests, round_runs = pending_requests(workflow, events)
        requests += round_requests
        runs_seen |= round_runs
        cursor = events[-1].seq
    if cursor == start:
        return dg.SensorResult(skip_reason=f"no events after #{start}", cursor=str(start))
    missing = [
        run_id
        for run_id in sorted(runs_seen)
        if not context.instance.has_dynamic_partition(dat_runs.name, run_id)
    ]
    for request in requests:
        stages = ", ".join(key.path[-1] for key in request.asset_selection or [])
        context.log.info(f"requesting {stages} of {request.partition_key}")
    return dg.SensorResult(
        run_requests=requests,
        cursor=str(cursor),
        dynamic_partitions_requests=[dat_runs.build_add_request(missing)] if missing else [],
    )


def ensure_run_partition(instance: dg.DagsterInstance, run_id: str) -> None:
    if not instance.has_dynamic_partition(dat_runs.name, run_id):
        instance.add_dynamic_partitions(dat_runs.name, [run_id])


def materialize_stages(
    instance: dg.DagsterInstance,
    run_id: str,
    stages: list[str],
    resources: dict[str, Any],
    log_level: str = "INFO",
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize `stages` of a DAT run now, in this process, as a run on `instance`."""
    ensure_run_partition(instance, run_id)
    return dg.materialize(
        assets=dat_stage_assets,
        selection=[stage_key(stage) for stage in stages],
        partition_key=run_id,
        instance=instance,
        resources=resources,
        tags={**(tags or {}), RUN_TAG: run_id},
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        raise_on_error=False,
    )
