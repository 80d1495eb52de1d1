"""`dat lock RUN discovery --materialize` imports only what discovery needs: the stage registry
loads a stage's module on first use, and the heavy libraries of other stages and paths (pyarrow,
DuckDB, the database adapter, Dagster) stay out of the process (SPEC 12; timings in
`python -m bench latency --only lock`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from dat_pipeline.cli import app

UNWANTED = (
    "dagster",
    "pyarrow",
    "duckdb",
    "dat_pipeline.adapters.database",
    "dat_pipeline.reverse_etl",
    "dat_pipeline.dat.stages.parse",
    "dat_pipeline.dat.stages.export",
)
# Runs the CLI in this interpreter, reports which UNWANTED modules it imported, then waits for
# the detached process that records the Dagster run (it must not outlive the test's data root).
PROBE = """
import json, runpy, sys
unwanted, sys.argv = json.loads(sys.argv[1]), ["dat", *sys.argv[2:]]
try:
    runpy.run_module("dat_pipeline.cli", run_name="__main__")
except SystemExit:
    pass
print("IMPORTED=" + json.dumps([m for m in unwanted if m in sys.modules]), file=sys.stderr)
from dat_pipeline.orchestration import record
record.settle()
"""


def test_lock_and_build_discovery_imports_only_what_discovery_needs(data_root: Path):
    run = json.loads(CliRunner().invoke(app, ["runs", "create", "--json"]).stdout)["run_id"]
    args = ["lock", run, "discovery", "--set", "root=sample", "--materialize", "--json"]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(UNWANTED), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
    )
    assert json.loads(done.stdout)["completed"] is True, done.stderr[-2000:]
    line = [x for x in done.stderr.splitlines() if x.startswith("IMPORTED=")][-1]
    assert json.loads(line.removeprefix("IMPORTED=")) == []
