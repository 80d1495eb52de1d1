"""What a person sees from `dat`: one-line failures, records that fit 80 columns, cascades."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dat_pipeline.cli import app
from dat_pipeline.cli.render import render_records

runner = CliRunner()
NARROW = {"COLUMNS": "80"}


def dat(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr or result.output
    return json.loads(result.stdout)


def text(*args: str) -> str:
    result = runner.invoke(app, list(args), env=NARROW)
    assert result.exit_code == 0, result.stderr or result.output
    return result.stdout


def _selected_run(files: list[str]) -> str:
    run = dat("runs", "create")["run_id"]
    dat("lock", run, "discovery", "--set", "root=sample", "--materialize")
    dat("lock", run, "selection", "--set", f"files={json.dumps(files)}", "--materialize")
    dat("lock", run, "table_availability", "--materialize")
    tables = json.dumps({f: ["*"] for f in files})
    dat("lock", run, "table_selection", "--set", f"tables={tables}", "--materialize")
    return run


def test_failed_parse_is_one_line_on_stderr_naming_file_stage_and_next_step(data_root: Path):
    run = _selected_run(["sample/sales_2024_q1.csv", "sample/stores.tsv"])
    (data_root / "sample" / "stores.tsv").unlink()
    argv = [sys.executable, "-m", "dat_pipeline.cli", "lock", run, "parse", "--set", "strict=true"]
    argv.append("--materialize")
    done = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ))
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr and "dagster._core" not in done.stderr
    line = lines[0]
    assert line.startswith("error: materializing parse of run")
    assert "sample/stores.tsv is no longer in the data root" in line
    assert f"dat materialize {run} --stage parse" in line
    assert str(data_root) not in line

    verbose = subprocess.run(
        [*argv[:3], "--verbose", *argv[3:]], capture_output=True, text=True, env=dict(os.environ)
    )
    assert verbose.returncode == 1
    assert "Stack Trace" in verbose.stderr or "Traceback" in verbose.stderr
    assert verbose.stderr.splitlines()[-1].startswith("error: materializing parse of run")


def test_a_set_value_yaml_cannot_read_says_how_to_quote_it(data_root: Path):
    run = dat("runs", "create")["run_id"]
    result = runner.invoke(app, ["lock", run, "discovery", "--set", "include={a: [*]}"])
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert "YAML cannot read the value" in result.stderr and "quote" in result.stderr


def test_records_too_wide_for_the_terminal_are_shown_one_block_each_and_never_cut():
    path = "inbox/customers/2024/very_long_folder_name/customers_export_final_v2.csv"
    columns = ["path", "size_bytes", "format", "adapter", "readable", "reason"]
    rows = [[path, 1234, "csv", "csv", True, "a reason that is long enough to need a wrap " * 2]]
    out = render_records("discovery", columns, rows, width=80)
    assert path in out.splitlines()[2]  # `path  <the whole path>` on one line
    assert "-- 1 --" in out  # too wide to share the width: a block of its own
    wrapped = [line for line in out.splitlines() if path not in line]
    assert all(len(line) <= 80 for line in wrapped)

    five = ["a", "b", "c", "d", "e"]
    rows = [[f"{letter}{n}".ljust(10, "-") for letter in "abcde"] for n in range(4)]
    sideways = render_records("t", five, rows, width=40).splitlines()
    assert sideways[1].split() == ["record", "1", "2", "3"]  # as many as fit side by side
    assert sideways[3].split() == ["a", "a0--------", "a1--------", "a2--------"]
    assert sideways[9].split() == ["record", "4"]

    mixed = render_records("t", ["k", "v"], [["a", "short"], ["b", "long words " * 10]], width=40)
    assert "-- 1 --" in mixed and "-- 2 --" in mixed and "record" not in mixed  # one way

    narrow = render_records("t", ["a", "b"], [[1, "x"], [22, "y"]], width=80)
    assert narrow.splitlines()[1:] == [" a  b", "--  -", " 1  x", "22  y"]


def test_show_discovery_at_80_columns_keeps_every_path_whole(data_root: Path):
    run = dat("runs", "create")["run_id"]
    dat("lock", run, "discovery", "--set", "root=sample", "--materialize")
    out = text("show", run, "discovery")
    paths = [row["path"] for row in dat("show", run, "discovery")["rows"]]
    lines = out.splitlines()
    path_lines = [line.split()[1:] for line in lines if line.startswith("path ")]
    assert sorted(p for line in path_lines for p in line) == sorted(paths)  # each one whole
    assert all(len(line) <= 80 for line in lines)
    picked = text("show", run, "discovery", "--columns", "path,format")
    assert picked.splitlines()[1].split() == ["path", "format"]
    assert any(
        line.split() == ["sample/customers.parquet", "parquet"] for line in picked.split("\n")
    )


def test_preview_is_shown_per_table_with_that_tables_columns(data_root: Path):
    run = _selected_run(["sample/sales_2024_q1.csv", "sample/stores.tsv"])
    dat("lock", run, "preview", "--materialize")
    out = text("show", run, "preview", "--limit", "2")
    titles = [line for line in out.splitlines() if line.startswith("preview of ")]
    assert [t.split()[2] for t in titles] == ["sample/sales_2024_q1.csv", "sample/stores.tsv"]
    stores = out[out.index("preview of sample/stores.tsv") :]
    assert "opened_on" in stores and "order_id" not in stores


def test_status_shows_skipped_stages_and_what_is_not_built(data_root: Path):
    run = dat("runs", "create")["run_id"]
    dat("lock", run, "discovery", "--set", "root=sample", "--materialize")
    dat("lock", run, "selection", "--set", "files=[sample/stores.tsv]")
    out = text("status", run)
    rows = {line.split()[0]: line.split() for line in out.splitlines()[3:11]}
    assert rows["discovery"][1] == "LOCKED" and rows["selection"][3] == "no"
    assert "not built yet: selection\n" in out and f"build: dat materialize {run} " in out
    dat("materialize", run)
    dat("skip", run, "context")
    rows = {line.split()[0]: line.split() for line in text("status", run).splitlines()[3:11]}
    assert rows["context"][1] == "SKIPPED"
    assert dat("status", run)["stages"][2]["state"] == "LOCKED"  # the JSON contract holds


def test_lock_without_materialize_says_how_it_gets_built(data_root: Path):
    run = dat("runs", "create")["run_id"]
    out = text("lock", run, "discovery", "--set", "root=sample")
    assert "not built yet" in out
    assert f"dat materialize {run} --stage discovery" in out and "make ui" in out


def test_relock_prints_the_cascade_and_chain_relocks_it_with_the_kept_configs(data_root: Path):
    run = _selected_run(["sample/stores.tsv"])
    before = {s["stage"]: s["stage_id"] for s in dat("status", run)["stages"]}
    out = text("lock", run, "discovery", "--set", "root=sample", "--set", "include=[*.tsv]")
    assert "unlocked: selection, table_availability, table_selection" in out
    assert "configs are kept" in out and f"dat lock {run} --chain\n" in out
    assert all(len(line) <= 80 for line in out.splitlines())

    text("lock", run, "discovery", "--set", "root=sample", "--materialize")
    chained = text("lock", run, "--chain")
    assert [line.split()[0] for line in chained.splitlines()] == [
        "selection",
        "table_availability",
        "table_selection",
    ]
    after = {s["stage"]: s for s in dat("status", run)["stages"]}
    for stage in ("selection", "table_availability", "table_selection"):
        assert after[stage]["state"] == "LOCKED" and after[stage]["completed"] is True
    assert after["discovery"]["stage_id"] == before["discovery"]
    assert after["table_selection"]["config"]["tables"] == {"sample/stores.tsv": ["*"]}


def test_chain_builds_the_relocked_stage_and_skips_a_skipped_stage_again(data_root: Path):
    run = _selected_run(["sample/stores.tsv"])
    dat("skip", run, "context")
    out = text("lock", run, "discovery", "--set", "root=sample", "--set", "include=[*.tsv]")
    assert "context" in out.split("unlocked:", 1)[1].splitlines()[0]
    assert "not built yet" in out

    chained = text("lock", run, "--chain").splitlines()
    context = next(line for line in chained if line.startswith("context "))
    assert context.startswith("context skipped again as ")
    assert [line.split()[0] for line in chained] == [
        "selection",
        "context",
        "table_availability",
        "table_selection",
    ]
    assert all(" re-locked as " in line for line in chained if line is not context)
    after = {s["stage"]: s for s in dat("status", run)["stages"]}
    assert after["context"]["state"] == "LOCKED" and after["context"]["config"] is None
    assert text("status", run).count("SKIPPED") == 1


def test_events_are_one_line_each_at_80_columns_and_detail_adds_what_they_recorded(
    data_root: Path,
):
    run = dat("runs", "create")["run_id"]
    dat("lock", run, "discovery", "--set", "root=sample", "--materialize")
    trail = dat("events", run)["events"]
    lines = text("events", run).splitlines()
    assert len(lines) == 3 + len(trail) and all(len(line) <= 80 for line in lines)
    assert lines[-1].split()[-2:] == ["complete", trail[-1]["stage_id"]]
    detailed = " ".join(text("events", run, "--detail").split())
    assert '"root": "sample"' in detailed


@pytest.mark.parametrize(
    "command",
    [
        ["runs", "list"],
        ["sources", "list"],
        ["jobs", "list"],
        ["profiles", "list"],
        ["datasets", "list"],
        ["analysis", "sources"],
    ],
)
def test_an_empty_list_says_how_to_make_the_first_one(data_root: Path, command: list[str]):
    out = text(*command)
    assert "(no rows)" not in out and " yet: " in out
    assert "dat " in out.split(" yet: ", 1)[1] or "export a DAT run" in out


def test_help_names_json_wide_and_verbose_and_no_spec_sections():
    top = runner.invoke(app, ["--help"]).stdout
    assert "--json" in top and "--wide" in top and "--verbose" in top
    for group in ("ingest", "analysis", "stages", "runs", "backfill"):
        assert group in top
    show = runner.invoke(app, ["show", "--help"]).stdout
    assert "--json" in show and "--wide" in show and "--columns" in show
    assert "SPEC" not in runner.invoke(app, ["rules", "--help"]).stdout


def test_every_help_shows_readable_types_and_no_internal_references():
    import typer

    from dat_pipeline.cli import LAZY, load_lazy

    root = typer.main.get_command(app)
    names = [*root.commands, *LAZY]
    paths = [[name] for name in names]
    for name in names:
        command = load_lazy(name) if name in LAZY else root.commands[name]
        paths += [[name, sub] for sub in getattr(command, "commands", {})]
    for path in paths:
        out = runner.invoke(app, [*path, "--help"], env=NARROW).stdout
        assert "Usage" in out, path
        for marker in ("<bool>", "<str>", "<int>", "<path>", "list[str]", "SPEC ", "╭"):
            assert marker not in out, (path, marker)


def test_ingest_preview_takes_project_and_applies_its_rules(data_root: Path):
    rules = data_root / "uploads" / "sales" / "rules.yaml"
    rules.parent.mkdir(parents=True)
    rules.write_text("- {type: NOT_NULL, column: region}\n", encoding="utf-8")
    stores = str(data_root / "sample" / "stores.tsv")
    plain = dat("ingest", "preview", stores)
    with_project = dat("ingest", "preview", stores, "--project", "sales")
    assert plain["rules"] == [] and len(with_project["rules"]) == 1
