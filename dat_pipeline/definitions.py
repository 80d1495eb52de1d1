"""The one Definitions object of the code location: the groups' own Definitions, merged, with the
default executor that runs DAT-only runs (a UI click on stage assets) in process."""

from __future__ import annotations

import dagster as dg

from dat_pipeline.defs import analysis, backfill, dat, dat_inbox, ingestion, reverse_etl

defs = dg.Definitions.merge(
    dat.defs,
    dat_inbox.defs,
    ingestion.defs,
    reverse_etl.defs,
    backfill.defs,
    analysis.defs,
    dg.Definitions(executor=dat.dat_in_process_executor),
)
RESOURCES = dict(defs.resources or {})  # for runs executed in a process (the CLI, the API)
