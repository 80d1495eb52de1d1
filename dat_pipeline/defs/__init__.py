"""The Dagster layer: one module per asset group, each with its own `defs` (a dg.Definitions),
merged by `dat_pipeline.definitions`. Only definitions live here; starting and following runs is
`dat_pipeline.orchestration`.

The Dagster features this code location relies on (data versions, backfill policies, partitioned
asset checks, pools) are marked beta or preview; their warnings are silenced here, once.
"""

import warnings

import dagster as dg

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
