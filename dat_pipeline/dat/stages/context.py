"""context: free context for the run (description, aggregation levels, column mappings, notes).

Optional: it can be skipped, and unlocking it cascades nothing.
"""

from __future__ import annotations

import json

import polars as pl
from pydantic import Field

from dat_pipeline.dat.stages.base import StageConfig, StageInputs, StageSpec


class ContextConfig(StageConfig):
    description: str | None = Field(None, description="What this run aggregates and why.")
    aggregation_levels: list[str] | None = Field(None, description="Columns to group by.")
    column_mappings: dict[str, str] | None = Field(None, description="Source name -> target name.")
    notes: str | None = None


def compute(inputs: StageInputs, config: ContextConfig) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "key": list(ContextConfig.model_fields),
            "value": [json.dumps(getattr(config, k)) for k in ContextConfig.model_fields],
        }
    )


SPEC = StageSpec(
    name="context", config_model=ContextConfig, compute=compute, description=__doc__ or ""
)
