"""The lock state machine of a DAT run: create, lock, unlock, skip, materialize.

Every change runs in one store write transaction (gate check, status write and event append
together), so two processes acting on the same run never see or leave a half-written lock.
Computation happens outside the transaction; its result is committed only if the stage is still
locked with the same stage id.
"""

from __future__ import annotations

import contextlib
import copy
import re
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from dat_pipeline import ids
from dat_pipeline.dat.artifacts import ArtifactStore
from dat_pipeline.dat.graph import DEFAULT_GRAPH, StageGraph
from dat_pipeline.errors import DatError, GateError, NotFoundError, StageConfigError
from dat_pipeline.names import RUN_ID as RUN_ID_PATTERN
from dat_pipeline.store import RunRecord, StageStatus, utc_now

if TYPE_CHECKING:  # the stages (Polars, adapters) load on first use: `dat status` needs neither
    import polars as pl
    from sqlalchemy import Connection

    from dat_pipeline.dat.stages import StageInputs, StageSpec
    from dat_pipeline.store import ControlStore


@dataclass(frozen=True)
class StageOutcome:
    """The result of computing a stage: a frame, or `reused` when the artifact already existed."""

    run_id: str
    stage: str
    stage_id: str
    frame: pl.DataFrame | None
    reused: bool
    seconds: float
    path: Path


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")


def _validation_message(stage: str, exc: ValidationError, keys: list[str]) -> str:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}" for err in exc.errors()
    )
    if any(err["type"] == "extra_forbidden" and len(err["loc"]) == 1 for err in exc.errors()):
        problems += f" (the keys of {stage} are: {', '.join(keys)}; see dat stages show {stage})"
    return f"invalid {stage} config: {problems}"


