"""Follow mode (SPEC 1.6): when an upstream stage of a follow-mode run completes with a new stage
id, re-lock each downstream stage that the re-lock cascaded away, with its kept config.

The chain advances one step per completion: a stage is re-locked only once its upstream artifact
exists, so its config is fully validated (a table that vanished with a removed file is caught
here, not halfway through a parse). A config that no longer validates stops the chain at that
stage: the stage keeps the reason in its status and a `follow_stopped` event, and nothing is tried
again until its upstream completes anew. Skipped optional stages are skipped again. Every action
is idempotent (same kept config + same upstream = same stage id), so replaying events after a
crash repeats nothing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from dat_pipeline.dat.profiles import prefill_table_selection
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


def _was_cascaded(run_events: list[Event], stage: str) -> bool:
    """Unlocked by a cascade from upstream (not by the user unlocking this very stage)."""
    last = _last_event(run_events, stage, ("lock", "skip", "unlock"))
    return last is not None and last.kind == "unlock" and last.detail.get("cause") != stage


def follow_completions(workflow: DatWorkflow, events: list[Event]) -> list[FollowAction]:
    """Advance the chains of follow-mode runs for every `complete` event in `events`."""
    actions: list[FollowAction] = []
    completed = deque(
        (e.run_id, e.stage, e.stage_id) for e in events if e.kind == "complete" and e.stage
    )
    while completed:
        run_id, upstream, upstream_id = completed.popleft()
        run = workflow.store.get_run(run_id)
        if run is None or not run.follow:
            continue
        current = workflow.stage_status(run_id, upstream)
        if not current.locked or current.stage_id != upstream_id:
            continue
        for stage in workflow.graph.order:
            if upstream not in workflow.graph.rule(stage).requires or stage not in workflow.stages:
                continue
            action = _follow_one(workflow, run_id, stage)
            if action is None:
                continue
            actions.append(action)
            status = workflow.stage_status(run_id, stage)
            if action.action != "stopped" and status.completed:
                # its artifact already existed: nothing to materialize, follow on at once
                completed.append((run_id, stage, status.stage_id))
    return actions


def _follow_one(workflow: DatWorkflow, run_id: str, stage: str) -> FollowAction | None:
    status = workflow.stage_status(run_id, stage)
    run_events = workflow.store.run_events(run_id)
    if status.locked or not _was_cascaded(run_events, stage):
        return None
    gate = workflow.graph.rule(stage)
    statuses = {s.stage: s for s in workflow.status(run_id)}
    if not all(statuses[name].locked and statuses[name].completed for name in gate.requires):
        return None
    last_lock = _last_event(run_events, stage, ("lock", "skip"))
    try:
        if last_lock is not None and last_lock.kind == "skip":
            skipped = workflow.skip(run_id, stage)
            return FollowAction(run_id, stage, "reskipped", skipped.stage_id)
        if stage == "table_selection":
            # a profile's table patterns re-resolve against the new availability
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
