"""The stage implementations, by name. Adding a stage: one module and one entry here."""

from __future__ import annotations

from dat_pipeline.dat.stages import (
    context,
    discovery,
    export,
    parse,
    preview,
    selection,
    table_availability,
    table_selection,
)
from dat_pipeline.dat.stages.base import StageConfig, StageInputs, StageSpec

STAGES: dict[str, StageSpec] = {
    spec.name: spec
    for spec in (
        discovery.SPEC,
        selection.SPEC,
        context.SPEC,
        table_availability.SPEC,
        table_selection.SPEC,
        preview.SPEC,
        parse.SPEC,
        export.SPEC,
    )
}

__all__ = ["STAGES", "StageConfig", "StageInputs", "StageSpec"]