class DatWorkflow:
    """Lock, unlock, skip and materialize the stages of DAT runs."""

    def __init__(
        self,
        store: ControlStore,
        data_root: Path,
        graph: StageGraph = DEFAULT_GRAPH,
        stages: dict[str, StageSpec] | None = None,
    ):
        self.store = store
        self.data_root = Path(data_root).resolve()
        self.graph = graph
        self._stages = stages
        self.artifacts = ArtifactStore(self.data_root)
        self.origin: dict[str, str] = {}

    @property
    def stages(self) -> dict[str, StageSpec]:
        """The stage implementations (imported on first use)."""
        if self._stages is None:
            from dat_pipeline.dat.stages import STAGES

            self._stages = STAGES
        return self._stages

    def acting_for(self, dagster_run_id: str) -> DatWorkflow:
        """This workflow, acting inside Dagster run `dagster_run_id`: every event it appends says
        so, and the lock sensor leaves the stages it locks to that run (no second request)."""
        acting = copy.copy(self)
        acting.origin = {"dagster_run": dagster_run_id}
        return acting

    # -- runs -------------------------------------------------------------------------------
    def create_run(
        self,
        name: str | None = None,
        profile_id: str | None = None,
        follow: bool = False,
        run_id: str | None = None,
    ) -> RunRecord:
        if run_id is None:
            run_id = f"{_slug(name) if name and _slug(name) else 'run'}-{secrets.token_hex(3)}"
        if not RUN_ID_PATTERN.match(run_id):
            raise DatError(
                f"run id {run_id!r} is not a short slug (lowercase letters, digits and '-', "
                "at most 63 characters)"
            )
        record = RunRecord(
            run_id=run_id,
            name=name or run_id,
            profile_id=profile_id,
            follow=follow,
            created_at=utc_now(),
        )
        with self.store.write() as connection:
            if self.store.get_run(run_id, connection):
                raise DatError(f"run {run_id!r} already exists; pick another name or id")
            self.store.insert_run(connection, record)
            self._append(
                connection, run_id, "run_created", detail={"name": record.name, "follow": follow}
            )
        return record

    def ensure_run(self, run_id: str) -> RunRecord:
        """The run `run_id`, created on first use when it exists only as a Dagster partition
        (added with the UI's "Add new partition")."""
        run = self.store.get_run(run_id)
        if run is not None:
            return run
        try:
            return self.create_run(name=run_id, run_id=run_id)
        except DatError:
            if (run := self.store.get_run(run_id)) is None:  # not a race: a bad id
                raise
            return run

    def get_run(self, run_id: str, connection: Connection | None = None) -> RunRecord:
        run = self.store.get_run(run_id, connection)
        if run is None:
            raise NotFoundError(f"unknown run {run_id!r} (list runs with: dat runs list)")
        return run

    # -- status -----------------------------------------------------------------------------
    def status(self, run_id: str, connection: Connection | None = None) -> list[StageStatus]:
        """Every stage of the graph, in graph order; stages never locked show as UNLOCKED."""
        self.get_run(run_id, connection)
        known = self.store.statuses(run_id, connection)
        return [known.get(stage, StageStatus(run_id, stage)) for stage in self.graph.order]

    def stage_status(
        self, run_id: str, stage: str, connection: Connection | None = None
    ) -> StageStatus:
        self._rule(stage)  # a stage of the graph; its implementation (adapters) is not loaded
        return next(s for s in self.status(run_id, connection) if s.stage == stage)

    def artifact_path(self, status: StageStatus) -> Path | None:
        if status.stage_id is None:
            return None
        path = self.artifacts.path(status.run_id, status.stage, status.stage_id)
        return path if path.is_file() else None

    # -- lock / unlock / skip ---------------------------------------------------------------
    def lock(self, run_id: str, stage: str, config: dict[str, Any] | None = None) -> StageStatus:
        """Lock `stage` with `config` (None: the kept config of its last lock or of its profile).

        Re-locking with new inputs first unlocks what depends on it.
        """
        spec = self._spec(stage)
        snapshot = self._snapshot(run_id, spec, config)  # may read a database: not in the write
        with self.store.write() as connection:
            statuses = {s.stage: s for s in self.status(run_id, connection)}
            upstream = self._check_gate(run_id, stage, statuses, "lock")
            if config is None:
                config = statuses[stage].config or {}
            parsed = self._parse_config(spec, config)
            normalized = parsed.model_dump(mode="json")
            identity = normalized if snapshot is None else {**normalized, "snapshot": snapshot}
            stage_id = ids.stage_id(stage, identity, upstream)
            inputs = self._inputs(run_id, stage, stage_id, upstream, statuses)
            if spec.check is not None:
                # Without the upstream artifact yet, the check runs again when the stage computes.
                from dat_pipeline.dat.stages.base import UpstreamNotReadyError

                with contextlib.suppress(UpstreamNotReadyError):
                    spec.check(inputs, parsed)
            current = statuses[stage]
            if current.locked and current.stage_id == stage_id:
                return current
            if current.locked:
                self._unlock_many(connection, statuses, self.graph.cascade(stage), stage)
            reused = self.artifacts.exists(run_id, stage, stage_id)
            status = StageStatus(
                run_id=run_id,
                stage=stage,
                state="LOCKED",
                stage_id=stage_id,
                config=normalized,
                locked_at=utc_now(),
                unlocked_at=None,
                completed=reused,
                error=None,
            )
            self.store.put_status(connection, status)
            self._append(
                connection,
                run_id,
                "lock",
                stage,
                stage_id,
                {"config": normalized, "upstream": upstream, "artifact_exists": reused},
            )
            return status

    def prefill(self, run_id: str, configs: dict[str, dict[str, Any]]) -> None:
        """Keep `configs` for unlocked stages (e.g. from a profile): a bare `lock` then uses them."""
        with self.store.write() as connection:
            statuses = {s.stage: s for s in self.status(run_id, connection)}
            for stage, config in configs.items():
                spec = self._spec(stage)
                normalized = self._parse_config(spec, config).model_dump(mode="json")
                if not statuses[stage].locked:
                    self.store.put_status(connection, replace(statuses[stage], config=normalized))
            self._append(connection, run_id, "prefill", detail={"stages": sorted(configs)})

    def unlock(self, run_id: str, stage: str) -> list[str]:
        """Unlock `stage` and every stage its unlock cascades to; returns those that were locked."""
        self._spec(stage)
        with self.store.write() as connection:
            statuses = {s.stage: s for s in self.status(run_id, connection)}
            return self._unlock_many(
                connection, statuses, (stage, *self.graph.cascade(stage)), stage
            )

    def skip(self, run_id: str, stage: str) -> StageStatus:
        """Lock an optional stage as completed with an empty artifact."""
        self._spec(stage)
        if not self.graph.rule(stage).optional:
            raise GateError(
                f"cannot skip {stage}: it is not optional (lock it instead)",
                stage=stage,
                reason="is not optional",
            )
        with self.store.write() as connection:
            statuses = {s.stage: s for s in self.status(run_id, connection)}
            upstream = self._check_gate(run_id, stage, statuses, "skip")
            stage_id = ids.stage_id(stage, {"skipped": True}, upstream)
            if not self.artifacts.exists(run_id, stage, stage_id):
                import polars as pl

                self.artifacts.write(run_id, stage, stage_id, pl.DataFrame())
            status = StageStatus(
                run_id=run_id,
                stage=stage,
                state="LOCKED",
                stage_id=stage_id,
                config=statuses[stage].config,
                locked_at=utc_now(),
                completed=True,
            )
            self.store.put_status(connection, status)
            self._append(connection, run_id, "skip", stage, stage_id, {"upstream": upstream})
            return status

    # -- materialization --------------------------------------------------------------------
    def compute(self, run_id: str, stage: str, log=None) -> StageOutcome:  # type: ignore[no-untyped-def]
        """Compute a locked stage's artifact, or find it already there (then nothing is computed)."""
        spec = self._spec(stage)
        statuses = {s.stage: s for s in self.status(run_id)}
        status = statuses[stage]
        if not status.locked or status.stage_id is None:
            raise GateError(
                f"cannot materialize {stage} of run {run_id}: it is not locked "
                f"(lock it first: dat lock {run_id} {stage} --config FILE, "
                "or launch it with a stage config from the launchpad)",
                stage=stage,
                missing_stage=stage,
                reason="is not locked",
            )
        path = self.artifacts.path(run_id, stage, status.stage_id)
        if path.is_file():
            return StageOutcome(run_id, stage, status.stage_id, None, True, 0.0, path)
        upstream = {name: statuses[name].stage_id for name in self.graph.rule(stage).requires}
        inputs = self._inputs(run_id, stage, status.stage_id, upstream, statuses, log)  # type: ignore[arg-type]
        inputs.profile_id = self.get_run(run_id).profile_id
        since = self.store.last_seq()
        inputs.cancelled = lambda: self.store.has_event_after(run_id, "cancel", since)
        started = time.perf_counter()
        try:
            config = spec.config_model.model_validate(status.config or {})
            if spec.check is not None:
                spec.check(inputs, config)  # lock may have deferred it until upstream existed
            frame = spec.compute(inputs, config)
        except Exception as exc:
            self.record_failure(run_id, stage, status.stage_id, exc)
            raise
        return StageOutcome(
            run_id, stage, status.stage_id, frame, False, time.perf_counter() - started, path
        )

    def commit(self, outcome: StageOutcome) -> StageStatus:
        """Write a computed artifact atomically and mark the stage completed if still locked."""
        if outcome.frame is not None and not outcome.path.is_file():
            self.artifacts.write(outcome.run_id, outcome.stage, outcome.stage_id, outcome.frame)
        with self.store.write() as connection:
            current = self.stage_status(outcome.run_id, outcome.stage, connection)
            if not current.locked or current.stage_id != outcome.stage_id:
                return current
            status = replace(current, completed=True, error=None)
            self.store.put_status(connection, status)
            self._append(
                connection,
                outcome.run_id,
                "complete",
                outcome.stage,
                outcome.stage_id,
                {
                    "reused": outcome.reused,
                    "rows": None if outcome.frame is None else outcome.frame.height,
                    "seconds": round(outcome.seconds, 4),
                },
            )
            return status

    def materialize(self, run_id: str, stage: str, log=None) -> StageOutcome:  # type: ignore[no-untyped-def]
        """Compute and commit in one call (the path used outside Dagster)."""
        outcome = self.compute(run_id, stage, log)
        self.commit(outcome)
        return outcome

    def record_failure(self, run_id: str, stage: str, stage_id: str, exc: BaseException) -> None:
        message = f"{exc.__class__.__name__}: {exc}"
        with self.store.write() as connection:
            current = self.stage_status(run_id, stage, connection)
            if current.stage_id == stage_id:
                self.store.put_status(connection, replace(current, error=message))
            self._append(connection, run_id, "fail", stage, stage_id, {"error": message})

    def stop_follow(self, run_id: str, stage: str, reason: str) -> None:
        """Record why follow mode could not re-lock `stage`: in its status and the event log."""
        with self.store.write() as connection:
            current = self.stage_status(run_id, stage, connection)
            self.store.put_status(connection, replace(current, error=reason))
            self._append(connection, run_id, "follow_stopped", stage, None, {"reason": reason})

    def cancel(self, run_id: str) -> int:
        """Ask the stages computing for `run_id` to stop at their next checkpoint."""
        self.get_run(run_id)
        with self.store.write() as connection:
            return self._append(connection, run_id, "cancel")

    def artifact_file(self, run_id: str, stage: str) -> Path:
        """The Parquet file of a stage's current artifact; a clear error when it has none."""
        status = self.stage_status(run_id, stage)
        path = self.artifact_path(status)
        if path is None:
            raise NotFoundError(
                f"{stage} of run {run_id} has no artifact yet "
                f"(state {status.state}; materialize it: dat materialize {run_id} --stage {stage})"
            )
        return path

    def load_artifact(self, run_id: str, stage: str) -> pl.DataFrame:
        import polars as pl

        return pl.read_parquet(self.artifact_file(run_id, stage))

    def pending(self, run_id: str) -> list[str]:
        """Locked stages without an artifact, in graph order: what `dat materialize` would run."""
        return [
            s.stage
            for s in self.status(run_id)
            if s.locked and s.stage in self.stages and self.artifact_path(s) is None
        ]

    # -- internals --------------------------------------------------------------------------
    def _append(
        self,
        connection: Connection,
        run_id: str,
        kind: str,
        stage: str | None = None,
        stage_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        return self.store.append_event(
            connection, run_id, kind, stage, stage_id, {**(detail or {}), **self.origin}
        )

    def _rule(self, stage: str) -> None:
        try:
            self.graph.rule(stage)
        except KeyError as exc:
            raise NotFoundError(str(exc.args[0])) from None

    def _spec(self, stage: str) -> StageSpec:
        self._rule(stage)
        if stage not in self.stages:
            raise NotFoundError(
                f"stage {stage!r} is in the graph but not implemented in this version"
            )
        return self.stages[stage]

    def _check_gate(
        self, run_id: str, stage: str, statuses: dict[str, StageStatus], verb: str
    ) -> dict[str, str]:
        rule = self.graph.rule(stage)
        gates = (
            (rule.requires, "locked", "is not locked", "dat lock {run} {stage} ..."),
            (
                rule.requires_completed,
                "completed",
                "has not completed",
                "dat materialize {run} --stage {stage}",
            ),
        )
        for required_stages, state, reason, hint in gates:
            for required in required_stages:
                if not getattr(statuses[required], state):
                    raise GateError(
                        f"cannot {verb} {stage}: {required} {reason} "
                        f"(run: {hint.format(run=run_id, stage=required)})",
                        stage=stage,
                        missing_stage=required,
                        reason=reason,
                    )
        return {name: statuses[name].stage_id for name in rule.requires}  # type: ignore[misc]

    def _snapshot(self, run_id: str, spec: StageSpec, config: dict[str, Any] | None) -> Any:
        """The state outside the config that a stage's id covers (a database source's), if any."""
        if spec.snapshot is None:
            return None
        if config is None:
            config = self.stage_status(run_id, spec.name).config or {}
        return spec.snapshot(self.data_root, self._parse_config(spec, config))

    def _parse_config(self, spec: StageSpec, config: dict[str, Any]):  # type: ignore[no-untyped-def]
        try:
            return spec.config_model.model_validate(config)
        except ValidationError as exc:
            raise StageConfigError(
                _validation_message(spec.name, exc, list(spec.config_model.model_fields))
            ) from None

    def _inputs(
        self,
        run_id: str,
        stage: str,
        stage_id: str,
        upstream: dict[str, str],
        statuses: dict[str, StageStatus],
        log=None,  # type: ignore[no-untyped-def]
    ) -> StageInputs:
        from dat_pipeline.dat.stages import StageInputs

        return StageInputs(
            run_id=run_id,
            stage=stage,
            stage_id=stage_id,
            data_root=self.data_root,
            artifacts=self.artifacts,
            upstream_ids=upstream,
            upstream_configs={name: statuses[name].config or {} for name in upstream},
            locked_ids={s.stage: s.stage_id for s in statuses.values() if s.locked and s.stage_id},
            log=log or (lambda _message: None),
        )

    def _unlock_many(
        self,
        connection: Connection,
        statuses: dict[str, StageStatus],
        stages: tuple[str, ...],
        cause: str,
    ) -> list[str]:
        unlocked = []
        now = utc_now()
        for stage in stages:
            current = statuses[stage]
            if not current.locked:
                continue
            self.store.put_status(
                connection,
                replace(current, state="UNLOCKED", unlocked_at=now),
            )
            self._append(
                connection, current.run_id, "unlock", stage, current.stage_id, {"cause": cause}
            )
            unlocked.append(stage)
        return unlocked
