"""discovery: walk a folder of the data root and catalog every file it finds, and the tables of
a registered database source.

The catalog records, per file, its path relative to the data root, size, modified time, the
format detected from content and extension, the adapter that reads it, and whether it is readable
(with the reason when it is not). Nothing is read beyond a few KB per file. With `source`, each
table of that database source (default schema) is an entry `db://SOURCE/TABLE` of format the
source's kind and adapter `database`, dated when the snapshot was taken; `source` alone catalogs
no file. The state of what is catalogued is part of the stage id (`snapshot`): the files' paths,
sizes and modification times, and the source's row counts and latest updated-at values
(`catalog_source`); so a dropped or changed file, or a changed table, gives a new id at the next
lock, and an unchanged one reuses the catalog.
"""

from __future__ import annotations

import fnmatch
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import Field, field_validator, model_validator

from dat_pipeline.adapters.registry import detect
from dat_pipeline.dat.stages.base import StageConfig, StageInputs, StageSpec
from dat_pipeline.errors import DatError, StageConfigError
from dat_pipeline.ids import short_hash
from dat_pipeline.paths import PathEscapeError, normalize_relative, resolve_inside

CATALOG_SCHEMA = {
    "path": pl.String,
    "size_bytes": pl.Int64,
    "modified_at": pl.Datetime("us", "UTC"),
    "format": pl.String,
    "adapter": pl.String,
    "readable": pl.Boolean,
    "reason": pl.String,
}


class DiscoveryConfig(StageConfig):
    root: str | None = Field(
        ".", description="Folder to walk, relative to the data root (none with `source` alone)."
    )
    source: str | None = Field(
        None,
        description="A registered database source whose tables to catalog (db://SOURCE/TABLE).",
    )
    include: list[str] = Field(default_factory=lambda: ["*"], description="Globs to keep.")
    exclude: list[str] = Field(default_factory=list, description="Globs to drop.")
    recursive: bool = Field(True, description="Walk sub-folders too.")

    @model_validator(mode="before")
    @classmethod
    def _source_alone(cls, data: Any) -> Any:
        """`{source: NAME}` alone catalogs the source's tables and no folder."""
        if isinstance(data, dict) and data.get("source") and "root" not in data:
            return {**data, "root": None}
        return data

    @field_validator("root")
    @classmethod
    def _relative_root(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalize_relative(value)
        except PathEscapeError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _something(self) -> DiscoveryConfig:
        if self.root is None and self.source is None:
            raise ValueError("give a root folder, a database source, or both")
        return self


def _matches(relative: str, patterns: list[str]) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(relative, p) or fnmatch.fnmatchcase(name, p) for p in patterns)


def _walk(folder: Path, recursive: bool) -> list[Path]:
    if not recursive:
        return sorted(p for p in folder.iterdir() if p.is_file() or p.is_symlink())
    found: list[Path] = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(current) / name for name in files)
    return sorted(found)


def check(inputs: StageInputs, config: DiscoveryConfig) -> None:
    # The source is checked by `snapshot`, which reads it before the lock's write transaction.
    if config.root is None:
        return
    try:
        folder = resolve_inside(inputs.data_root, config.root)
    except PathEscapeError as exc:
        raise StageConfigError(f"discovery root: {exc}") from None
    if not folder.is_dir():
        raise StageConfigError(
            f"discovery root {config.root!r} is not a folder under the data root {inputs.data_root}"
        )


def _source_tables(config: DiscoveryConfig) -> tuple[list[str], dict[str, Any]]:
    from dat_pipeline.adapters.database import catalog_source  # only for a database source

    assert config.source is not None
    source = config.source
    try:
        return catalog_source(
            source,
            lambda table: _matches(table, config.include) and not _matches(table, config.exclude),
        )
    except DatError as exc:
        raise StageConfigError(
            f"discovery source {source!r}: {exc} (see: dat sources list)"
        ) from None


def _folder_state(data_root: Path, config: DiscoveryConfig) -> str | None:
    """A digest of the catalogued files' paths, sizes and modification times."""
    root = Path(data_root).resolve()
    try:
        folder = resolve_inside(root, config.root or ".")
    except PathEscapeError:
        return None  # `check` reports it
    if not folder.is_dir():
        return None
    state = []
    for path in _walk(folder, config.recursive):
        within = path.relative_to(folder).as_posix()
        if path.name.startswith(".") or not _matches(within, config.include):
            continue
        if _matches(within, config.exclude):
            continue
        try:
            stat = path.stat()
        except OSError:
            continue
        state.append([within, stat.st_size, stat.st_mtime_ns])
    return short_hash(state)


def snapshot(data_root: Path, config: DiscoveryConfig) -> dict[str, Any]:
    """What besides the config identifies a catalog: the state of the files under the root
    (a dropped, changed or removed file gives a new id) and the database source's snapshot."""
    state: dict[str, Any] = {}
    if config.root is not None:
        state["files"] = _folder_state(data_root, config)
    if config.source is not None:
        state["source"] = _source_tables(config)[1]
    return state


def catalog_tables(config: DiscoveryConfig) -> pl.DataFrame:
    """One catalog entry per table of `config.source` that matches include and not exclude."""
    from dat_pipeline.adapters.database import db_path

    assert config.source is not None
    tables, state = _source_tables(config)
    taken_at = datetime.now(UTC)
    rows = [
        (db_path(config.source, table), None, taken_at, state["kind"], "database", True, None)
        for table in tables
    ]
    return pl.DataFrame(rows, schema=CATALOG_SCHEMA, orient="row")


def catalog_files(data_root: Path, config: DiscoveryConfig) -> pl.DataFrame:
    """The catalog of files under `config.root` that match include and not exclude."""
    assert config.root is not None
    root = Path(data_root).resolve()
    folder = resolve_inside(root, config.root)
    rows = []
    for path in _walk(folder, config.recursive):
        relative = path.relative_to(root).as_posix()
        within_root = path.relative_to(folder).as_posix()
        if path.name.startswith("."):
            continue
        if not _matches(within_root, config.include) or _matches(within_root, config.exclude):
            continue
        rows.append(_describe(root, relative))
    return pl.DataFrame(rows, schema=CATALOG_SCHEMA, orient="row")


def _describe(root: Path, relative: str) -> tuple:
    try:
        target = resolve_inside(root, relative)
    except PathEscapeError as exc:
        return (relative, None, None, None, None, False, str(exc))
    try:
        stat = target.stat()
    except OSError as exc:
        return (relative, None, None, None, None, False, f"cannot stat: {exc.strerror}")
    modified = datetime.fromtimestamp(stat.st_mtime, tz=UTC)
    found = detect(target)
    return (
        relative,
        stat.st_size,
        modified,
        found.format,
        found.adapter,
        found.readable,
        found.reason and found.reason.replace(str(target), relative),  # no server paths
    )


def compute(inputs: StageInputs, config: DiscoveryConfig) -> pl.DataFrame:
    parts = []
    if config.root is not None:
        files = catalog_files(inputs.data_root, config)
        unreadable = files.filter(~pl.col("readable")).height
        inputs.log(
            f"discovered {files.height} files under {config.root!r} ({unreadable} unreadable)"
        )
        parts.append(files)
    if config.source is not None:
        tables = catalog_tables(config)
        inputs.log(f"discovered {tables.height} tables of database source {config.source!r}")
        parts.append(tables)
    return pl.concat(parts)


SPEC = StageSpec(
    name="discovery",
    config_model=DiscoveryConfig,
    compute=compute,
    check=check,
    snapshot=snapshot,
    description=__doc__ or "",
)
