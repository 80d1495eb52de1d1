"""selection: the subset of the discovery catalog that this run aggregates.

Every file must be in the catalog and readable; an unknown file is an error that names it.
"""

from __future__ import annotations

import polars as pl
from pydantic import Field, field_validator

from dat_pipeline.dat.stages.base import StageConfig, StageInputs, StageSpec
from dat_pipeline.errors import StageConfigError
from dat_pipeline.paths import PathEscapeError, normalize_relative


class SelectionConfig(StageConfig):
    files: list[str] = Field(
        min_length=1, description="Files of the catalog, relative to the data root."
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


def _selected(inputs: StageInputs, config: SelectionConfig) -> pl.DataFrame:
    catalog = inputs.upstream("discovery")
    known = set(catalog["path"].to_list())
    unknown = [f for f in config.files if f not in known]
    if unknown:
        sample = ", ".join(sorted(known)[:5])
        raise StageConfigError(
            f"selection names files that discovery did not catalog: {', '.join(unknown)} "
            f"(catalog has {len(known)} files, e.g. {sample}; check the path or re-run discovery)"
        )
    chosen = catalog.filter(pl.col("path").is_in(config.files))
    unreadable = chosen.filter(~pl.col("readable"))
    if unreadable.height:
        reasons = "; ".join(f"{r['path']}: {r['reason']}" for r in unreadable.iter_rows(named=True))
        raise StageConfigError(f"selection includes unreadable files: {reasons}")
    return chosen


def check(inputs: StageInputs, config: SelectionConfig) -> None:
    _selected(inputs, config)


def compute(inputs: StageInputs, config: SelectionConfig) -> pl.DataFrame:
    return _selected(inputs, config).with_columns(
        pl.lit(config.profile_id, pl.String).alias("profile_id")
    )


SPEC = StageSpec(
    name="selection",
    config_model=SelectionConfig,
    compute=compute,
    check=check,
    description=__doc__ or "",
)
