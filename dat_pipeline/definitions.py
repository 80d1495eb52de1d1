"""The one Definitions object of the code location."""

from __future__ import annotations

import dagster as dg

from dat_pipeline.defs.dat import (
    DatArtifactIOManager,
    dat_lock_sensor,
    dat_stage_assets,
    dat_unlock,
)
from dat_pipeline.defs.resources import DatResource

_dat = DatResource()
RESOURCES = {"dat": _dat, "dat_io_manager": DatArtifactIOManager(dat=_dat)}

defs = dg.Definitions(
    assets=[*dat_stage_assets],
    jobs=[dat_unlock],
    sensors=[dat_lock_sensor],
    resources=RESOURCES,
)
