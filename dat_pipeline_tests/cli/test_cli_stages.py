"""`dat stages`: gates, cascades and config keys, generated from the graph and the models."""

from __future__ import annotations

from pathlib import Path

from helpers import dat
from typer.testing import CliRunner

from dat_pipeline.cli import app
from dat_pipeline.dat.stages import STAGES

runner = CliRunner()


def test_stages_lists_every_stage_with_its_gate_and_cascade(data_root: Path):
    stages = {s["stage"]: s for s in dat("stages")["stages"]}
    assert list(stages) == [
        "discovery",
        "selection",
        "context",
        "table_availability",
        "table_selection",
        "preview",
        "parse",
        "export",
    ]
    assert (
        stages["discovery"]["unlocks"][0] == "selection"
        and len(stages["discovery"]["unlocks"]) == 7
    )
    assert (
        stages["export"]["requires_completed"] == ["parse"] and "built" in stages["export"]["gate"]
    )
    assert "not necessarily built" in stages["selection"]["gate"]
    assert stages["context"]["optional"] and not stages["parse"]["optional"]
    text = runner.invoke(app, ["stages"], env={"COLUMNS": "80"}).stdout
    assert "why" in text and all(len(line) <= 80 for line in text.splitlines())


def test_stages_show_lists_keys_types_defaults_and_an_example(data_root: Path):
    shown = dat("stages", "show", "discovery")
    keys = {k["key"]: k for k in shown["keys"]}
    assert {"root", "include", "exclude", "recursive"} <= set(keys)
    assert keys["include"]["type"] == "list of text" and keys["include"]["default"] == ["*"]
    assert keys["recursive"]["type"] == "true/false"
    assert shown["example"].startswith("dat lock RUN discovery --set ")
    export = {k["key"]: k for k in dat("stages", "show", "export")["keys"]}
    assert export["formats"]["type"] == "list of one of parquet|csv|excel|json"
    tables = {k["key"]: k for k in dat("stages", "show", "table_selection")["keys"]}
    assert tables["tables"]["required"] and tables["tables"]["type"].startswith("mapping of text")
    text = runner.invoke(app, ["stages", "show", "discovery"]).stdout
    assert "<bool>" not in text and "list[str]" not in text


def test_an_unknown_key_lists_the_allowed_ones(data_root: Path):
    run = dat("runs", "create")["run_id"]
    result = runner.invoke(app, ["lock", run, "discovery", "--set", "folder=mine"])
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1
    assert "folder" in result.stderr
    allowed = ", ".join(STAGES["discovery"].config_model.model_fields)
    assert f"the keys of discovery are: {allowed};" in result.stderr
    assert "dat stages show discovery" in result.stderr


def test_an_unknown_stage_names_the_stages(data_root: Path):
    result = runner.invoke(app, ["stages", "show", "parsing"])
    assert result.exit_code == 1 and "discovery, selection" in result.stderr
