"""Extraction profiles and run cleanup (SPEC 1.5) on real stores and real files."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

import polars as pl
import pytest
import typer
import yaml
from sqlalchemy import text
from typer.testing import CliRunner

from dat_pipeline.cli import profile_commands
from dat_pipeline.dat.cleanup import apply_cleanup, plan_cleanup
from dat_pipeline.dat.profiles import (
    Profile,
    ProfileError,
    create_profile,
    create_run_from_profile,
    delete_profile,
    get_profile,
    list_profiles,
    parse_profile,
    prefill_table_selection,
    stage_configs,
    table_selection_config,
    update_profile,
)
from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.errors import NotFoundError
from dat_pipeline.store import ControlStore, schema

SALES = {
    "name": "quarterly sales",
    "root": "sample",
    "include": ["*.csv", "*.xlsx"],
    "exclude": ["returns_*"],
    "table_patterns": ["sample/sales_*#*", "products"],
    "column_mappings": {"amount": "revenue", "comment": None},
    "rules": [{"type": "not_null", "column": "order_id"}],
    "aggregation_levels": ["region"],
    "export_formats": ["csv", "parquet"],
}


def sales(**changes) -> Profile:
    return parse_profile({**SALES, **changes})


def test_same_body_gets_the_same_id_in_two_stores_whatever_the_spelling(
    store: ControlStore, tmp_path: Path
):
    other = ControlStore(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        first = create_profile(store, sales())
        respelled = sales(
            include=["*.xlsx", "*.csv", "*.csv"],
            export_formats=["PARQUET", "csv"],
            rules=[{"type": "NOT_NULL", "column": "order_id", "severity": "error"}],
        )
        second = create_profile(other, respelled)
    finally:
        other.dispose()
    assert first.profile_id == second.profile_id
    # The id is sha256 over these exact bytes: pinned, so any change of hashing shows up here.
    canonical = (
        '{"aggregation_levels":["region"],"column_mappings":{"amount":"revenue","comment":null},'
        '"exclude":["returns_*"],"export_formats":["csv","parquet"],"include":["*.csv","*.xlsx"],'
        '"name":"quarterly sales","root":"sample","rules":[{"column":"order_id",'
        '"severity":"error","type":"NOT_NULL"}],"table_patterns":["products","sample/sales_*#*"]}'
    )
    assert hashlib.sha256(canonical.encode()).hexdigest()[:8] == "2b9efe7c"
    assert first.profile_id == "prof_2b9efe7c"
    assert sales(exclude=[]).profile_id != first.profile_id
    assert sales(name="other name").profile_id != first.profile_id


def test_creating_twice_is_idempotent_and_a_taken_name_is_an_error(store: ControlStore):
    first = create_profile(store, sales())
    again = create_profile(store, sales())
    assert again.profile_id == first.profile_id and again.created_at == first.created_at
    with pytest.raises(ProfileError, match=r"name 'quarterly sales' is taken by prof_\w+"):
        create_profile(store, sales(root="elsewhere"))
    assert [r.profile_id for r in list_profiles(store)] == [first.profile_id]


def test_update_gives_a_new_id_and_keeps_the_old_version_for_its_runs(store: ControlStore):
    old = create_profile(store, sales())
    new = update_profile(store, "quarterly sales", sales(export_formats=["json"]))
    assert new.profile_id != old.profile_id and new.name == "quarterly sales"
    assert get_profile(store, "quarterly sales").profile.export_formats == ["json"]
    kept = get_profile(store, old.profile_id)
    assert kept.name is None and kept.superseded_by == new.profile_id
    assert kept.profile.export_formats == ["csv", "parquet"]
    assert [r.profile_id for r in list_profiles(store)] == [new.profile_id]
    assert len(list_profiles(store, include_superseded=True)) == 2
    with pytest.raises(ProfileError, match="old version"):
        update_profile(store, old.profile_id, sales(root="x"))
    # Back to the first body: the first id comes back, not a third one.
    back = update_profile(store, new.profile_id, sales())
    assert back.profile_id == old.profile_id and back.current

    assert sorted(delete_profile(store, "quarterly sales")) == sorted(
        [old.profile_id, new.profile_id]
    )
    assert list_profiles(store, include_superseded=True) == []
    with pytest.raises(NotFoundError, match="unknown profile 'quarterly sales'"):
        get_profile(store, "quarterly sales")


def test_a_store_at_schema_v1_gains_the_profiles_table(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = ControlStore(url)
    with old.write() as connection:
        connection.execute(text("DROP TABLE dat_profiles"))
        connection.execute(text("UPDATE dat_meta SET value = '1' WHERE key = 'schema_version'"))
    old.dispose()
    upgraded = ControlStore(url)
    try:
        assert upgraded.schema_version() == schema.SCHEMA_VERSION
        assert create_profile(upgraded, sales()).profile_id == sales().profile_id
    finally:
        upgraded.dispose()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"rules": [{"type": "RANGE", "column": "amount", "min": 10, "max": 1}]},
            r"rules: rule 0 \(RANGE, amount\): .*min",
        ),
        ({"rules": [{"type": "SHOUT", "column": "a"}]}, r"rules: rule 0.*unknown type 'SHOUT'"),
        ({"export_formats": ["parquet", "xml"]}, r"export_formats: unknown export format 'xml'"),
        ({"root": "/etc"}, r"root: path '/etc' is absolute"),
        ({"exlude": ["*.tmp"]}, r"exlude: Extra inputs are not permitted"),
        ({"column_mappings": {"a": "x", "b": "x"}}, r"'a' and 'b' both map to 'x'"),
        ({"name": "prof_0123abcd"}, r"looks like a profile id"),
    ],
)
def test_invalid_profiles_fail_with_a_message_naming_the_field(change: dict, message: str):
    with pytest.raises(ProfileError) as info:
        sales(**change)
    assert str(info.value).startswith("invalid profile '")
    assert re.search(message, str(info.value)), str(info.value)


def test_stage_configs_cover_discovery_context_and_export():
    configs = stage_configs(sales())
    assert configs["discovery"] == {
        "root": "sample",
        "include": ["*.csv", "*.xlsx"],
        "exclude": ["returns_*"],
        "recursive": True,
    }
    assert configs["export"] == {"formats": ["csv", "parquet"], "aggregation_levels": ["region"]}
    assert configs["context"] == {
        "aggregation_levels": ["region"],
        "column_mappings": {"amount": "revenue"},
    }


def test_run_from_profile_is_prefilled_and_a_bare_lock_uses_the_kept_config(
    workflow: DatWorkflow,
):
    record = create_profile(workflow.store, sales())
    run = create_run_from_profile(workflow, "quarterly sales")
    assert run.profile_id == record.profile_id and run.follow is True
    assert run.name == "quarterly sales"
    status = workflow.lock(run.run_id, "discovery", None)
    assert status.config["root"] == "sample" and status.config["exclude"] == ["returns_*"]
    workflow.materialize(run.run_id, "discovery")
    paths = set(workflow.load_artifact(run.run_id, "discovery")["path"].to_list())
    assert paths == {
        "sample/sales_2024_q1.csv",
        "sample/sales_2024_q2_semicolon.csv",
        "sample/products.xlsx",
    }
    kept = workflow.stage_status(run.run_id, "export")
    assert not kept.locked and sorted(kept.config["formats"]) == ["csv", "parquet"]


def test_unknown_profile_makes_no_run(workflow: DatWorkflow):
    with pytest.raises(NotFoundError, match="unknown profile 'nope'"):
        create_run_from_profile(workflow, "nope")
    assert workflow.store.list_runs() == []


def test_table_patterns_resolve_against_availability():
    availability = pl.DataFrame(
        {
            "path": [
                "sample/sales_2024_q1.csv",
                "sample/products.xlsx",
                "sample/products.xlsx",
                "sample/sales_broken.csv",
            ],
            "table": ["sales_2024_q1", "products", "categories", None],
            "status": ["available", "available", "available", "error"],
        }
    )
    config = table_selection_config(sales(), availability)
    assert config["tables"] == {
        "sample/products.xlsx": ["products"],
        "sample/sales_2024_q1.csv": ["sales_2024_q1"],
    }
    assert config["column_mappings"] == {"amount": "revenue", "comment": None}
    assert config["rules"][0]["type"] == "NOT_NULL"
    with pytest.raises(ProfileError, match="no available table matches"):
        table_selection_config(sales(table_patterns=["nothing*"]), availability)


def test_table_selection_is_prefilled_once_availability_is_known(data_root: Path, tmp_path: Path):
    store = ControlStore(f"sqlite:///{tmp_path / 'ts.db'}")
    flow = DatWorkflow(store, data_root)
    try:
        create_profile(store, sales(rules=[], column_mappings={}))
        run = create_run_from_profile(flow, "quarterly sales").run_id
        flow.lock(run, "discovery", None)
        flow.materialize(run, "discovery")
        flow.lock(run, "selection", {"files": ["sample/sales_2024_q1.csv", "sample/products.xlsx"]})
        flow.materialize(run, "selection")
        flow.lock(run, "table_availability", {})
        flow.materialize(run, "table_availability")
        config = prefill_table_selection(flow, run)
        assert config is not None
        status = flow.lock(run, "table_selection", None)
        assert status.config["tables"] == config["tables"]
        assert "sample/products.xlsx" in config["tables"]
        assert config["tables"]["sample/products.xlsx"] == ["products"]
    finally:
        store.dispose()


# -- cleanup ----------------------------------------------------------------------------------
def relocked_run(flow: DatWorkflow) -> tuple[str, str, str]:
    """A run whose discovery was built with config A, then re-locked and built with config B."""
    run = flow.create_run(name="cleanup").run_id
    first = flow.lock(run, "discovery", {"root": "sample", "include": ["*.csv"]}).stage_id
    flow.materialize(run, "discovery")
    second = flow.lock(run, "discovery", {"root": "sample", "include": ["*.tsv"]}).stage_id
    flow.materialize(run, "discovery")
    assert first != second
    return run, first, second


def test_cleanup_lists_only_the_artifact_of_the_replaced_lock(workflow: DatWorkflow):
    run, first, _second = relocked_run(workflow)
    stale = workflow.artifacts.path(run, "discovery", first)
    plan = plan_cleanup(workflow, run)
    assert [item.path for item in plan] == [f"dat/runs/{run}/discovery/{first}.parquet"]
    assert plan[0].bytes == stale.stat().st_size > 0
    assert plan[0].reason == "unreferenced (stage discovery unlocked or re-locked)"
    assert stale.is_file(), "the plan alone deletes nothing"

    removed = apply_cleanup(workflow, run)
    assert removed == plan and not stale.exists()
    assert workflow.load_artifact(run, "discovery")["path"].to_list() == ["sample/stores.tsv"]
    event = workflow.store.run_events(run)[-1]
    assert event.kind == "cleanup"
    assert event.detail["count"] == 1 and event.detail["bytes"] == plan[0].bytes
    assert plan_cleanup(workflow, run) == []


def test_old_temp_files_are_partial_writes_and_fresh_ones_are_left_alone(
    workflow: DatWorkflow, tmp_path: Path
):
    run = workflow.create_run().run_id
    workflow.lock(run, "discovery", {"root": "sample"})
    workflow.materialize(run, "discovery")
    folder = workflow.artifacts.run_dir(run) / "discovery"
    old = folder / ".x.parquet.abc.tmp"
    old.write_bytes(b"half a parquet file")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    (folder / ".y.parquet.def.tmp").write_bytes(b"being written right now")
    outside = workflow.data_root / "dat" / ".stray.parquet.xyz.tmp"
    outside.write_bytes(b"not this run's")
    os.utime(outside, (an_hour_ago, an_hour_ago))

    plan = plan_cleanup(workflow, run)
    assert [(i.path, i.bytes) for i in plan] == [
        (f"dat/runs/{run}/discovery/.x.parquet.abc.tmp", len(b"half a parquet file"))
    ]
    assert plan[0].reason.startswith("partial write")
    apply_cleanup(workflow, run)
    assert not old.exists() and outside.exists() and (folder / ".y.parquet.def.tmp").exists()
    assert workflow.load_artifact(run, "discovery").height > 0


def test_failed_work_is_kept_while_locked_and_listed_once_unlocked(workflow: DatWorkflow):
    run = workflow.create_run().run_id
    status = workflow.lock(run, "discovery", {"root": "sample"})
    side = workflow.artifacts.work_dir(run, "discovery", status.stage_id)
    side.mkdir(parents=True)
    (side / "checkpoint.parquet").write_bytes(b"completed table")
    workflow.record_failure(run, "discovery", status.stage_id, RuntimeError("disk full"))
    assert plan_cleanup(workflow, run) == [], "a locked stage's checkpoints are never listed"

    workflow.unlock(run, "discovery")
    plan = plan_cleanup(workflow, run)
    assert [i.path for i in plan] == [f"dat/runs/{run}/discovery/{status.stage_id}"]
    assert plan[0].bytes == len(b"completed table")
    assert plan[0].reason == "failed work, unreferenced (stage discovery: RuntimeError: disk full)"


def test_cleanup_of_an_unknown_run_names_it(workflow: DatWorkflow):
    with pytest.raises(NotFoundError, match="unknown run 'ghost'"):
        plan_cleanup(workflow, "ghost")


# -- CLI --------------------------------------------------------------------------------------
runner = CliRunner()


def cli_app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(profile_commands.profiles_app, name="profiles")
    app.command("cleanup")(profile_commands.cleanup)
    return app


def dat(*args: str) -> dict:
    result = runner.invoke(cli_app(), [*args, "--json"])
    assert result.exit_code == 0, result.stderr or result.output
    return json.loads(result.stdout)


def test_profiles_commands_create_list_show_update_delete(data_root: Path, tmp_path: Path):
    profile_file = tmp_path / "profile.yaml"
    profile_file.write_text(yaml.safe_dump(SALES), encoding="utf-8")
    created = dat("profiles", "create", "--file", str(profile_file))
    assert created["created"] is True and created["name"] == "quarterly sales"
    assert created["profile_id"] == sales().profile_id
    assert created["stage_configs"]["discovery"]["root"] == "sample"
    assert dat("profiles", "create", "--file", str(profile_file))["created"] is False

    simple = dat(
        "profiles", "create", "--name", "tsv only", "--root", "sample", "--include", "*.tsv"
    )
    assert simple["profile"]["include"] == ["*.tsv"]
    assert [p["name"] for p in dat("profiles", "list")["profiles"]] == [
        "quarterly sales",
        "tsv only",
    ]
    assert dat("profiles", "show", created["profile_id"])["name"] == "quarterly sales"

    profile_file.write_text(yaml.safe_dump({"root": "sample", "include": ["*.csv"]}), "utf-8")
    updated = dat("profiles", "update", "quarterly sales", "--file", str(profile_file))
    assert updated["changed"] and updated["previous_id"] == created["profile_id"]
    assert updated["name"] == "quarterly sales" and updated["profile"]["rules"] == []
    assert dat("profiles", "show", "quarterly sales")["profile_id"] == updated["profile_id"]

    deleted = dat("profiles", "delete", "tsv only")
    assert deleted == {"deleted": [simple["profile_id"]]}

    missing = runner.invoke(cli_app(), ["profiles", "show", "tsv only", "--json"])
    assert missing.exit_code == 1 and missing.stdout == ""
    assert missing.stderr.strip() == (
        "error: unknown profile 'tsv only' (list profiles with: dat profiles list)"
    )
    bad = runner.invoke(cli_app(), ["profiles", "create", "--name", "x", "--format", "xml"])
    assert bad.exit_code == 1 and "unknown export format 'xml'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_cleanup_command_is_a_dry_run_unless_apply(data_root: Path):
    from dat_pipeline.services.context import workflow

    flow = workflow()
    run, first, _second = relocked_run(flow)
    stale = flow.artifacts.path(run, "discovery", first)
    dry = dat("cleanup", run)
    assert dry["applied"] is False and dry["count"] == 1 and stale.exists()
    assert dry["items"][0]["path"].endswith(f"{first}.parquet")
    assert dry["bytes"] == stale.stat().st_size
    table = runner.invoke(cli_app(), ["cleanup", run])
    assert table.exit_code == 0 and "unreferenced (stage discovery" in table.stdout
    assert f"would remove 1 item(s), {dry['bytes'] / 1024:.1f} KB" in table.stdout
    applied = dat("cleanup", run, "--apply")
    assert applied["applied"] is True and applied["items"] == dry["items"]
    assert not stale.exists()
    assert dat("cleanup", run)["count"] == 0
