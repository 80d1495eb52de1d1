"""The read commands start without Dagster or Polars, and `status` and `runs list` without
SQLAlchemy on a SQLite store (SPEC 12; timings in `python -m bench startup`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dat_pipeline.cli import LAZY, app, load_lazy

runner = CliRunner()
PROBE = (
    "import runpy, sys; sys.argv = ['dat', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('dat_pipeline.cli', run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
    "heavy = [m for m in ('dagster', 'polars', 'sqlalchemy', 'dat_pipeline.cli.ingest_commands',"
    " 'dat_pipeline.cli.analysis_commands') if m in sys.modules]\n"
    "print('LOADED=' + ','.join(heavy), file=sys.stderr)\n"
)


def loaded(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=dict(os.environ)
    )
    line = [x for x in done.stderr.splitlines() if x.startswith("LOADED=")][-1]
    return [m for m in line.removeprefix("LOADED=").split(",") if m]


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["lock", "--help"],
        ["stages"],
        ["ingest", "--help"],
        ["analysis", "--help"],
        ["backfill", "--help"],
        ["sources", "--help"],
    ],
)
def test_help_and_listing_load_neither_dagster_nor_polars(data_root: Path, args: list[str]):
    assert [m for m in loaded(*args) if m in ("dagster", "polars")] == []


def test_status_and_runs_list_load_neither_dagster_polars_nor_sqlalchemy(data_root: Path):
    run = json.loads(runner.invoke(app, ["runs", "create", "--json"]).stdout)["run_id"]
    runner.invoke(app, ["lock", run, "discovery", "--set", "root=sample"])
    assert loaded("status", run) == []
    assert loaded("runs", "list") == []
    assert loaded("runs", "show", run) == []
    # reads the artifact with Polars, without the stage implementations (their adapters)
    assert loaded("show", run, "discovery") in ([], ["polars"])


@pytest.mark.parametrize("name", list(LAZY))
def test_each_lazy_group_loads_and_its_summary_matches_its_help(name: str):
    command = load_lazy(name)
    assert command.name == name
    assert " ".join((command.help or "").split()).startswith(LAZY[name][2].rstrip(".").rstrip())
    assert isinstance(app, typer.Typer)
