"""The DAT drop folder (SPEC 5): files dropped in `<data_root>/inbox/dat/<name>/` start or refresh
a DAT run.

`<name>` is an existing run id (that run is refreshed), or a profile id or name (its latest run
from this drop folder is refreshed, or a new run is created from the profile), or else a new run
id (a run of that id is created). A file is taken when its size and mtime are the same on two
looks in a row (a copy in progress changes between ticks); the taken files move to
`drop/<name>/`, and discovery of the run is locked over that folder. Discovery's id covers the
folder's files (`discovery.snapshot`), so new files give a new id: the lock sensor materializes
it, and a follow-mode run (every run from a profile) re-locks the rest of its chain.
The ingestion drop folder (`inbox/<project>/`) is unchanged and ignores `inbox/dat/`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from dat_pipeline.dat.profiles import create_run_from_profile, get_profile_or_none
from dat_pipeline.dat.workflow import RUN_ID_PATTERN, DatWorkflow
from dat_pipeline.errors import DatError

DAT_INBOX = "inbox/dat"
DROP = "drop"


@dataclass
class DatInboxScan:
    """What one look did: runs whose discovery was locked (name -> run id), folders whose files
    are still being written, and names that could not start a run (with the reason)."""

    locked: dict[str, str] = field(default_factory=dict)
    waiting: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)
    cursor: str = "{}"


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _run_for(flow: DatWorkflow, name: str, root: str) -> tuple[str, dict]:
    """The run that `name` designates (created when needed) and its discovery config."""
    if flow.store.get_run(name) is not None:
        kept = flow.stage_status(name, "discovery").config or {}
        return name, {**kept, "root": root}
    profile = get_profile_or_none(flow.store, name)
    if profile is not None:
        runs = [r for r in flow.store.list_runs() if r.profile_id == profile.profile_id]
        dropped = [r for r in runs if _root_of(flow, r.run_id) == root]
        run = dropped[-1] if dropped else create_run_from_profile(flow, profile.profile_id)
        kept = flow.stage_status(run.run_id, "discovery").config or {}
        return run.run_id, {**kept, "root": root}
    if not RUN_ID_PATTERN.match(name):
        raise DatError(
            f"{DAT_INBOX}/{name}: no run or profile of that name, and it is not a run id "
            "(lowercase letters, digits and '-'); rename the folder"
        )
    return flow.create_run(name=name, run_id=name).run_id, {"root": root}


def _root_of(flow: DatWorkflow, run_id: str) -> str | None:
    return (flow.stage_status(run_id, "discovery").config or {}).get("root")


def scan_dat_inbox(flow: DatWorkflow, cursor_text: str | None) -> DatInboxScan:
    """One look at `inbox/dat/`: move the stable files of each folder to `drop/<name>/` and
    lock the discovery of its run over that folder. Returns what happened and the new cursor."""
    inbox = flow.data_root / DAT_INBOX
    seen_before: dict[str, list[int]] = json.loads(cursor_text or "{}")
    seen: dict[str, list[int]] = {}
    scan = DatInboxScan()
    folders = sorted(p for p in inbox.iterdir() if p.is_dir()) if inbox.is_dir() else []
    for folder in folders:
        name = folder.name
        files = _files(folder)
        looks = {f"{name}/{p.name}": [p.stat().st_size, p.stat().st_mtime_ns] for p in files}
        if not files:
            continue
        if any(seen_before.get(key) != look for key, look in looks.items()):
            seen.update(looks)
            scan.waiting.append(name)
            continue
        root = f"{DROP}/{name}"
        try:
            run_id, config = _run_for(flow, name, root)
            target = flow.data_root / root
            target.mkdir(parents=True, exist_ok=True)
            for path in files:
                os.replace(path, target / path.name)  # same filesystem: atomic
            flow.lock(run_id, "discovery", config)
        except DatError as exc:
            scan.problems[name] = str(exc)
            seen.update(looks)  # reported once; retried when the files change
            continue
        scan.locked[name] = run_id
    scan.cursor = json.dumps(seen, sort_keys=True)
    return scan
