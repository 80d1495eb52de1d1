"""Request and response bodies of the HTTP API, in one module: a request body is named
`...Request`, a response body `...Public`. The response shapes are the documents the service
layer returns (the `dat ... --json` ones); an `Open` body may gain keys.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dat_pipeline.backfill.manifest import ManifestRecord
from dat_pipeline.dat.graph import load_graph
from dat_pipeline.settings import get_settings

StageName = Enum(  # type: ignore[misc]
    "StageName", {stage: stage for stage in load_graph(get_settings().stage_graph).order}, type=str
)
StageName.__doc__ = "A stage of the DAT graph."
MAX_CONCURRENCY = 16  # analysis phases at the same time


class Open(BaseModel):
    """A body that may gain keys in later versions."""

    model_config = ConfigDict(extra="allow")


# -- dat ------------------------------------------------------------------------------------------
class RunPublic(BaseModel):
    run_id: str = Field(examples=["q1-sales-3fa2c1"])
    name: str = Field(examples=["Q1 Sales"])
    profile_id: str | None = Field(None, examples=["prof_1a2b3c4d"])
    follow: bool = Field(description="Downstream stages re-lock when an upstream stage changes.")
    created_at: str = Field(examples=["2024-05-01T09:30:00.000000+00:00"])
    project: str = Field(description="The project the run belongs to.", examples=["default"])


class RunCreateRequest(BaseModel):
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


class RunListPublic(BaseModel):
    runs: list[RunPublic]


class StageStatusPublic(BaseModel):
    stage: str = Field(examples=["discovery"])
    state: str = Field(description="LOCKED or UNLOCKED.", examples=["LOCKED"])
    stage_id: str | None = Field(None, examples=["discovery_1a2b3c4d"])
    locked_at: str | None = None
    completed: bool = Field(description="The artifact of the locked stage id exists.")
    error: str | None = Field(None, description="Last failure of this stage id, if any.")
    artifact: str | None = Field(None, description="Path of the Parquet artifact, once written.")
    config: dict[str, Any] | None = Field(None, description="The kept stage config.")


class RunDetailPublic(RunPublic):
    stages: list[StageStatusPublic]


class RunStatusPublic(BaseModel):
    run_id: str
    stages: list[StageStatusPublic]


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


class UnlockedPublic(BaseModel):
    unlocked: list[str] = Field(description="Stages that were locked and are now unlocked.")


class StageInfoPublic(BaseModel):
    stage: str
    description: str
    requires: list[str] = Field(description="Stages that must be locked first.")
    requires_completed: list[str] = Field(description="Stages that must have completed first.")
    optional: bool = Field(description="Can be skipped.")
    cascades: list[str] = Field(description="Stages unlocked together with this one.")
    config_schema: dict[str, Any] = Field(description="JSON schema of the stage config.")


class StageGraphPublic(BaseModel):
    stages: list[StageInfoPublic]


class ArtifactPublic(BaseModel):
    stage: str
    stage_id: str | None
    row_count: int
    rows: list[dict[str, Any]] = Field(description="The first `limit` rows.")


class RunEventPublic(BaseModel):
    seq: int
    run_id: str
    stage: str | None
    kind: str = Field(examples=["lock"])
    stage_id: str | None
    detail: dict[str, Any]
    at: str


class RunEventsPublic(BaseModel):
    run_id: str
    events: list[RunEventPublic]


class DatJobPublic(BaseModel):
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


class MaterializedPublic(BaseModel):
    run_id: str
    materialized: list[str] = Field(description="Stages the job materializes, in graph order.")
    job: DatJobPublic | None = Field(
        None, description="The Dagster run; null when nothing was pending."
    )


class CancelledPublic(BaseModel):
    run_id: str
    cancel_event: int
    dagster_runs: list[dict[str, Any]]


class CleanupItemPublic(BaseModel):
    path: str = Field(description="Relative to the data root.")
    bytes: int
    reason: str


class CleanupPublic(BaseModel):
    run_id: str
    applied: bool
    items: list[CleanupItemPublic]
    count: int
    bytes: int


class ExportPublic(BaseModel):
    dataset_id: str = Field(examples=["ds_1a2b3c4d"])
    name: str
    row_count: int
    manifest_path: str
    formats: list[str]
    files: dict[str, str | list[str]] = Field(
        description="Format -> path relative to the data root (a list, one per table, when the "
        "dataset has several tables)."
    )
    manifest: dict[str, Any]


class ProfilePublic(BaseModel):
    profile_id: str = Field(examples=["prof_1a2b3c4d"])
    name: str | None
    current: bool
    superseded_by: str | None
    created_at: str
    updated_at: str
    profile: dict[str, Any] = Field(description="The profile body.")
    stage_configs: dict[str, dict[str, Any]] = Field(description="Configs it pre-fills.")


class ProfileSavedPublic(ProfilePublic):
    created: bool = Field(description="False when the same body already existed.")


class ProfileReplacedPublic(ProfilePublic):
    previous_id: str
    changed: bool


class ProfileListPublic(BaseModel):
    profiles: list[ProfilePublic]


class DeletedPublic(BaseModel):
    deleted: list[str]


class HealthPublic(BaseModel):
    status: str = Field(examples=["ok"])
    version: str
    schema_version: int


# -- analysis -------------------------------------------------------------------------------------
class AnalysisSourcePublic(BaseModel):
    name: str = Field(examples=["sales_2024"])
    kind: str = Field(description="folder or dataset.", examples=["folder"])
    location: str = Field(description="Folder or file relative to the data root, or a dataset id.")
    follow: bool = Field(description="Dataset sources: follow the newest export of that name.")
    options: dict[str, Any] = Field(description="Phase options, e.g. type_threshold.")
    created_at: str
    project: str = Field(description="The project the source belongs to.", examples=["default"])


class AnalysisSourceListPublic(BaseModel):
    sources: list[AnalysisSourcePublic]


class AnalysisSourceCreateRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {"name": "sales_2024", "from": "sample"},
                {"name": "q1_export", "from": "ds_1a2b3c4d", "follow": True},
            ]
        },
    )

    name: str = Field(max_length=63, description="Lowercase letters, digits and _.")
    from_: str = Field(
        alias="from",
        max_length=1000,
        description="A folder or file under the data root, or a DAT dataset id (ds_xxxxxxxx).",
    )
    follow: bool = Field(False, description="For a dataset: follow the newest export of its name.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Phase options (`--option key=value` of the CLI)."
    )
    project: str | None = Field(None, max_length=63, description="Default: the token's project.")


class AnalysisRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phase: str | None = Field(
        None, max_length=64, description="Run this phase and what it needs; default: every phase."
    )
    concurrency: int | None = Field(
        None,
        ge=1,
        le=MAX_CONCURRENCY,
        description="Phases run at the same time (processes); 1 runs them in the server's "
        "process; default: in process below 1 GiB of source files, else 2.",
    )


class AnalysisJobPublic(BaseModel):
    job_id: str = Field(description="The Dagster run id.")
    status: str = Field(description="Dagster run status.", examples=["STARTED", "SUCCESS"])
    source: str | None
    phases: list[str] = Field(description="The phases the run materializes.")
    started_at: float | None = Field(None, description="Unix time.")
    ended_at: float | None = Field(None, description="Unix time.")
    errors: list[str] = Field(description="First line of each step failure.")


class AnalysisRunAcceptedPublic(BaseModel):
    source: str
    phases: list[str] = Field(description="Phases the job runs (the others are unchanged).")
    job: AnalysisJobPublic | None = Field(
        None, description="The Dagster run; null when up to date."
    )
    run: dict[str, Any] | None = Field(
        None, description="When nothing had to run: the `dat analysis run --json` document."
    )


class PhaseStatusPublic(BaseModel):
    phase: str
    state: str = Field(description="ok, stale, missing, failed or blocked.")
    duration_s: float | None
    data_version: str | None
    finished_at: str | None
    error: str | None
    blocked_by: list[str]


class AnalysisStatusPublic(BaseModel):
    source: str
    phases: list[PhaseStatusPublic]


class AnalysisReportPublic(Open):
    """The report contract (issue 7): these keys always, more may be added."""

    source: str
    generated_at: str
    tables: list[dict[str, Any]]
    candidate_keys: list[dict[str, Any]]
    relationships: list[dict[str, Any]]
    correlations: list[dict[str, Any]]
    functional_dependencies: list[dict[str, Any]]
    temporal: list[dict[str, Any]]
    cycles: list[dict[str, Any]]
    turning_points: list[dict[str, Any]]
    slices: list[dict[str, Any]]
    topology: dict[str, Any]
    quality: dict[str, Any]
    validation: list[dict[str, Any]]
    phases: list[dict[str, Any]]


# -- backfill -------------------------------------------------------------------------------------
class BackfillTablePublic(Open):
    name: str = Field(examples=["trades"])
    source: str | dict[str, Any] = Field(description="A stored source name or an inline source.")
    table: str
    schema_: str | None = Field(None, alias="schema")
    time_column: str
    granularity: str = Field(examples=["daily"])
    start: str
    end: str | None
    constraints: list[str]
    max_partitions_per_run: int
    code_version: str


class BackfillTableListPublic(BaseModel):
    tables: list[BackfillTablePublic]


class PlannedWindowPublic(Open):
    window: str = Field(examples=["2024-01-01"])
    start: str
    end: str
    estimated_rows: int


class BackfillPlanPublic(Open):
    table: str
    source_table: str
    granularity: str
    start: str | None
    end: str | None
    windows: list[PlannedWindowPublic]
    window_count: int
    estimated_rows: int
    rows_without_time: int
    throughput_rows_per_s: float
    throughput_basis: str = Field(description="manifest (earlier windows) or sample.")
    max_partitions_per_run: int
    runs: int
    suggested_parallelism: int
    estimated_duration_s: float | None


class BackfillRunRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"start": "2024-01-01", "end": "2024-01-08"}]},
    )

    start: datetime = Field(description="First day or time (UTC).")
    end: datetime = Field(description="End (exclusive, UTC).")
    project: str | None = Field(
        None, max_length=63, description="Project to tag the backfill with; default: the token's."
    )


class BackfillSubmittedPublic(Open):
    table: str
    backfill_id: str = Field(description="The Dagster backfill id.", examples=["qwertyui"])
    windows: int
    first: str
    last: str
    max_partitions_per_run: int
    ui: str = Field(description="The backfill's page in the Dagster UI.")
    project: str


class BackfillRunPublic(BaseModel):
    job_id: str = Field(description="Dagster run id.")
    status: str


class BackfillPublic(Open):
    backfill_id: str
    status: str = Field(description="Dagster backfill status.", examples=["REQUESTED"])
    table: str | None
    title: str | None
    description: str | None
    created_at: float = Field(description="Unix time.")
    ended_at: float | None = Field(None, description="Unix time.")
    project: str
    runs: list[BackfillRunPublic] = Field(description="Runs the daemon launched so far.")


class WindowStatusPublic(Open):
    window: str
    start: str
    end: str
    state: str = Field(description="done, failed or missing.")
    rows: int | None
    errors: list[Any]


class BackfillStatusPublic(Open):
    table: str
    done: int
    failed: int
    missing: int
    windows: list[WindowStatusPublic]


class ManifestPublic(BaseModel):
    table: str
    records: list[ManifestRecord]


# -- ingestion ------------------------------------------------------------------------------------
class DatabaseSourcePublic(Open):
    name: str = Field(examples=["crm_prod"])
    kind: str = Field(examples=["postgresql"])
    host: str | None = None
    port: int | None = None
    database: str
    user: str | None = None
    password: str | None = Field(None, description="`********` when one is stored; never shown.")
    table: str | None = None
    query: str | None = None
    project: str | None = None


class DatabaseSourceCreateRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "crm_prod",
                    "kind": "postgresql",
                    "host": "db.internal",
                    "database": "crm",
                    "user": "reader",
                    "password": "s3cret",
                    "table": "public.customers",
                }
            ]
        },
    )

    name: str = Field(max_length=63, description="Lowercase letters, digits and _.")
    kind: str = Field(description="mysql | postgresql | sqlite | duckdb")
    host: str | None = Field(None, max_length=255)
    port: int | None = Field(None, ge=1, le=65535)
    database: str = Field(max_length=1000, description="Name, or a file under the data root.")
    user: str | None = Field(None, max_length=255)
    password: str | None = Field(
        None, max_length=1000, description="Encrypted at rest with DAT_ENCRYPTION_KEY."
    )
    table: str | None = Field(None, max_length=1000)
    query: str | None = Field(None, max_length=100_000)
    project: str | None = Field(None, max_length=63, description="Default: the token's project.")
    replace: bool = Field(False, description="Overwrite a source of that name.")


class SourceTestPublic(BaseModel):
    name: str
    ok: bool
    message: str


class SourceDeletedPublic(BaseModel):
    name: str
    deleted: bool


class UploadPublic(Open):
    upload_id: str = Field(examples=["up_0123456789abcdef"])
    project: str
    sha256: str
    filename: str
    path: str = Field(description="Relative to the data root.")
    size_bytes: int
    format: str
    row_count: int | None
    tables: list[str]
    created_at: str
    duplicate: bool = Field(description="The project already had this content (same checksum).")


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(max_length=200, description="UploadPublic id or database source name.")
    rules: str = Field("", max_length=100_000, description="Cleaning rules as YAML.")
    table: str | None = Field(None, max_length=1000)
    limit: int | None = Field(None, ge=1, le=10_000, description="At most DAT_PREVIEW_ROW_LIMIT.")
    mapping: dict[str, str | None] | None = Field(
        None, description="Field mapping: source column -> new name, or null to drop it."
    )


class PreviewPublic(Open):
    source: str
    table: str | None
    columns: dict[str, str]
    rules: list[str]
    rows: list[dict[str, Any]]
    rows_shown: int
    rows_kept: int
    rows_rejected: int


class IngestRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(max_length=200, description="UploadPublic id or database source name.")
    project: str | None = Field(None, max_length=63)
    table: str | None = Field(
        None, max_length=1000, description="One table (sheet); omitted: every readable table."
    )
    rules: str | None = Field(
        None, max_length=100_000, description="Rules YAML; default: uploads/<project>/rules.yaml."
    )
    mapping: dict[str, str | None] | None = Field(
        None, description="Field mapping: source column -> new name, or null to drop it."
    )


class IngestResultPublic(Open):
    mode: str = Field(description="`sync` (done, 200) or `queued` (a Dagster run, 202).")
    job_id: str
    status: str


class IngestionJobPublic(Open):
    job_id: str
    mode: str
    status: str
    project: str
    source: str
    progress: int
    rows_processed: int
    error: str | None
    created_at: str
    updated_at: str


class IngestionJobListPublic(BaseModel):
    jobs: list[IngestionJobPublic]


class LogLinePublic(BaseModel):
    seq: int
    at: str
    level: str
    message: str


class JobLogsPublic(BaseModel):
    job_id: str
    lines: list[LogLinePublic]


class RuleSetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: str = Field(max_length=100_000, description="Cleaning rules as YAML (validated).")
    project: str | None = Field(None, max_length=63, description="Default: the token's project.")
