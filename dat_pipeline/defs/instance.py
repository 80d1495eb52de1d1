"""One Dagster home shared by the CLI, the webserver and the daemon (SPEC 8).

Without DAGSTER_HOME, Dagster would use a throwaway home and runs started from the CLI would not
show in the UI; so the CLI defaults it to `.dagster_home/` holding a copy of the project's
`dagster.yaml`, exactly as the Makefile does.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg


def ensure_dagster_home(project_dir: Path | None = None) -> Path:
    """Set DAGSTER_HOME (default `.dagster_home/`), creating it with the project's dagster.yaml."""
    project = Path(project_dir or Path.cwd())
    home = Path(os.environ.get("DAGSTER_HOME") or project / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    template = project / "dagster.yaml"
    if template.is_file() and not (home / "dagster.yaml").exists():
        shutil.copyfile(template, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


# Compute logs of a run in this process are not captured: capturing them spawns two `tail`
# processes and two Python watchers per run (a third of a small stage's run time on two cores)
# and redirects this process's stdout and stderr. Stages log through Dagster's event log.
NO_LOG_CAPTURE = {
    "compute_logs": {
        "module": "dagster._core.storage.noop_compute_log_manager",
        "class": "NoOpComputeLogManager",
    }
}


def get_instance() -> dg.DagsterInstance:
    ensure_dagster_home()
    return dg.DagsterInstance.get()


def in_process_instance() -> dg.DagsterInstance:
    """The instance of the Dagster home (same storage, so its runs show in the UI with their
    event logs) for a run executed in this process, without compute-log capture. Uses Dagster's
    private InstanceRef (pinned by dat_pipeline_tests/defs/test_in_process_instance.py)."""
    from dagster._core.instance.ref import InstanceRef

    home = ensure_dagster_home()
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home), overrides=NO_LOG_CAPTURE))
