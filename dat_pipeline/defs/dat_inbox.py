"""Dagster layer of the DAT drop folder (SPEC 5): `dat_inbox_sensor` over `dat/inbox.py`."""

from __future__ import annotations

import dagster as dg

from dat_pipeline.dat.inbox import DAT_INBOX, scan_dat_inbox
from dat_pipeline.defs.resources import DAT_RESOURCE, DatResource


@dg.sensor(
    name="dat_inbox_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        f"DAT drop folder: complete files in <data_root>/{DAT_INBOX}/<run or profile>/ move to "
        "drop/<name>/ and lock the discovery of that run (created when new, from the profile "
        "when the name is one); dat_lock_sensor then materializes it."
    ),
)
def dat_inbox_sensor(context: dg.SensorEvaluationContext, dat: DatResource) -> dg.SensorResult:
    """Thin shell over `scan_dat_inbox`: locks happen in the domain, the cursor is committed here."""
    scan = scan_dat_inbox(dat.workflow(), context.cursor)
    for name, problem in scan.problems.items():
        context.log.warning(f"{DAT_INBOX}/{name}: {problem}")
    for name, run_id in scan.locked.items():
        context.log.info(f"{DAT_INBOX}/{name}: discovery of run {run_id} locked")
    return dg.SensorResult(cursor=scan.cursor)


defs = dg.Definitions(sensors=[dat_inbox_sensor], resources={"dat": DAT_RESOURCE})
