"""The drop folder (SPEC 5): files under `<data_root>/inbox/` are uploaded and ingested once.

`inbox/<project>/<file>` goes to that project, a file directly in `inbox/` to project `inbox`
(`inbox/dat/` is the DAT drop folder, left to `dat/inbox.py`). A
file is taken only when its size and mtime are the same on two looks in a row (a copy still being
written changes between ticks). The state between looks is a small JSON cursor:
`sizes` (what each file looked like last time) and `requested` (files whose run request was
committed with that cursor; they are removed from the inbox on the next look, so a crash between
uploading and requesting never loses a file, and the run key makes a repeat request a no-op).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dat_pipeline.ingestion.runs import IngestRequest, default_rules
from dat_pipeline.ingestion.uploads import IngestError, Upload, upload_file
from dat_pipeline.names import DEFAULT_PROJECT
from dat_pipeline.names import NAME as _PROJECT
from dat_pipeline.store import ControlStore

INBOX = "inbox"
DAT_FOLDER = "dat"  # inbox/dat/ is the DAT drop folder (dat/inbox.py), not a project


@dataclass
class InboxCursor:
    sizes: dict[str, list[int]] = field(default_factory=dict)
    requested: dict[str, str] = field(default_factory=dict)
    failed: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def load(cls, raw: str | None) -> InboxCursor:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(
            sizes=data.get("sizes", {}),
            requested=data.get("requested", {}),
            failed=data.get("failed", {}),
        )

    def dump(self) -> str:
        state = {"sizes": self.sizes, "requested": self.requested, "failed": self.failed}
        return json.dumps(state, sort_keys=True)


@dataclass(frozen=True)
class InboxItem:
    """A stable inbox file, uploaded, and the ingestion to request for it."""

    relative: str
    upload: Upload
    request: IngestRequest

    @property
    def run_key(self) -> str:
        return f"inbox:{self.upload.upload_id}"


@dataclass
class InboxScan:
    ready: list[InboxItem]
    waiting: list[str]
    problems: dict[str, str]
    cursor: InboxCursor


def _project_of(relative: str) -> str:
    parts = relative.split("/")
    if len(parts) > 1 and _PROJECT.match(parts[0]):
        return parts[0]
    return DEFAULT_PROJECT


def _files(inbox: Path) -> list[Path]:
    if not inbox.is_dir():
        return []
    return sorted(
        p
        for p in inbox.rglob("*")
        if p.is_file()
        and not p.name.startswith(".")
        and len(p.relative_to(inbox).parts) <= 2
        and p.relative_to(inbox).parts[0] != DAT_FOLDER
    )


def scan_inbox(store: ControlStore, data_root: Path, cursor_text: str | None) -> InboxScan:
    """One look at the inbox: remove files already requested, upload files that are stable, and
    return them with the new cursor (commit it together with the run requests)."""
    inbox = Path(data_root) / INBOX
    cursor = InboxCursor.load(cursor_text)
    for relative in list(cursor.requested):
        (inbox / relative).unlink(missing_ok=True)
        cursor.requested.pop(relative)
    ready: list[InboxItem] = []
    waiting: list[str] = []
    problems: dict[str, str] = {}
    sizes: dict[str, list[int]] = {}
    failed: dict[str, list[int]] = {}
    for path in _files(inbox):
        relative = path.relative_to(inbox).as_posix()
        stat = path.stat()
        seen = [stat.st_size, stat.st_mtime_ns]
        if cursor.failed.get(relative) == seen:
            failed[relative] = seen  # reported already; retried once the file changes
            continue
        if cursor.sizes.get(relative) != seen or stat.st_size == 0:
            sizes[relative] = seen
            waiting.append(relative)
            continue
        project = _project_of(relative)
        try:
            upload = upload_file(store, path, project, data_root, count=False)
        except (IngestError, OSError) as exc:
            failed[relative] = seen
            problems[relative] = str(exc)
            continue
        request = IngestRequest(
            project=project,
            kind="file",
            source=upload.upload_id,
            rules_yaml=default_rules(data_root, project),
        )
        ready.append(InboxItem(relative, upload, request))
        cursor.requested[relative] = upload.upload_id
    cursor.sizes, cursor.failed = sizes, failed
    return InboxScan(ready, waiting, problems, cursor)


def inbox_summary(scan: InboxScan) -> dict[str, Any]:
    return {
        "ready": [item.relative for item in scan.ready],
        "waiting": scan.waiting,
        "problems": scan.problems,
    }
