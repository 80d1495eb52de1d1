"""Follow mode (SPEC 1.6): when a stage of a follow-mode run is re-locked, the stages its re-lock
cascaded away are re-locked with their kept configs, down the chain, in one Dagster run.

Two halves, one rule. `chain` says, when the lock happens, which downstream stages the chain will
re-lock (the lock sensor and `dat lock --materialize` request them all in one run). `follow_stage`
re-locks one of them at run time, once its upstream artifacts exist, so its config is validated
against the real upstream (a table that vanished with a removed file is caught here, not halfway
through a parse). A config that no longer validates stops the chain at that stage: the stage keeps
the reason in its status and a `follow_stopped` event. Skipped optional stages are skipped again.
Every action is idempotent (same kept config + same upstream = same stage id).
"""

from __future__ import annotations

from dataclasses import dataclass

from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.errors import DatError
from dat_pipeline.store import Event


@dataclass(frozen=True)
class FollowAction:
    run_id: str
    stage: str
    action: str  # "relocked" | "reskipped" | "stopped"
    stage_id: str | None
    reason: str | None = None


def _last_event(events: list[Event], stage: str, kinds: tuple[str, ...]) -> Event | None:
    return next((e for e in reversed(events) if e.stage == stage and e.kind in kinds), None)


def _followable(workflow: DatWorkflow, run_events: list[Event], stage: str, config) -> bool:  # type: ignore[no-untyped-def]
    """Unlocked by a cascade from upstream (not by the user unlocking this very stage), and
    locked or skipped before, so there is something to re-lock it with."""
    last = _last_event(run_events, stage, ("lock", "skip", "unlock"))
    if last is None or last.kind != "unlock" or last.detail.get("cause") == stage:
        return False
    before = _last_event(run_events, stage, ("lock", "skip"))
    return before is not None and (
        before.kind == "skip" or config is not None or stage == "table_selection"
    )


def chain(workflow: DatWorkflow, run_id: str, stages: list[str]) -> list[str]:
    """The stages downstream of `stages` that follow mode re-locks, in graph order: unlocked by
    a cascade, with a kept config (or skipped before), and every gate in `stages`, in the chain
    or locked. Empty for a run that is not in follow mode."""
    run = workflow.store.get_run(run_id)
    if run is None or not run.follow:
        return []
    statuses = {s.stage: s for s in workflow.status(run_id)}
    run_events = workflow.store.run_events(run_id)
    reached = set(stages)
    found: list[str] = []
    for stage in workflow.graph.order:
        if stage in reached or stage not in workflow.stages or statuses[stage].locked:
            continue
        requires = workflow.graph.rule(stage).requires
        if not requires or not reached & set(requires):
            continue
        if not all(name in reached or statuses[name].locked for name in requires):
            continue
        if _followable(workflow, run_events, stage, statuses[stage].config):
            found.append(stage)
            reached.add(stage)
    return found


def relock_ready(workflow: DatWorkflow, run_id: str) -> list[FollowAction]:
    """Re-lock, in graph order, every cascaded stage whose gates are locked and built (any run:
    `dat lock --chain` asks for it by name); a stop ends the list."""
    actions: list[FollowAction] = []
    for stage in workflow.graph.order:
        if stage not in workflow.stages:
            continue
        action = follow_stage(workflow, run_id, stage, follow_only=False)
        if action is not None:
            actions.append(action)
            if action.action == "stopped":
                break
    return actions


def follow_stage(
    workflow: DatWorkflow, run_id: str, stage: str, follow_only: bool = True
) -> FollowAction | None:
    """Re-lock (or re-skip) `stage` with its kept config, now that its gates are locked and
    built; None when there is nothing to follow (or, with `follow_only`, the run is not in
    follow mode). A config that no longer validates is recorded as the stop of the chain and
    returned as `stopped`."""
    run = workflow.store.get_run(run_id)
    if run is None or (follow_only and not run.follow):
        return None
    statuses = {s.stage: s for s in workflow.status(run_id)}
    status = statuses[stage]
    run_events = workflow.store.run_events(run_id)
    if status.locked or not _followable(workflow, run_events, stage, status.config):
        return None
    gate = workflow.graph.rule(stage)
    if not all(statuses[name].locked and statuses[name].completed for name in gate.requires):
        return None
    last_lock = _last_event(run_events, stage, ("lock", "skip"))
    try:
        if last_lock is not None and last_lock.kind == "skip":
            skipped = workflow.skip(run_id, stage)
            return FollowAction(run_id, stage, "reskipped", skipped.stage_id)
        if stage == "table_selection":
            # a profile's table patterns re-resolve against the new availability
            from dat_pipeline.dat.profiles import prefill_table_selection

            prefill_table_selection(workflow, run_id)
            status = workflow.stage_status(run_id, stage)
        if status.config is None:
            return None
        relocked = workflow.lock(run_id, stage, status.config)
        return FollowAction(run_id, stage, "relocked", relocked.stage_id)
    except DatError as exc:
        reason = str(exc)
        workflow.stop_follow(run_id, stage, reason)
        return FollowAction(run_id, stage, "stopped", None, reason)


def follow_before_build(workflow: DatWorkflow, run_id: str, stage: str) -> FollowAction | None:
    """What every build of a stage does first (a stage asset, the CLI's `--materialize`): in
    follow mode, re-lock it with its kept config; a config that no longer validates stops the
    build with a one-line DatError."""
    action = follow_stage(workflow, run_id, stage)
    if action is not None and action.action == "stopped":
        raise DatError(f"follow stopped at {stage} of run {run_id}: {action.reason}")
    return action


def with_ancestors(workflow: DatWorkflow, run_id: str, stages: list[str]) -> list[str]:
    """`stages`, plus every locked ancestor without an artifact and, in follow mode, the chain
    they re-lock; in graph order. A stage never runs before its upstream in another run."""
    statuses = {s.stage: s for s in workflow.status(run_id)}
    selection = set(stages)
    for stage in stages:
        for ancestor in workflow.graph.order:
            status = statuses[ancestor]
            if (
                stage in workflow.graph.downstream(ancestor)
                and status.locked
                and workflow.artifact_path(status) is None
            ):
                selection.add(ancestor)
    selection |= set(chain(workflow, run_id, stages))
    return [s for s in workflow.graph.order if s in selection]
