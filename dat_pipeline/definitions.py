"""The one Definitions object of the code location."""

from __future__ import annotations

import dagster as dg

from dat_pipeline.defs.analysis import (
    analysis_assets,
    analysis_follow_sensor,
    analysis_job,
    analysis_refresh_schedule,
)
from dat_pipeline.defs.backfill import (
    BackfillResource,
    backfill_assets,
    backfill_jobs,
    backfill_schedules,
)
from dat_pipeline.defs.dat import (
    DatArtifactIOManager,
    dat_lock_sensor,
    dat_stage_assets,
    dat_unlock,
)
from dat_pipeline.defs.ingestion import ingestion_assets, ingestion_jobs, ingestion_sensors
from dat_pipeline.defs.resources import DatResource
from dat_pipeline.defs.reverse_etl import reverse_etl_assets, reverse_etl_checks

_dat = DatResource()
RESOURCES = {
    "dat": _dat,
    "dat_io_manager": DatArtifactIOManager(dat=_dat),
    "backfill": BackfillResource(),
}

defs = dg.Definitions(
    assets=[
        *dat_stage_assets,
        *ingestion_assets,
        *reverse_etl_assets,
        *backfill_assets,
        *analysis_assets,
    ],
    asset_checks=reverse_etl_checks,
    jobs=[dat_unlock, *ingestion_jobs, *backfill_jobs, analysis_job],
    sensors=[dat_lock_sensor, *ingestion_sensors, analysis_follow_sensor],
    schedules=[*backfill_schedules, analysis_refresh_schedule],
    resources=RESOURCES,
)
