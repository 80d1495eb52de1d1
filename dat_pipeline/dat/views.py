"""JSON views of the DAT domain: the documents `dat ... --json` prints and the HTTP API returns.

One home for each shape, so the CLI contract (SPEC 0.2) and the API responses cannot diverge.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from dat_pipeline.errors import NotFoundError
from dat_pipeline.paths import resolve_inside

if TYPE_CHECKING:  # `dat status` reads views without loading the stages and profiles
    from dat_pipeline.dat.cleanup import CleanupItem
    from dat_pipeline.dat.profiles import Profile, ProfileRecord
    from dat_pipeline.dat.workflow import DatWorkflow
    from dat_pipeline.store import ControlStore, RunRecord, StageStatus


def run_dict(run: RunRecord) -> dict[str, Any]:
    """A run: run_id, name, profile_id, follow, created_at."""
    return asdict(run)


def status_dict(flow: DatWorkflow, status: StageStatus) -> dict[str, Any]:
    """One stage of a run: its lock state, stage id, kept config and artifact path."""
    artifact = flow.artifact_path(status)
    return {
        "stage": status.stage,
        "state": status.state,
        "stage_id": status.stage_id,
        "locked_at": status.locked_at,
        "completed": status.completed,
        "error": status.error,
        "artifact": str(artifact) if artifact else None,
        "config": status.config,
    }


def run_status(flow: DatWorkflow, run_id: str) -> dict[str, Any]:
    """Every stage of a run, in graph order (`dat status --json`)."""
    return {"run_id": run_id, "stages": [status_dict(flow, s) for s in flow.status(run_id)]}


def artifact_rows(flow: DatWorkflow, run_id: str, stage: str, limit: int) -> dict[str, Any]:
    """The first `limit` rows of a stage's artifact and its row count (`dat show --json`)."""
    status = flow.stage_status(run_id, stage)
    frame = flow.load_artifact(run_id, stage)
    return {
        "stage": stage,
        "stage_id": status.stage_id,
        "row_count": frame.height,
        "rows": frame.head(limit).to_dicts(),
    }


def cleanup_report(run_id: str, items: list[CleanupItem], applied: bool) -> dict[str, Any]:
    """What a cleanup would delete (dry run) or deleted (`dat cleanup --json`)."""
    return {
        "run_id": run_id,
        "applied": applied,
        "items": [item.to_dict() for item in items],
        "count": len(items),
        "bytes": sum(item.bytes for item in items),
    }


def save_profile(store: ControlStore, profile: Profile) -> dict[str, Any]:
    """Save a profile; `created` is false when the same body was already the current version."""
    from dat_pipeline.dat import profiles as profile_api

    existed = profile_api.get_profile_or_none(store, profile.profile_id)
    record = profile_api.create_profile(store, profile)
    return {**record.to_dict(), "created": existed is None or not existed.current}


def replace_profile(
    store: ControlStore, current: ProfileRecord, profile: Profile
) -> dict[str, Any]:
    """Replace a profile's body; `changed` is false when the new body equals the current one."""
    from dat_pipeline.dat import profiles as profile_api

    record = profile_api.update_profile(store, current.profile_id, profile)
    return {
        **record.to_dict(),
        "previous_id": current.profile_id,
        "changed": record.profile_id != current.profile_id,
    }


def export_view(flow: DatWorkflow, run_id: str) -> dict[str, Any]:
    """The dataset a run exported: its export artifact row and its manifest."""
    frame = flow.load_artifact(run_id, "export")
    if frame.height == 0:
        raise NotFoundError(f"export of run {run_id} was skipped or wrote no dataset")
    row = frame.row(0, named=True)
    manifest_path = resolve_inside(flow.data_root, row["manifest_path"])
    return {
        "dataset_id": row["dataset_id"],
        "name": row["name"],
        "row_count": row["row_count"],
        "manifest_path": row["manifest_path"],
        "formats": json.loads(row["formats"]),
        "files": json.loads(row["files"]),
        "manifest": json.loads(manifest_path.read_text(encoding="utf-8")),
    }


Section = tuple[str, list[str], list[list[Any]]]


def _readable_columns(value: Any) -> Any:
    """A probe's JSON column list as `name type, ...` (what a person reads in `dat show`)."""
    try:
        columns = json.loads(value)
        return ", ".join(f"{c['name']} {c['dtype']}" for c in columns)
    except (TypeError, ValueError, KeyError):
        return value


def artifact_sections(flow: DatWorkflow, run_id: str, stage: str, limit: int) -> list[Section]:
    """A stage's artifact as titled sections of rows for `dat show`: one per table for preview
    (only the columns that table has), one for every other stage."""
    import polars as pl

    status = flow.stage_status(run_id, stage)
    frame = flow.load_artifact(run_id, stage)
    if "columns" in frame.columns and frame.schema["columns"] == pl.String:
        frame = frame.with_columns(
            pl.col("columns").map_elements(_readable_columns, return_dtype=pl.String)
        )
    if stage != "preview" or "_source_file" not in frame.columns:
        head = frame.head(limit)
        shown = f", first {head.height}" if head.height < frame.height else ""
        title = f"{stage} {status.stage_id} of run {run_id}: {frame.height} rows{shown}"
        return [(title, head.columns, [list(row) for row in head.iter_rows()])]
    sections: list[Section] = []
    for (path, table), rows in frame.group_by(
        ["_source_file", "_source_table"], maintain_order=True
    ):
        head = rows.drop("_source_file", "_source_table").head(limit)
        head = head.select([c for c in head.columns if head[c].null_count() < head.height])
        title = f"preview of {path} table {table}: {rows.height} rows, first {head.height}"
        sections.append((title, head.columns, [list(row) for row in head.iter_rows()]))
    return sections
