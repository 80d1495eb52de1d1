"""What a stage is: a config model, an optional lock-time check and a compute function.

Adding a stage is one module that defines a `StageSpec` plus one entry in `stages/__init__.py`
(and in the stage graph). The workflow does the rest: gating, ids, artifacts, events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import polars as pl
from pydantic import BaseModel, ConfigDict

from dat_pipeline.dat.artifacts import ArtifactStore
from dat_pipeline.errors import DatError, GateError


class UpstreamNotReadyError(GateError):
    """An upstream stage is locked but its artifact has not been materialized yet."""


class StageCancelledError(DatError):
    """The run was cancelled while the stage computed."""


class StageConfig(BaseModel):
    """Base of every stage config: unknown keys are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


ConfigT = TypeVar("ConfigT", bound=StageConfig)


@dataclass
class StageInputs:
    """What a stage sees when it is checked or computed: the run, the data root, its upstream."""

    run_id: str
    stage: str
    stage_id: str
    data_root: Path
    artifacts: ArtifactStore
    upstream_ids: dict[str, str]
    upstream_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Stage ids of every locked stage of the run (lineage of what an export produced).
    locked_ids: dict[str, str] = field(default_factory=dict)
    # The profile the run was created from (the export manifest records it).
    profile_id: str | None = None
    log: Callable[[str], None] = lambda _message: None
    cancelled: Callable[[], bool] = lambda: False
    # Structured progress of long stages (parse: tables_done, tables_total, rows, percent), at
    # most once per second; the Dagster asset may forward it as events.
    progress: Callable[[dict[str, Any]], None] = lambda _progress: None

    def raise_if_cancelled(self) -> None:
        """Long stages call this between chunks: `dat cancel RUN` stops them there."""
        if self.cancelled():
            raise StageCancelledError(
                f"{self.stage} of run {self.run_id} was cancelled; completed work is kept "
                f"(resume with: dat materialize {self.run_id} --stage {self.stage})"
            )

    def upstream(self, stage: str) -> pl.DataFrame:
        """The artifact of an upstream stage this stage is gated on."""
        stage_id = self.upstream_ids[stage]
        if not self.artifacts.exists(self.run_id, stage, stage_id):
            raise UpstreamNotReadyError(
                f"{self.stage} needs the artifact of {stage} ({stage_id}), which is not "
                f"materialized yet (run: dat materialize {self.run_id} --stage {stage})"
            )
        return self.artifacts.read(self.run_id, stage, stage_id)

    @property
    def work_dir(self) -> Path:
        return self.artifacts.work_dir(self.run_id, self.stage, self.stage_id)


@dataclass(frozen=True)
class StageSpec(Generic[ConfigT]):
    name: str
    config_model: type[ConfigT]
    compute: Callable[[StageInputs, ConfigT], pl.DataFrame]
    check: Callable[[StageInputs, ConfigT], None] | None = None
    # State outside the config that identifies the inputs (a database source's snapshot): part
    # of the stage id, so a changed source gives a new id at the next lock.
    snapshot: Callable[[Path, ConfigT], Any] | None = None
    description: str = ""
