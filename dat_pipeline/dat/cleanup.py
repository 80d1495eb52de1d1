"""`dat cleanup RUN`: find, and on request delete, what a run no longer needs (SPEC 1.5).

Under a run's folder (`<data root>/dat/runs/<run>/`) each stage id owns `<stage>/<stage_id>.parquet`
(its artifact) and `<stage>/<stage_id>/` (its side files). The plan lists:

- artifacts and side folders of stage ids that no LOCKED stage of the run references: left behind
  by an unlock or a re-lock with new inputs (the reason says when that stage id failed or was
  cancelled);
- temp files of atomic writes (`.<name>.<random>.tmp`) that a killed process left behind. A temp
  file modified within the last `grace_seconds` may belong to a write in progress and is left
  alone; an active writer keeps touching its file.

What a locked stage references is never listed, even when that stage failed: a failed or
cancelled parse resumes from the completed tables in its side folder (SPEC 1.4), so deleting them
would only throw work away; unlock the stage first to make them cleanable. Nothing outside the
run folder is listed, and names the plan does not recognize are left alone.

`apply_cleanup` plans and deletes inside one store write transaction, so no stage can be locked
onto an artifact between the plan and the deletion.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.store import schema

DEFAULT_GRACE_SECONDS = 300.0
_TEMP = re.compile(r"^\..+\.tmp$")


@dataclass(frozen=True)
class CleanupItem:
    """One file or folder the plan would delete; `path` is relative to the data root."""

    path: str
    bytes: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _size(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    total = 0
    for current, _dirs, files in os.walk(path):
        total += sum((Path(current) / name).lstat().st_size for name in files)
    return total


def _failures(connection: Connection, run_id: str) -> dict[str, str]:
    """The last error recorded for each stage id of the run that failed or was cancelled."""
    table = schema.events
    rows = connection.execute(
        select(table.c.stage_id, table.c.detail)
        .where(table.c.run_id == run_id, table.c.kind == "fail", table.c.stage_id.is_not(None))
        .order_by(table.c.seq)
    )
    failed: dict[str, str] = {}
    for stage_id, detail in rows:
        lines = str(json.loads(detail or "{}").get("error") or "").splitlines()
        failed[stage_id] = lines[0] if lines else ""
    return failed


def _unreferenced_reason(stage: str, stage_id: str, failed: dict[str, str]) -> str:
    if stage_id not in failed:
        return f"unreferenced (stage {stage} unlocked or re-locked)"
    error = failed[stage_id]
    kind = "cancelled" if error.startswith("StageCancelledError") else "failed"
    return f"{kind} work, unreferenced (stage {stage}: {error[:120]})"


def _plan(
    workflow: DatWorkflow,
    run_id: str,
    connection: Connection,
    grace_seconds: float,
) -> list[CleanupItem]:
    statuses = workflow.status(run_id, connection)
    run_dir = workflow.artifacts.run_dir(run_id)
    if not run_dir.is_dir() or run_dir.is_symlink():
        return []
    referenced = {(s.stage, s.stage_id) for s in statuses if s.locked and s.stage_id}
    failed = _failures(connection, run_id)
    cutoff = time.time() - grace_seconds
    root = workflow.data_root
    items: list[CleanupItem] = []

    def add(path: Path, reason: str) -> None:
        items.append(CleanupItem(path.relative_to(root).as_posix(), _size(path), reason))

    for stage_dir in sorted(run_dir.iterdir()):
        if stage_dir.is_symlink() or not stage_dir.is_dir():
            continue
        stage = stage_dir.name
        stage_id_pattern = re.compile(rf"^{re.escape(stage)}_[0-9a-f]{{8}}$")
        for entry in sorted(stage_dir.iterdir()):
            name = entry.name
            if _TEMP.match(name):
                continue  # temp files are collected below, wherever they are
            key = name if entry.is_dir() and not entry.is_symlink() else name.split(".", 1)[0]
            if not stage_id_pattern.match(key) or (stage, key) in referenced:
                continue
            add(entry, _unreferenced_reason(stage, key, failed))
    listed = {item.path for item in items}
    for current, dirs, files in os.walk(run_dir):
        dirs[:] = sorted(dirs)
        for name in sorted(files):
            path = Path(current) / name
            if not _TEMP.match(name) or path.is_symlink():
                continue
            relative = path.relative_to(root).as_posix()
            if any(relative.startswith(prefix + "/") for prefix in listed):
                continue  # already inside a folder that the plan deletes
            if path.lstat().st_mtime <= cutoff:
                add(path, "partial write (temp file of an interrupted atomic write)")
    return sorted(items, key=lambda item: item.path)


def plan_cleanup(
    workflow: DatWorkflow, run_id: str, grace_seconds: float = DEFAULT_GRACE_SECONDS
) -> list[CleanupItem]:
    """What `apply_cleanup` would delete for `run_id`, with the size and reason of each item."""
    with workflow.store.read() as connection:
        workflow.get_run(run_id, connection)
        return _plan(workflow, run_id, connection, grace_seconds)


def apply_cleanup(
    workflow: DatWorkflow, run_id: str, grace_seconds: float = DEFAULT_GRACE_SECONDS
) -> list[CleanupItem]:
    """Delete exactly what the plan lists and record a `cleanup` event; returns what was removed."""
    run_dir = workflow.artifacts.run_dir(run_id).resolve()
    with workflow.store.write() as connection:
        workflow.get_run(run_id, connection)
        items = _plan(workflow, run_id, connection, grace_seconds)
        for item in items:
            path = workflow.data_root / item.path
            # The plan only holds paths under the run folder; check again before deleting.
            parent = path.parent.resolve()
            if parent != run_dir and run_dir not in parent.parents:
                raise RuntimeError(f"refusing to delete {item.path}: it is outside {run_dir}")
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        workflow.store.append_event(
            connection,
            run_id,
            "cleanup",
            detail={
                "count": len(items),
                "bytes": sum(item.bytes for item in items),
                "paths": [item.path for item in items],
            },
        )
    return items
