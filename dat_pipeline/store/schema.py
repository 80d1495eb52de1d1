"""Tables of the control store and their versioned migrations.

Every change to the schema is a new entry in `MIGRATIONS`; the store applies the missing ones on
first use, under the store's write lock, so two processes opening a new store do not race.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()


def _time(name: str, nullable: bool = False) -> Column:
    """A moment as ISO-8601 UTC text (`utc_now()`): it sorts in time order on every dialect."""
    return Column(name, String(40), nullable=nullable)


def _seq() -> Column:
    """The order of an append-only log: BIGINT, INTEGER on SQLite so that it autoincrements."""
    return Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )


meta = Table(
    "dat_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "dat_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("profile_id", String(64)),
    Column("follow", Boolean, nullable=False, default=False),
    _time("created_at"),
)

stage_status = Table(
    "dat_stage_status",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("stage", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("stage_id", String(96)),
    Column("config", Text),
    _time("locked_at", nullable=True),
    _time("unlocked_at", nullable=True),
    Column("completed", Boolean, nullable=False, default=False),
    Column("error", Text),
)

events = Table(
    "dat_events",
    metadata,
    _seq(),
    Column("run_id", String(64), nullable=False),
    Column("stage", String(64)),
    Column("kind", String(32), nullable=False),
    Column("stage_id", String(96)),
    Column("detail", Text, nullable=False, default="{}"),
    _time("at"),
    Index("ix_dat_events_run", "run_id", "seq"),
)


# Extraction profiles (SPEC 1.5). Ids are content hashes, so a body is never edited in place: an
# update inserts the new version and the old row keeps its id (runs refer to it) with `name` set
# to NULL and `superseded_by` pointing at its successor; a unique column allows many NULLs.
profiles = Table(
    "dat_profiles",
    metadata,
    Column("profile_id", String(64), primary_key=True),
    Column("name", String(200), unique=True),
    Column("body", Text, nullable=False),
    _time("created_at"),
    _time("updated_at"),
    Column("superseded_by", String(64)),
)


# Analysis sources (SPEC 4): a named set of tables, one dynamic partition of `sources` each.
analysis_sources = Table(
    "analysis_sources",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("location", Text, nullable=False),
    Column("follow", Boolean, nullable=False, default=False),
    Column("options", Text, nullable=False, default="{}"),
    _time("created_at"),
)


# Ingestion (SPEC 2.1, 2.4): database sources (password Fernet-encrypted, never in clear), uploaded
# files (one row per project and checksum), and ingestion jobs with their log lines.
db_sources = Table(
    "db_sources",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("host", String(255)),
    Column("port", Integer),
    Column("database", Text, nullable=False),
    Column("user", String(255)),
    Column("password_encrypted", Text),
    Column("table_name", Text),
    Column("query", Text),
    Column("project", String(64)),
    _time("created_at"),
)

ingest_uploads = Table(
    "ingest_uploads",
    metadata,
    Column("upload_id", String(64), primary_key=True),
    Column("project", String(64), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("filename", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("format", String(32), nullable=False),
    Column("row_count", BigInteger),
    Column("tables", Text, nullable=False, default="[]"),
    _time("created_at"),
    Index("ux_ingest_uploads_checksum", "project", "sha256", unique=True),
)

ingest_jobs = Table(
    "ingest_jobs",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("mode", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("project", String(64), nullable=False),
    Column("source", Text, nullable=False),
    Column("request", Text, nullable=False, default="{}"),
    Column("progress", Integer, nullable=False, default=0),
    Column("rows_processed", BigInteger, nullable=False, default=0),
    Column("result", Text),
    Column("error", Text),
    _time("created_at"),
    _time("updated_at"),
)

ingest_job_logs = Table(
    "ingest_job_logs",
    metadata,
    _seq(),
    Column("job_id", String(64), nullable=False),
    Column("level", String(8), nullable=False),
    Column("message", Text, nullable=False),
    _time("at"),
    Index("ix_ingest_job_logs_job", "job_id", "seq"),
)


# HTTP API (SPEC 9): bearer tokens, stored as salted scrypt hashes (the secret is shown once), and
# the project of each run created through the API; a run with no row here belongs to `default`.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("projects", Text, nullable=False),
    Column("label", String(200)),
    Column("salt", String(64), nullable=False),
    Column("hash", String(128), nullable=False),
    _time("created_at"),
    _time("revoked_at", nullable=True),
)


def _project_of(name: str, key: str) -> Table:
    """A table giving the project of each `key` (a run, an analysis source) made via the API."""
    return Table(
        name,
        metadata,
        Column(key, String(64), primary_key=True),
        Column("project", String(64), nullable=False),
        Index(f"ix_{name}_project", "project"),
    )


api_run_projects = _project_of("api_run_projects", "run_id")


# Backfill manifest (SPEC 3): one append-only audit record per extracted (or refused) window.
backfill_manifest = Table(
    "backfill_manifest",
    metadata,
    Column("manifest_id", String(32), primary_key=True),
    Column("table_name", String(64), nullable=False),
    Column("window_key", String(32), nullable=False),
    _time("window_start"),
    _time("window_end"),
    Column("rows", BigInteger, nullable=False, default=0),
    Column("checksum", String(64)),
    Column("path", Text),
    Column("duration_s", Float, nullable=False, default=0.0),
    Column("status", String(16), nullable=False),
    Column("errors", Text, nullable=False, default="[]"),
    Column("code_version", String(64), nullable=False),
    Column("run_id", String(64)),
    _time("created_at"),
    Index("ix_backfill_manifest_table", "table_name", "window_key", "created_at"),
)


# HTTP API: the project of each analysis source added through the API (SPEC 9); a source with no
# row here (added by the CLI) belongs to `default`.
api_analysis_source_projects = _project_of("api_analysis_source_projects", "source")


# Named cleaning rule sets of a project (SPEC 2.2, the ingestion wizard): the YAML as written
# and its rules as JSON; `version` counts saves of that name. Sets once kept as files under
# uploads/<project>/rulesets/ are moved in on first use (`ingestion.rulesets`).
ingest_rule_sets = Table(
    "ingest_rule_sets",
    metadata,
    Column("project", String(64), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("version", Integer, nullable=False, default=1),
    Column("rules", Text, nullable=False, default="[]"),
    Column("rules_yaml", Text, nullable=False),
    _time("updated_at"),
)


def _create(*tables: Table) -> Callable[[Connection], None]:
    """A migration that adds `tables`."""

    def migrate(connection: Connection) -> None:
        metadata.create_all(connection, tables=list(tables))

    return migrate


MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: _create(runs, stage_status, events),
    2: _create(profiles),
    3: _create(analysis_sources),
    4: _create(db_sources, ingest_uploads, ingest_jobs, ingest_job_logs),
    5: _create(api_tokens, api_run_projects),
    6: _create(backfill_manifest),
    7: _create(api_analysis_source_projects),
    8: _create(ingest_rule_sets),
}
SCHEMA_VERSION = max(MIGRATIONS)
