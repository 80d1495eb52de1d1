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
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

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
    Column("created_at", String(40), nullable=False),
)

stage_status = Table(
    "dat_stage_status",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("stage", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("stage_id", String(96)),
    Column("config", Text),
    Column("locked_at", String(40)),
    Column("unlocked_at", String(40)),
    Column("completed", Boolean, nullable=False, default=False),
    Column("error", Text),
)

events = Table(
    "dat_events",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("run_id", String(64), nullable=False),
    Column("stage", String(64)),
    Column("kind", String(32), nullable=False),
    Column("stage_id", String(96)),
    Column("detail", Text, nullable=False, default="{}"),
    Column("at", String(40), nullable=False),
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
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
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
    Column("created_at", String(40), nullable=False),
)


def _create_v1(connection: Connection) -> None:
    metadata.create_all(connection, tables=[runs, stage_status, events])


def _create_v2(connection: Connection) -> None:
    metadata.create_all(connection, tables=[profiles])


def _create_v3(connection: Connection) -> None:
    metadata.create_all(connection, tables=[analysis_sources])


MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: _create_v1,
    2: _create_v2,
    3: _create_v3,
}
SCHEMA_VERSION = max(MIGRATIONS)
