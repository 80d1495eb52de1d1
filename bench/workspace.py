"""A throwaway workspace for the benchmarks: a data root holding a copy of data/sample, a control
store and a Dagster home of its own, set in this process's environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent


class Workspace:
    """A data root with the sample files, a control store and a Dagster home of its own."""

    def __init__(self, prefix: str = "dat_latency_") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        shutil.copytree(PROJECT / "data" / "sample", self.dir / "data" / "sample")
        (self.dir / "home").mkdir()
        shutil.copyfile(PROJECT / "dagster.yaml", self.dir / "home" / "dagster.yaml")
        self.env = {
            **os.environ,
            "DAT_DATA_ROOT": str(self.dir / "data"),
            "DAT_STORE_URL": f"sqlite:///{self.dir / 'control.db'}",
            "DAGSTER_HOME": str(self.dir / "home"),
        }
        os.environ.update(self.env)
        from dat_pipeline.settings import get_settings

        get_settings.cache_clear()

    def workflow(self):  # type: ignore[no-untyped-def]
        from dat_pipeline.dat.workflow import DatWorkflow
        from dat_pipeline.store import open_store

        return DatWorkflow(open_store(), self.dir / "data")

    def timed(self, argv: list[str]) -> float:
        started = time.perf_counter()
        subprocess.run(argv, check=True, cwd=PROJECT, env=self.env, capture_output=True)
        return time.perf_counter() - started

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def built_run(flow: Any, steps: list[tuple[str, dict]], **create: Any) -> str:
    """A new run of the workflow `flow` with each (stage, config) of `steps` locked and
    materialized in order; its id."""
    run = flow.create_run(**create).run_id
    for stage, config in steps:
        flow.lock(run, stage, config)
        flow.materialize(run, stage)
    return run


def one_file_steps(path: str) -> list[tuple[str, dict]]:
    """The steps from discovery to table_selection of every table of one file (`folder/name`)."""
    return [
        ("discovery", {"root": path.rsplit("/", 1)[0]}),
        ("selection", {"files": [path]}),
        ("table_availability", {}),
        ("table_selection", {"tables": {path: ["*"]}}),
    ]
