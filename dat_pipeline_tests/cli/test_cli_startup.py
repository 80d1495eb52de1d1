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
from dat_pipeline.services.context import open_context
from dat_pipeline_tests.helpers import build, lock_through_table_selection

runner = CliRunner()
PROBE = (
    "import runpy, sys; sys.argv = ['dat', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('dat_pipeline.cli', run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
    "heavy = [m for m in ('dagster', 'polars', 'pandas', 'sqlalchemy',"
    " 'dat_pipeline.cli.ingest_commands', 'dat_pipeline.cli.analysis_commands')"
    " if m in sys.modules]\n"
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


def test_show_reads_artifacts_without_polars_pandas_or_dagster(data_root: Path):
    """`dat show` reads the Parquet artifact with DuckDB (half the start-up of Polars); the
    rows it prints are the artifact's, per table for preview."""
    sales = ["sample/sales_2024_q1.csv", "sample/sales_2024_q2_semicolon.csv"]
    with open_context() as ctx:  # the store the command reads
        run = lock_through_table_selection(ctx.workflow, {path: ["*"] for path in sales})
        preview = build(ctx.workflow, run, "preview", {})
    for stage in ("discovery", "table_availability", "preview"):
        assert loaded("show", run, stage) == []
    shown = subprocess.run(
        [sys.executable, "-m", "dat_pipeline.cli", "show", run, "preview", "--limit", "2"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
    ).stdout
    tables = preview.unique(["_source_file", "_source_table"], maintain_order=True)
    for file, table in tables.select("_source_file", "_source_table").iter_rows():
        rows = preview.filter(_source_file=file, _source_table=table).height
        assert f"preview of {file} table {table}: {rows} rows, first 2" in shown


@pytest.mark.parametrize("name", list(LAZY))
def test_each_lazy_group_loads_and_its_summary_matches_its_help(name: str):
    command = load_lazy(name)
    assert command.name == name
    assert " ".join((command.help or "").split()).startswith(LAZY[name][2].rstrip(".").rstrip())
    assert isinstance(app, typer.Typer)
