"""Dagster layer of ingestion (group `ingestion`): the ingestion asset and job, and the
drop-folder sensor. Thin shells over `dat_pipeline.ingestion`; submitting queued ingestions is
`dat_pipeline.orchestration.ingestion`.
"""

import dataclasses
import time
import typing

import dagster as dg

from dat_pipeline.defs.resources import DAT_RESOURCE, DatResource
from dat_pipeline.ingestion import jobs
from dat_pipeline.ingestion.inbox import inbox_summary, scan_inbox
from dat_pipeline.ingestion.runs import IngestRequest, run_ingestion
from dat_pipeline.names import INGESTION_PROJECT_TAG, OWNERS, PROJECT_TAG

GROUP = "ingestion"
JOB_NAME = "ingestion_job"
ASSET_NAME = "ingested_table"
LOCATION_NAME = "dat_pipeline"  # as in workspace.yaml


def _config_from(request: type) -> type[dg.Config]:
    """The asset's run config: exactly the fields of the request (types and defaults), so a
    field added to `IngestRequest` is accepted by queued runs too."""
    hints = typing.get_type_hints(request)
    namespace: dict[str, object] = {
        "__doc__": "One ingestion: an upload id (kind `file`) or a database source name (kind "
        "`database`), one table, the rules as YAML and an optional field mapping.",
        "__module__": __name__,
        "__annotations__": {field.name: hints[field.name] for field in dataclasses.fields(request)},
    }
    for field in dataclasses.fields(request):
        if field.default is not dataclasses.MISSING:
            namespace[field.name] = field.default
    return type("IngestionConfig", (dg.Config,), namespace)


IngestionConfig = _config_from(IngestRequest)


@dg.asset(
    name=ASSET_NAME,
    group_name=GROUP,
    kinds={"polars", "parquet"},
    owners=OWNERS,
    tags={"dat/domain": "ingestion"},
)
def ingested_table(
    context: dg.AssetExecutionContext, config: IngestionConfig, dat: DatResource
) -> dg.MaterializeResult:
    """One file or database table, cleaned with its project's rules: cleaned and rejects Parquet
    under `uploads/<project>/clean/`. Progress is logged every 5 % and kept in the jobs table."""
    flow = dat.workflow()
    request = IngestRequest.from_dict(config.model_dump())
    jobs.create_job(
        flow.store, context.run_id, "queued", request.project, request.source, request.to_dict()
    )

    def progress(percent: int, rows: int, total: int | None) -> None:
        context.log.info(f"progress {percent}% ({rows} of {total or '?'} rows)")

    outcome = run_ingestion(flow.store, flow.data_root, context.run_id, request, progress)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": outcome["rows_kept"],
            "rows_in": outcome["rows_in"],
            "rows_rejected": outcome["rows_rejected"],
            "source": outcome["source"],
            "table": outcome["table"] or ", ".join(t["table"] for t in outcome["tables"]),
            # one table: clean, rejects; several: <table>.clean, <table>.rejects
            **{key: dg.MetadataValue.path(path) for key, path in outcome["outputs"].items()},
            "rules": ", ".join(outcome["rules"]) or "(none)",
            "duration_s": outcome["duration_s"],
            "schema": dg.MetadataValue.md(
                "| column | type |\n|---|---|\n"
                + "\n".join(f"| {name} | {dtype} |" for name, dtype in outcome["columns"].items())
            ),
        }
    )


# One small step: run it in the run's process (no step subprocess, SPEC 12).
ingestion_job = dg.define_asset_job(
    JOB_NAME,
    selection=[ingested_table],
    executor_def=dg.in_process_executor,
    description="Ingest one upload or database table.",
)


@dg.sensor(
    job=ingestion_job,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Drop folder: a complete file in <data_root>/inbox/[<project>/] (size unchanged between "
        "two ticks) is moved to uploads and ingested once with the project's default rules "
        "(uploads/<project>/rules.yaml)."
    ),
)
def inbox_sensor(context: dg.SensorEvaluationContext, dat: DatResource) -> dg.SensorResult:
    """Thin shell over `scan_inbox`: run requests and the new cursor commit together."""
    started = time.perf_counter()
    flow = dat.workflow()
    scan = scan_inbox(flow.store, flow.data_root, context.cursor)
    for relative, problem in scan.problems.items():
        context.log.warning(f"inbox/{relative}: {problem}")
    requests = [
        dg.RunRequest(
            run_key=item.run_key,
            run_config={"ops": {ASSET_NAME: {"config": item.request.to_dict()}}},
            tags={
                INGESTION_PROJECT_TAG: item.request.project,
                PROJECT_TAG: item.request.project,
                "dat/inbox_file": item.relative,
            },
        )
        for item in scan.ready
    ]
    summary = inbox_summary(scan)
    context.log.info(f"inbox scan in {time.perf_counter() - started:.2f}s: {summary}")
    return dg.SensorResult(run_requests=requests, cursor=scan.cursor.dump())


defs = dg.Definitions(
    assets=[ingested_table],
    jobs=[ingestion_job],
    sensors=[inbox_sensor],
    resources={"dat": DAT_RESOURCE},
)
