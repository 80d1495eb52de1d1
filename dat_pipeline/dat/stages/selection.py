"""selection: the subset of the discovery catalog that this run aggregates.

`files` names catalog paths or globs (`mine/*.csv`, `*` for every file). A name or glob that
matches nothing in the catalog is an error that names it. An unreadable file is kept (a bad file
never stops the others): table_availability reports it as `error` with its reason, and
table_selection cannot pick it. `readable_only: true` leaves the unreadable files out instead.
"""

from __future__ import annotations

import fnmatch

import polars as pl
from pydantic import Field, field_validator

from dat_pipeline.dat.stages.base import StageConfig, StageInputs, StageSpec
from dat_pipeline.errors import StageConfigError
from dat_pipeline.paths import PathEscapeError, normalize_relative


class SelectionConfig(StageConfig):
    files: list[str] = Field(
        min_length=1,
        description="Files of the catalog, relative to the data root; globs such as "
        "'mine/*.csv' (or '*' for every file) stand for every catalogued file they match.",
    )
    readable_only: bool = Field(
        False, description="Leave out the files discovery found unreadable."
    )
    profile_id: str | None = Field(None, description="Extraction profile applied to this run.")

    @field_validator("files")
    @classmethod
    def _relative_files(cls, files: list[str]) -> list[str]:
        try:
            normalized = [normalize_relative(f) for f in files]
        except PathEscapeError as exc:
            raise ValueError(str(exc)) from None
        return sorted(set(normalized))


def _is_pattern(name: str) -> bool:
    return any(char in name for char in "*?[")


def _selected(inputs: StageInputs, config: SelectionConfig) -> pl.DataFrame:
    catalog = inputs.upstream("discovery")
    known = catalog["path"].to_list()
    chosen: list[str] = []
    unknown = []
    for name in config.files:
        matches = (
            [p for p in known if fnmatch.fnmatchcase(p, name)] if _is_pattern(name) else []
        ) or ([name] if name in known else [])
        if not matches:
            unknown.append(name)
        chosen += [m for m in matches if m not in chosen]
    if unknown:
        sample = ", ".join(sorted(known)[:5])
        raise StageConfigError(
            f"selection names files that discovery did not catalog: {', '.join(unknown)} "
            f"(catalog has {len(known)} files, e.g. {sample}; check the path or re-run discovery)"
        )
    selected = catalog.filter(pl.col("path").is_in(chosen))
    if config.readable_only:
        selected = selected.filter(pl.col("readable"))
        if selected.height == 0:
            raise StageConfigError(
                f"selection: none of {', '.join(config.files)} is readable; see the reasons in "
                f"dat show {inputs.run_id} discovery"
            )
    return selected


def check(inputs: StageInputs, config: SelectionConfig) -> None:
    _selected(inputs, config)


def compute(inputs: StageInputs, config: SelectionConfig) -> pl.DataFrame:
    selected = _selected(inputs, config)
    unreadable = selected.filter(~pl.col("readable")).height
    inputs.log(
        f"selected {selected.height} files ({unreadable} unreadable, reported by "
        "table_availability)"
    )
    return selected.with_columns(pl.lit(config.profile_id, pl.String).alias("profile_id"))


SPEC = StageSpec(
    name="selection",
    config_model=SelectionConfig,
    compute=compute,
    check=check,
    description=__doc__ or "",
)
