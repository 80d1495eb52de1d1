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


def get_instance() -> dg.DagsterInstance:
    ensure_dagster_home()
    return dg.DagsterInstance.get()
