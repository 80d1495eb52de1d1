"""Extraction profiles (SPEC 1.5): saved, reusable stage configs that pre-fill a new run.

A profile holds what a data engineer repeats from one run to the next: where to discover files
(root, include/exclude globs), which tables to take (fnmatch patterns), column mappings, cleaning
rules, aggregation levels and export formats.

Ids. `profile_id = "prof_" + sha256(canonical JSON of the body)[:8]` (`ids.profile_id`), where the
body is the validated profile, name included, with fields at their default value left out, so a
field added later with a default does not change existing ids. Validation normalizes what carries
no meaning (glob and format order, duplicates, rule spelling such as `not_null` vs `NOT_NULL` and
the default severity), so the same profile gives the same id on any machine. The name is part of
the body: two profiles with different names are two profiles, and `show NAME` and `show ID` both
work without ambiguity.

Versions. A body is never edited in place, which is what keeps runs reproducible: a run records
the profile id it was created from, and that id always shows the exact body. `update_profile`
inserts the new body under its new id and moves the name to it; the old version keeps its id
(`get_profile(old_id)` still works) with no name and `superseded_by` set. Updating back to an
older body reactivates that version's id.

Pre-filling a run. `stage_configs` gives the configs that are known before any data is read
(discovery, context, export); `create_run_from_profile` keeps them on the new run
(`DatWorkflow.prefill`), so a bare `lock(run, stage, None)` uses them. The table selection
depends on what table_availability found, so it is resolved later: once table_availability has
an artifact, `prefill_table_selection(workflow, run_id)` matches the profile's table patterns
against it (`table_selection_config`) and keeps the result, after which
`lock(run, "table_selection", None)` works like the other stages.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Connection, delete, insert, select, update

from dat_pipeline import ids
from dat_pipeline.cleaning import RuleError, parse_rules
from dat_pipeline.dat.stages.tables import SELECTABLE_STATUSES
from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.errors import DatError, NotFoundError
from dat_pipeline.paths import PathEscapeError, normalize_relative
from dat_pipeline.store import ControlStore, RunRecord, utc_now
from dat_pipeline.store.schema import profiles as profiles_table

PROFILE_ID_PATTERN = re.compile(r"^prof_[0-9a-f]{8}$")


class ProfileError(DatError):
    """A profile that does not validate, or a name already used by another profile."""


def _unique(values: Iterable[str], what: str) -> list[str]:
    cleaned = []
    for value in values:
        text = value.strip()
        if not text:
            raise ValueError(f"{what} cannot contain an empty string")
        cleaned.append(text)
    return cleaned


class Profile(BaseModel):
    """An extraction profile: the body that is hashed into the profile id."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Unique human name.")
    description: str | None = Field(None, description="What the profile is for.")
    root: str = Field(".", description="Discovery folder, relative to the data root.")
    include: list[str] = Field(default_factory=lambda: ["*"], description="Globs to keep.")
    exclude: list[str] = Field(default_factory=list, description="Globs to drop.")
    recursive: bool = Field(True, description="Discovery walks sub-folders too.")
    table_patterns: list[str] = Field(
        default_factory=list,
        description="fnmatch patterns over 'file#table' or the table name; empty: every table.",
    )
    column_mappings: dict[str, str | None] = Field(
        default_factory=dict, description="Source column -> target name (null: drop the column)."
    )
    rules: list[dict[str, Any]] = Field(
        default_factory=list, description="Cleaning rules (SPEC 2.3), as in `dat rules templates`."
    )
    aggregation_levels: list[str] | None = Field(None, description="Columns to group by.")
    export_formats: list[str] = Field(
        default_factory=lambda: ["parquet"], description="Any of parquet, csv, excel, json."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        name = value.strip()
        if not name:
            raise ValueError("name cannot be blank")
        if PROFILE_ID_PATTERN.match(name):
            raise ValueError(f"name {name!r} looks like a profile id; pick another name")
        return name

    @field_validator("root")
    @classmethod
    def _root(cls, value: str) -> str:
        try:
            return normalize_relative(value)
        except PathEscapeError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("include", "exclude", "table_patterns")
    @classmethod
    def _globs(cls, values: list[str]) -> list[str]:
        # Order and repeats of globs change nothing, so they must not change the id either.
        return sorted(set(_unique(values, "a glob list")))

    @field_validator("column_mappings")
    @classmethod
    def _mappings(cls, mappings: dict[str, str | None]) -> dict[str, str | None]:
        seen: dict[str, str] = {}
        for source, target in sorted(mappings.items()):
            if not source.strip():
                raise ValueError("a mapped source column cannot be blank")
            if target is None:
                continue
            if not target.strip():
                raise ValueError(f"column {source!r} maps to a blank name (use null to drop it)")
            if target in seen:
                raise ValueError(
                    f"columns {seen[target]!r} and {source!r} both map to {target!r}; "
                    "a target name can be used once"
                )
            seen[target] = source
        return mappings

    @field_validator("rules")
    @classmethod
    def _rules(cls, raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            return [rule.model_dump(mode="json") for rule in parse_rules(raw)]
        except RuleError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("aggregation_levels")
    @classmethod
    def _levels(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        # Order is kept: it is the group-by order of the export.
        return list(dict.fromkeys(_unique(values, "aggregation_levels")))

    @field_validator("export_formats")
    @classmethod
    def _formats(cls, values: list[str]) -> list[str]:
        from dat_pipeline.dat.stages.export import FORMATS as EXPORT_FORMATS  # DuckDB, pyarrow

        formats = {value.strip().lower() for value in values}
        unknown = sorted(formats - set(EXPORT_FORMATS))
        if unknown:
            raise ValueError(
                f"unknown export format {', '.join(map(repr, unknown))}; "
                f"use {', '.join(EXPORT_FORMATS)}"
            )
        return sorted(formats)

    def body(self) -> dict[str, Any]:
        """The canonical body: what the id is computed over and what the store keeps."""
        return self.model_dump(mode="json", exclude_defaults=True)

    @property
    def profile_id(self) -> str:
        return ids.profile_id(self.body())


@dataclass(frozen=True)
class ProfileRecord:
    """A stored profile version; `name` is None once a newer version took it over."""

    profile_id: str
    name: str | None
    profile: Profile
    created_at: str
    updated_at: str
    superseded_by: str | None = None

    @property
    def current(self) -> bool:
        return self.superseded_by is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile_id": self.profile_id,
            "name": self.name,
            "current": self.current,
            "superseded_by": self.superseded_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "profile": self.profile.model_dump(mode="json"),
            "stage_configs": stage_configs(self.profile),
        }


def parse_profile(data: Any, source: str = "profile") -> Profile:
    """Validate a mapping (from YAML, JSON or options) into a Profile; errors name each field."""
    if not isinstance(data, dict):
        raise ProfileError(
            f"{source} must be a mapping of profile fields, got {type(data).__name__}"
        )
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'profile'}: "
            f"{err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        name = data.get("name")
        label = f"{source} {name!r}" if isinstance(name, str) else source
        raise ProfileError(f"invalid {label}: {problems}") from None


# -- store ------------------------------------------------------------------------------------
def _record(row: Any) -> ProfileRecord:
    return ProfileRecord(
        profile_id=row["profile_id"],
        name=row["name"],
        profile=Profile.model_validate(json.loads(row["body"])),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        superseded_by=row["superseded_by"],
    )


def _by_id(connection: Connection, profile_id: str) -> ProfileRecord | None:
    row = connection.execute(
        select(profiles_table).where(profiles_table.c.profile_id == profile_id)
    ).first()
    return _record(row._mapping) if row else None


def _by_name(connection: Connection, name: str) -> ProfileRecord | None:
    row = connection.execute(select(profiles_table).where(profiles_table.c.name == name)).first()
    return _record(row._mapping) if row else None


def _find(connection: Connection, id_or_name: str) -> ProfileRecord:
    key = id_or_name.strip()
    found = _by_id(connection, key) if PROFILE_ID_PATTERN.match(key) else _by_name(connection, key)
    if found is None:
        raise NotFoundError(
            f"unknown profile {id_or_name!r} (list profiles with: dat profiles list)"
        )
    return found


def _activate(connection: Connection, profile: Profile, now: str) -> ProfileRecord:
    """Make `profile` the current version under its name (insert it, or revive an old version)."""
    profile_id = profile.profile_id
    existing = _by_id(connection, profile_id)
    if existing is None:
        connection.execute(
            insert(profiles_table).values(
                profile_id=profile_id,
                name=profile.name,
                body=ids.canonical_json(profile.body()).decode("utf-8"),
                created_at=now,
                updated_at=now,
                superseded_by=None,
            )
        )
    else:
        connection.execute(
            update(profiles_table)
            .where(profiles_table.c.profile_id == profile_id)
            .values(name=profile.name, superseded_by=None, updated_at=now)
        )
    found = _by_id(connection, profile_id)
    assert found is not None
    return found


def _check_name_free(connection: Connection, name: str, allowed_id: str | None) -> None:
    holder = _by_name(connection, name)
    if holder is not None and holder.profile_id != allowed_id:
        raise ProfileError(
            f"profile name {name!r} is taken by {holder.profile_id} with a different body; "
            f"change it with: dat profiles update {name} --file FILE, or pick another name"
        )


def create_profile(store: ControlStore, profile: Profile) -> ProfileRecord:
    """Save `profile`; the same body again returns the existing record (same id)."""
    with store.write() as connection:
        existing = _by_id(connection, profile.profile_id)
        if existing is not None and existing.current:
            return existing
        _check_name_free(connection, profile.name, None)
        return _activate(connection, profile, utc_now())


def list_profiles(store: ControlStore, include_superseded: bool = False) -> list[ProfileRecord]:
    """Current profiles by name; with `include_superseded`, older versions too (oldest first)."""
    query = select(profiles_table)
    if not include_superseded:
        query = query.where(profiles_table.c.superseded_by.is_(None))
    with store.read() as connection:
        records = [_record(row._mapping) for row in connection.execute(query)]
    return sorted(records, key=lambda r: (r.name is None, r.name or "", r.created_at))


def get_profile(store: ControlStore, id_or_name: str) -> ProfileRecord:
    """The current profile with this name, or any version (old ones too) with this id."""
    with store.read() as connection:
        return _find(connection, id_or_name)


def get_profile_or_none(store: ControlStore, id_or_name: str) -> ProfileRecord | None:
    """Like `get_profile`, but None when there is no such profile."""
    try:
        return get_profile(store, id_or_name)
    except NotFoundError:
        return None


def update_profile(store: ControlStore, id_or_name: str, profile: Profile) -> ProfileRecord:
    """Replace a current profile's body: the new body gets its own id, the old version stays."""
    with store.write() as connection:
        current = _find(connection, id_or_name)
        if not current.current:
            raise ProfileError(
                f"profile {current.profile_id} is an old version (superseded by "
                f"{current.superseded_by}); update the current one instead"
            )
        new_id = profile.profile_id
        if new_id == current.profile_id:
            return current
        _check_name_free(connection, profile.name, current.profile_id)
        now = utc_now()
        # Free the name before the new version takes it: the column is unique.
        connection.execute(
            update(profiles_table)
            .where(profiles_table.c.profile_id == current.profile_id)
            .values(name=None, superseded_by=new_id, updated_at=now)
        )
        return _activate(connection, profile, now)


def delete_profile(store: ControlStore, id_or_name: str) -> list[str]:
    """Delete a profile with its older versions; returns the deleted ids. Runs keep their configs."""
    with store.write() as connection:
        target = _find(connection, id_or_name)
        doomed = {target.profile_id}
        if target.current:
            frontier = {target.profile_id}
            while frontier:
                rows = connection.execute(
                    select(profiles_table.c.profile_id).where(
                        profiles_table.c.superseded_by.in_(sorted(frontier))
                    )
                )
                frontier = {row[0] for row in rows} - doomed
                doomed |= frontier
        connection.execute(
            delete(profiles_table).where(profiles_table.c.profile_id.in_(sorted(doomed)))
        )
        return sorted(doomed)


# -- pre-filling runs -------------------------------------------------------------------------
def stage_configs(profile: Profile) -> dict[str, dict[str, Any]]:
    """The stage configs a profile fixes before any data is read (table_selection comes later)."""
    configs: dict[str, dict[str, Any]] = {
        "discovery": {
            "root": profile.root,
            "include": profile.include,
            "exclude": profile.exclude,
            "recursive": profile.recursive,
        },
    }
    context = {
        "description": profile.description,
        "aggregation_levels": profile.aggregation_levels,
        # The context stage records renames only; dropped columns live in table_selection.
        "column_mappings": {k: v for k, v in profile.column_mappings.items() if v is not None}
        or None,
    }
    context = {key: value for key, value in context.items() if value is not None}
    if context:
        configs["context"] = context
    export: dict[str, Any] = {"formats": profile.export_formats}
    if profile.aggregation_levels is not None:
        export["aggregation_levels"] = profile.aggregation_levels
    configs["export"] = export
    return configs


def matching_tables(patterns: list[str], availability: pl.DataFrame) -> dict[str, list[str]]:
    """Selectable tables of `availability` that match a pattern over 'file#table' or the table."""
    rows = availability.filter(
        pl.col("table").is_not_null() & pl.col("status").is_in(SELECTABLE_STATUSES)
    )
    chosen: dict[str, list[str]] = {}
    for file, table in rows.select("path", "table").iter_rows():
        if not patterns or any(
            fnmatch.fnmatchcase(f"{file}#{table}", p) or fnmatch.fnmatchcase(table, p)
            for p in patterns
        ):
            chosen.setdefault(file, []).append(table)
    return {file: sorted(set(tables)) for file, tables in sorted(chosen.items())}


def table_selection_config(profile: Profile, availability: pl.DataFrame) -> dict[str, Any]:
    """The table_selection config of `profile` against a table_availability artifact."""
    tables = matching_tables(profile.table_patterns, availability)
    if not tables:
        patterns = ", ".join(profile.table_patterns) or "(any)"
        raise ProfileError(
            f"profile {profile.name!r}: no available table matches the table patterns {patterns}; "
            "check table_availability or update the profile's table_patterns"
        )
    config: dict[str, Any] = {"tables": tables}
    if profile.column_mappings:
        config["column_mappings"] = profile.column_mappings
    if profile.rules:
        config["rules"] = profile.rules
    return config


def _check_configs(workflow: DatWorkflow, configs: dict[str, dict[str, Any]], label: str) -> None:
    for stage, config in configs.items():
        try:
            workflow.stages[stage].config_model.model_validate(config)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ProfileError(
                f"profile {label}: its {stage} config is invalid: {problems}"
            ) from None


def create_run_from_profile(
    workflow: DatWorkflow, profile_id_or_name: str, name: str | None = None, follow: bool = True
) -> RunRecord:
    """Create a run that records the profile id, with the profile's stage configs kept.

    Runs from a profile follow upstream re-locks by default (SPEC 1.6). Only stages that exist in
    `workflow.stages` are pre-filled; table_selection is pre-filled by `prefill_table_selection`.
    """
    record = get_profile(workflow.store, profile_id_or_name)
    configs = {
        stage: config
        for stage, config in stage_configs(record.profile).items()
        if stage in workflow.stages
    }
    # Validate before the run exists, so a bad profile leaves no half-made run behind.
    _check_configs(workflow, configs, record.profile_id)
    run = workflow.create_run(
        name=name or record.profile.name, profile_id=record.profile_id, follow=follow
    )
    if configs:
        workflow.prefill(run.run_id, configs)
    return run


def prefill_table_selection(workflow: DatWorkflow, run_id: str) -> dict[str, Any] | None:
    """Keep the table_selection config of the run's profile once table_availability has data.

    Returns the kept config, or None when the run has no profile, the stage does not exist, or
    table_selection is locked already. Raises when no available table matches the patterns.
    """
    run = workflow.get_run(run_id)
    if run.profile_id is None or "table_selection" not in workflow.stages:
        return None
    if workflow.stage_status(run_id, "table_selection").locked:
        return None
    profile = get_profile(workflow.store, run.profile_id).profile
    availability = workflow.load_artifact(run_id, "table_availability")
    config = table_selection_config(profile, availability)
    _check_configs(workflow, {"table_selection": config}, run.profile_id)
    workflow.prefill(run_id, {"table_selection": config})
    return config
