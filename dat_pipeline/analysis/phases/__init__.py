"""The phase registry: the thirteen phases of SPEC 4 in graph order (every phase after its needs).

Adding a phase is one module with `SPEC = PhaseSpec(...)` and one entry in `PHASES`. The modules
of `typing` and `statistics` are named `type_inference` and `column_profiles` so that they do not
shadow the standard library.
"""

from __future__ import annotations

from dat_pipeline.analysis.phase import PhaseSpec
from dat_pipeline.analysis.phases import (
    business_cycles,
    column_profiles,
    correlations,
    entropy,
    import_,
    relationships,
    semantic,
    slicing,
    statistical_quality,
    temporal,
    topology,
    type_inference,
    validation,
)

PHASES: tuple[PhaseSpec, ...] = (
    import_.SPEC,
    type_inference.SPEC,
    column_profiles.SPEC,
    statistical_quality.SPEC,
    relationships.SPEC,
    semantic.SPEC,
    correlations.SPEC,
    topology.SPEC,
    temporal.SPEC,
    business_cycles.SPEC,
    slicing.SPEC,
    validation.SPEC,
    entropy.SPEC,
)
