"""What the console does beyond the service layer's actions: views for its pages (cascade
previews, the folder picker, the newest job of each stage, parse progress). Every change of
state goes through `dat_pipeline.services`, the functions the CLI and the API call.
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from dat_pipeline.errors import NotFoundError
from dat_pipeline.services import dat as dat_service
from dat_pipeline.services.context import ServiceContext

_PROGRESS = re.compile(r"tables (\d+)/(\d+) done, (\d+)%")
ACTIVE = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED")


def _locked(ctx: ServiceContext, run_id: str) -> set[str]:
    stages = dat_service.run_status(ctx, run_id)["stages"]
    return {s["stage"] for s in stages if s["state"] == "LOCKED"}


def lock_cascade(ctx: ServiceContext, run_id: str, stage: str) -> list[str]:
    """What re-locking `stage` now would unlock: its locked dependents, if it is locked."""
    locked = _locked(ctx, run_id)
    if stage not in locked:
        return []
    return [name for name in ctx.workflow.graph.cascade(stage) if name in locked]


def unlock_cascade(ctx: ServiceContext, run_id: str, stage: str) -> list[str]:
    """What unlocking `stage` would unlock: it and its locked dependents."""
    locked = _locked(ctx, run_id)
    return [n for n in (stage, *ctx.workflow.graph.cascade(stage)) if n in locked]


def lock_and_start(
    ctx: ServiceContext, run_id: str, stage: str, config: dict[str, Any]
) -> str | None:
    """Lock `stage` with `config` and start building it as a Dagster run; the run id, or None
    when the artifact already existed (the same inputs as before)."""
    dat_service.lock(ctx, run_id, stage, config)
    job = dat_service.start_materialize(ctx, run_id, stage)["job"]
    return job["job_id"] if job else None


def artifact(ctx: ServiceContext, run_id: str, stage: str) -> pl.DataFrame | None:
    """The stage's artifact, or None while it has none."""
    try:
        return dat_service.artifact_frame(ctx, run_id, stage)[1]
    except NotFoundError:
        dat_service.get_run(ctx, run_id)  # an unknown run stays an error
        return None


def export_files(tables: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """Each file of an export once, as (format, path, a table it holds): a file per table and
    format, and one Excel workbook for every table (downloaded through its first table)."""
    seen: dict[tuple[str, str], str] = {}
    for table in tables:
        for file_format, path in table.get("files", {}).items():
            seen.setdefault((file_format, path), table["name"])
    return [(file_format, path, table) for (file_format, path), table in seen.items()]


def folders(ctx: ServiceContext, depth: int = 3) -> list[str]:
    """Folders inside the data root (relative, `/`), for the discovery root picker."""
    root = ctx.data_root
    found = ["."]
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if (
            path.is_dir()
            and not path.is_symlink()
            and len(relative.parts) <= depth
            and not any(part.startswith(".") for part in relative.parts)
        ):
            found.append(relative.as_posix())
    return found


def stage_jobs(ctx: ServiceContext, run_id: str) -> dict[str, dict[str, Any]]:
    """The newest Dagster run of each stage of `run_id`: {stage: {job_id, status}}."""
    import dagster as dg

    from dat_pipeline.defs.dat import RUN_TAG
    from dat_pipeline.orchestration.launch import STAGES_TAG

    dat_service.get_run(ctx, run_id)
    newest: dict[str, dict[str, Any]] = {}
    runs = ctx.instance().get_runs(filters=dg.RunsFilter(tags={RUN_TAG: run_id}), limit=40)
    for run in runs:  # newest first
        stages = run.tags.get(STAGES_TAG) or ",".join(
            key.path[-1] for key in run.asset_selection or []
        )
        for stage in filter(None, stages.split(",")):
            newest.setdefault(stage, {"job_id": run.run_id, "status": run.status.value})
    return newest


def parse_progress(ctx: ServiceContext, job_id: str) -> tuple[int, int, float] | None:
    """(tables done, tables, percent) from the last progress line the parse job logged."""
    for record in reversed(ctx.instance().all_logs(job_id)):
        match = _PROGRESS.search(record.user_message or "")
        if match:
            return int(match[1]), int(match[2]), float(match[3])
    return None
