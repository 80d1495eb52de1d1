"""The phase registry: the thirteen phases of SPEC 4 in graph order (every phase after its needs).

Adding a phase is one module with `SPEC = PhaseSpec(...)` and one entry in `PHASES`.
"""

from __future__ import annotations

from dat_pipeline.analysis.phase import PhaseSpec
from dat_pipeline.analysis.phases import (
    business_cycles,
    correlations,
    entropy,
    import_,
    relationships,
    semantic,
    slicing,
    statistical_quality,
    statistics,
    temporal,
    topology,
    typing,
    validation,
)

PHASES: tuple[PhaseSpec, ...] = (
    import_.SPEC,
    typing.SPEC,
    statistics.SPEC,
    statistical_quality.SPEC,
    correlations.SPEC,
    semantic.SPEC,
    relationships.SPEC,
    topology.SPEC,
    temporal.SPEC,
    business_cycles.SPEC,
    slicing.SPEC,
    validation.SPEC,
    entropy.SPEC,
)
