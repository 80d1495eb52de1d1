"""The analysis job with the dagster-celery executor, as a reconstructable target: Celery workers
import this module (on their PYTHONPATH) to run the steps they receive."""

from __future__ import annotations

import dagster as dg
from dagster_celery import celery_executor

from dat_pipeline.defs.analysis import GROUP, analysis_assets

JOB = "analysis_job_celery"


def celery_analysis_job() -> dg.JobDefinition:
    job = dg.define_asset_job(
        JOB, selection=dg.AssetSelection.groups(GROUP), executor_def=celery_executor
    )
    return dg.Definitions(assets=analysis_assets, jobs=[job]).resolve_job_def(JOB)
