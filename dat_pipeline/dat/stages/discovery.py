"""discovery: walk a folder of the data root and catalog every file it finds.

The catalog records, per file, its path relative to the data root, size, modified time, the
format detected from content and extension, the adapter that reads it, and whether it is readable
(with the reason when it is not). Nothing is read beyond a few KB per file.
"""

from __future__ import annotations

import fnmatch
import os
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from pydantic import Field, field_validator

from dat_pipeline.adapters.registry import detect
from dat_pipeline.dat.stages.base import StageConfig, StageInputs, StageSpec
from dat_pipeline.errors import StageConfigError
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
    root: str = Field(".", description="Folder to walk, relative to the data root.")
    include: list[str] = Field(default_factory=lambda: ["*"], description="Globs to keep.")
    exclude: list[str] = Field(default_factory=list, description="Globs to drop.")
    recursive: bool = Field(True, description="Walk sub-folders too.")

    @field_validator("root")
    @classmethod
    def _relative_root(cls, value: str) -> str:
        try:
            return normalize_relative(value)
        except PathEscapeError as exc:
            raise ValueError(str(exc)) from None


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
    try:
        folder = resolve_inside(inputs.data_root, config.root)
    except PathEscapeError as exc:
        raise StageConfigError(f"discovery root: {exc}") from None
    if not folder.is_dir():
        raise StageConfigError(
            f"discovery root {config.root!r} is not a folder under the data root {inputs.data_root}"
        )


def catalog_files(data_root: Path, config: DiscoveryConfig) -> pl.DataFrame:
    """The catalog of files under `config.root` that match include and not exclude."""
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
        found.reason,
    )


def compute(inputs: StageInputs, config: DiscoveryConfig) -> pl.DataFrame:
    catalog = catalog_files(inputs.data_root, config)
    unreadable = catalog.filter(~pl.col("readable")).height
    inputs.log(f"discovered {catalog.height} files under {config.root!r} ({unreadable} unreadable)")
    return catalog


SPEC = StageSpec(
    name="discovery",
    config_model=DiscoveryConfig,
    compute=compute,
    check=check,
    description=__doc__ or "",
)
