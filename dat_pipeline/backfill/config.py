"""`backfill.yaml`: which database tables become time-window partitioned assets.

Reading it is the only I/O the Dagster code location does for backfills. A table's `source` is
either the name of a stored database source (`dat sources add`) or an inline source without a
password (e.g. `{kind: duckdb, database: demo/trades.duckdb}`, a path under the data root).
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dat_pipeline.backfill.windows import Granularity, as_utc
from dat_pipeline.errors import DatError, NotFoundError
from dat_pipeline.reverse_etl.constraints import parse_constraint

CONFIG_ENV = "DAT_BACKFILL_CONFIG"
DEFAULT_CONFIG = "backfill.yaml"
CODE_VERSION = "1"


class BackfillConfigError(DatError):
    """backfill.yaml does not parse or validate."""


class BackfillTableConfig(BaseModel):
    """One table to backfill window by window."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(description="Asset name and folder under data/backfill/ (a-z, 0-9, _).")
    source: str | dict[str, Any] = Field(description="A stored source name or an inline source.")
    table: str = Field(description="The database table (checked against the catalog).")
    db_schema: str | None = Field(None, alias="schema", description="Schema; default the source's.")
    time_column: str = Field(description="The column windows are cut on.")
    granularity: Granularity = "daily"
    start: datetime = Field(description="The first window starts at the first boundary from here.")
    end: datetime | None = Field(None, description="No windows after this (default: open).")
    constraints: tuple[str, ...] = Field((), description="COLUMN:NAME[:ARGS] constraints.")
    sample_size: int = Field(1000, ge=1, le=1_000_000)
    threshold: float = Field(
        0.99, ge=0.0, le=1.0, description="Minimum share of valid sample rows."
    )
    max_partitions_per_run: int = Field(7, ge=1, le=1000)
    chunk_rows: int = Field(50_000, ge=1, le=5_000_000)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not value or not value.replace("_", "a").isalnum() or not value[0].isalpha():
            raise ValueError(f"name {value!r}: use letters, digits and _, starting with a letter")
        return value.lower()

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    @field_validator("constraints")
    @classmethod
    def _parse_constraints(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            parse_constraint(item)
        return value

    @model_validator(mode="after")
    def _check_range(self) -> BackfillTableConfig:
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end {self.end} is not after start {self.start}")
        return self

    @property
    def code_version(self) -> str:
        """Changes when the table's config changes: stale windows show as such in the UI."""
        body = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return f"{CODE_VERSION}-{hashlib.sha256(body.encode()).hexdigest()[:12]}"


class BackfillConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tables: tuple[BackfillTableConfig, ...] = ()

    @model_validator(mode="after")
    def _unique_names(self) -> BackfillConfig:
        names = [t.name for t in self.tables]
        doubles = sorted({n for n in names if names.count(n) > 1})
        if doubles:
            raise ValueError(f"table names must be unique; repeated: {', '.join(doubles)}")
        return self

    def table(self, name: str) -> BackfillTableConfig:
        for table in self.tables:
            if table.name == name:
                return table
        known = ", ".join(t.name for t in self.tables) or "none"
        raise NotFoundError(f"no table {name!r} in backfill.yaml (configured: {known})")


def config_path(path: Path | str | None = None) -> Path:
    return Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG).expanduser().resolve()


def load_config(path: Path | str | None = None, *, missing_ok: bool = False) -> BackfillConfig:
    """Read and validate backfill.yaml (`DAT_BACKFILL_CONFIG`, default ./backfill.yaml)."""
    file = config_path(path)
    if not file.is_file():
        if missing_ok:
            return BackfillConfig()
        raise BackfillConfigError(f"{file} does not exist; create it or set {CONFIG_ENV}")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise BackfillConfigError(f"{file} is not valid YAML: {str(exc).splitlines()[0]}") from None
    try:
        return BackfillConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise BackfillConfigError(f"{file}: {problems}") from None
    except DatError as exc:
        raise BackfillConfigError(f"{file}: {exc}") from None
