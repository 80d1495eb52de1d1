"""Request and response bodies of the HTTP API; the response shapes are the `dat ... --json` ones."""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dat_pipeline.dat.graph import DEFAULT_GRAPH

RUN_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"

StageName = Enum("StageName", {stage: stage for stage in DEFAULT_GRAPH.order}, type=str)  # type: ignore[misc]
StageName.__doc__ = "A stage of the DAT graph."


class Run(BaseModel):
    run_id: str = Field(examples=["q1-sales-3fa2c1"])
    name: str = Field(examples=["Q1 Sales"])
    profile_id: str | None = Field(None, examples=["prof_1a2b3c4d"])
    follow: bool = Field(description="Downstream stages re-lock when an upstream stage changes.")
    created_at: str = Field(examples=["2024-05-01T09:30:00.000000+00:00"])
    project: str = Field(description="The project the run belongs to.", examples=["default"])


class RunCreate(BaseModel):
    name: str | None = Field(
        None, max_length=200, description="Human name; the run id derives from it."
    )
    profile: str | None = Field(
        None, max_length=200, description="Extraction profile id or name; pre-fills stage configs."
    )
    follow: bool = Field(False, description="Re-lock downstream stages when upstream changes.")
    project: str | None = Field(
        None,
        max_length=63,
        description="Project of the run; default: the token's project when it has only one.",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Q1 Sales"}, {"profile": "monthly-sales"}]},
    )


class RunList(BaseModel):
    runs: list[Run]


class StageStatus(BaseModel):
    stage: str = Field(examples=["discovery"])
    state: str = Field(description="LOCKED or UNLOCKED.", examples=["LOCKED"])
    stage_id: str | None = Field(None, examples=["discovery_1a2b3c4d"])
    locked_at: str | None = None
    completed: bool = Field(description="The artifact of the locked stage id exists.")
    error: str | None = Field(None, description="Last failure of this stage id, if any.")
    artifact: str | None = Field(None, description="Path of the Parquet artifact, once written.")
    config: dict[str, Any] | None = Field(None, description="The kept stage config.")


class RunDetail(Run):
    stages: list[StageStatus]


class RunStatus(BaseModel):
    run_id: str
    stages: list[StageStatus]


class LockRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"config": {"root": "sample", "include": ["*.csv"]}},
                {"config": {"files": ["sample/sales_2024_q1.csv"]}},
                {"config": None},
            ]
        },
    )

    config: dict[str, Any] | None = Field(
        None,
        description="The stage config (GET /api/dat/stages has each stage's schema); null or "
        "omitted: the config kept from the last lock or the run's profile.",
    )


class Unlocked(BaseModel):
    unlocked: list[str] = Field(description="Stages that were locked and are now unlocked.")


class StageInfo(BaseModel):
    stage: str
    description: str
    requires: list[str] = Field(description="Stages that must be locked first.")
    requires_completed: list[str] = Field(description="Stages that must have completed first.")
    optional: bool = Field(description="Can be skipped.")
    cascades: list[str] = Field(description="Stages unlocked together with this one.")
    config_schema: dict[str, Any] = Field(description="JSON schema of the stage config.")


class StageGraph(BaseModel):
    stages: list[StageInfo]


class Artifact(BaseModel):
    stage: str
    stage_id: str | None
    row_count: int
    rows: list[dict[str, Any]] = Field(description="The first `limit` rows.")


class Event(BaseModel):
    seq: int
    run_id: str
    stage: str | None
    kind: str = Field(examples=["lock"])
    stage_id: str | None
    detail: dict[str, Any]
    at: str


class Events(BaseModel):
    run_id: str
    events: list[Event]


class Job(BaseModel):
    job_id: str = Field(description="The Dagster run id.")
    status: str = Field(description="Dagster run status.", examples=["STARTED", "SUCCESS"])
    run_id: str | None = Field(None, description="The DAT run.")
    stages: list[str]
    started_at: float | None = Field(None, description="Unix time.")
    ended_at: float | None = Field(None, description="Unix time.")
    errors: list[str] = Field(description="First line of each step failure.")


class MaterializeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: StageName | None = Field(  # type: ignore[valid-type]
        None, description="Only this stage (it must be locked); default: every pending stage."
    )


class Materialized(BaseModel):
    run_id: str
    materialized: list[str] = Field(description="Stages the job materializes, in graph order.")
    job: Job | None = Field(None, description="The Dagster run; null when nothing was pending.")


class Cancelled(BaseModel):
    run_id: str
    cancel_event: int
    dagster_runs: list[dict[str, Any]]


class CleanupItem(BaseModel):
    path: str = Field(description="Relative to the data root.")
    bytes: int
    reason: str


class Cleanup(BaseModel):
    run_id: str
    applied: bool
    items: list[CleanupItem]
    count: int
    bytes: int


class Export(BaseModel):
    dataset_id: str = Field(examples=["ds_1a2b3c4d"])
    name: str
    row_count: int
    manifest_path: str
    formats: list[str]
    files: dict[str, str] = Field(description="Format -> path relative to the data root.")
    manifest: dict[str, Any]


class Profile(BaseModel):
    profile_id: str = Field(examples=["prof_1a2b3c4d"])
    name: str | None
    current: bool
    superseded_by: str | None
    created_at: str
    updated_at: str
    profile: dict[str, Any] = Field(description="The profile body.")
    stage_configs: dict[str, dict[str, Any]] = Field(description="Configs it pre-fills.")


class ProfileSaved(Profile):
    created: bool = Field(description="False when the same body already existed.")


class ProfileReplaced(Profile):
    previous_id: str
    changed: bool


class ProfileList(BaseModel):
    profiles: list[Profile]


class Deleted(BaseModel):
    deleted: list[str]


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    version: str
    schema_version: int
