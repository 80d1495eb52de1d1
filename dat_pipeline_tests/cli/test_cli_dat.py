"""The `dat` command as a user and a script use it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from helpers import RULE_TYPES, dat
from typer.testing import CliRunner

from dat_pipeline.cli import app

runner = CliRunner()


def test_runs_create_list_show(data_root: Path):
    created = dat("runs", "create", "--name", "Q1 Sales")
    assert created["run_id"].startswith("q1-sales-")
    listed = dat("runs", "list")
    assert [r["run_id"] for r in listed["runs"]] == [created["run_id"]]
    shown = dat("runs", "show", created["run_id"])
    assert shown["name"] == "Q1 Sales" and len(shown["stages"]) == 8
    with dg.DagsterInstance.get() as instance:
        assert instance.has_dynamic_partition("dat_runs", created["run_id"])


def test_lock_with_set_and_file_then_status_show_events_unlock(data_root: Path, tmp_path: Path):
    run = dat("runs", "create")["run_id"]
    locked = dat("lock", run, "discovery", "--set", "root=sample", "--set", "include=[*.csv]")
    assert locked["state"] == "LOCKED" and locked["artifact"] is None
    assert dat("materialize", run)["materialized"] == ["discovery"]
    config = tmp_path / "selection.yaml"
    config.write_text("files:\n  - sample/sales_2024_q1.csv\n")
    selected = dat("lock", run, "selection", "--config", str(config), "--materialize")
    assert selected["completed"] is True and selected["artifact"].endswith(".parquet")

    status = dat("status", run)
    assert status["run_id"] == run
    by_stage = {s["stage"]: s for s in status["stages"]}
    assert by_stage["selection"]["stage_id"] == selected["stage_id"]
    assert set(by_stage["context"]) == {
        "stage",
        "state",
        "stage_id",
        "locked_at",
        "completed",
        "error",
        "artifact",
        "config",
    }

    shown = dat("show", run, "discovery", "--limit", "2")
    assert shown["stage_id"] == by_stage["discovery"]["stage_id"] and len(shown["rows"]) == 2
    kinds = [e["kind"] for e in dat("events", run)["events"]]
    assert kinds[:3] == ["run_created", "lock", "complete"]

    skipped = dat("skip", run, "context")
    assert skipped["state"] == "LOCKED" and skipped["completed"] is True
    assert dat("unlock", run, "discovery") == {"unlocked": ["discovery", "selection", "context"]}


def test_gate_error_is_one_line_on_stderr_with_exit_1(data_root: Path):
    run = dat("runs", "create")["run_id"]
    result = runner.invoke(app, ["lock", run, "selection", "--set", "files=[a.csv]"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: cannot lock selection: discovery is not locked (run: dat lock {run} discovery ...)"
    )
    assert result.stdout == ""


def test_bad_usage_exits_2(data_root: Path):
    assert runner.invoke(app, ["lock"]).exit_code == 2
    run = dat("runs", "create")["run_id"]
    assert runner.invoke(app, ["lock", run, "discovery", "--set", "novalue"]).exit_code == 2


def test_json_output_is_one_document_even_when_dagster_logs(data_root: Path):
    env = {**os.environ}
    run = json.loads(
        subprocess.run(
            [sys.executable, "-m", "dat_pipeline.cli", "runs", "create", "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout
    )["run_id"]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dat_pipeline.cli",
            "lock",
            run,
            "discovery",
            "--set",
            "root=sample",
            "--materialize",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["completed"] is True


@pytest.mark.parametrize(
    "command", ["runs", "lock", "unlock", "skip", "materialize", "status", "events", "show"]
)
def test_every_command_has_help(command: str):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_rules_templates_cover_every_rule_type():
    found = dat("rules", "templates")["templates"]
    assert {t["type"] for t in found} == RULE_TYPES
    assert all(t["example_yaml"].strip() for t in found)


def test_status_shows_the_kept_config_of_an_unlocked_stage(data_root: Path):
    run = dat("runs", "create")["run_id"]
    dat("lock", run, "discovery", "--set", "root=sample", "--materialize")
    dat("unlock", run, "discovery")
    discovery = dat("status", run)["stages"][0]
    assert discovery["state"] == "UNLOCKED" and discovery["config"]["root"] == "sample"
    relocked = runner.invoke(app, ["lock", run, "discovery", "--json"])
    assert json.loads(relocked.stdout)["stage_id"] == discovery["stage_id"]
