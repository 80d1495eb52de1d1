"""Multi-table datasets (SPEC 1.4 export): which tables are unioned and which stay apart, user
unions, nested values in CSV, file modes a colleague can read, and the run's profile id."""

from __future__ import annotations

import json
import os
import stat

import duckdb
import polars as pl
import pytest
from helpers import build, lock_through_table_selection

from dat_pipeline.dat.profiles import (
    create_profile,
    create_run_from_profile,
    parse_profile,
    prefill_table_selection,
)
from dat_pipeline.dat.warehouse import view_name
from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.errors import StageConfigError
from dat_pipeline.settings import get_settings

Q1 = "sample/sales_2024_q1.csv"
Q2 = "sample/sales_2024_q2_semicolon.csv"
STORES = "sample/stores.tsv"
CUSTOMERS = "sample/customers.parquet"


def export(flow: DatWorkflow, tables: dict[str, list[str]], root: str = "sample", **options):
    """Lock a run from discovery to export; returns (run id, manifest)."""
    export_config = options.pop("export", {})
    run = lock_through_table_selection(flow, tables, root, **options)
    build(flow, run, "parse", {})
    row = build(flow, run, "export", export_config).row(0, named=True)
    return run, json.loads((flow.data_root / row["manifest_path"]).read_text("utf-8"))


def by_name(manifest: dict) -> dict[str, dict]:
    return {table["name"]: table for table in manifest["tables"]}


def test_tables_with_the_same_columns_are_unioned_and_the_others_kept_apart(flow: DatWorkflow):
    _, manifest = export(
        flow, {Q1: ["sales_2024_q1"], Q2: ["sales_2024_q2_semicolon"], STORES: ["stores"]}
    )
    tables = by_name(manifest)
    assert sorted(tables) == ["sales_2024", "stores"]
    sales = tables["sales_2024"]
    assert sales["sources"] == [
        {"source_file": Q1, "table": "sales_2024_q1"},
        {"source_file": Q2, "table": "sales_2024_q2_semicolon"},
    ]
    data = pl.read_parquet(flow.data_root / sales["files"]["parquet"])
    assert data["_source_file"].value_counts().sort("_source_file").rows() == [(Q1, 125), (Q2, 123)]
    assert sales["row_count"] == data.height == 248
    stores = pl.read_parquet(flow.data_root / tables["stores"]["files"]["parquet"])
    assert "order_id" not in stores.columns and "order_id" in data.columns
    assert manifest["row_count"] == data.height + stores.height
    lineage = {entry["source_file"]: entry["dataset_table"] for entry in manifest["lineage"]}
    assert lineage == {Q1: "sales_2024", Q2: "sales_2024", STORES: "stores"}


def test_tables_named_together_in_union_become_one_table(flow: DatWorkflow):
    run, manifest = export(
        flow,
        {STORES: ["stores"], CUSTOMERS: ["customers"], Q1: ["sales_2024_q1"]},
        union=[[f"{STORES}:stores", "sample/customers.*"]],
    )
    tables = by_name(manifest)
    # Named after the common start of its tables' names, else its first table (selection order).
    assert sorted(tables) == ["customers", "sales_2024_q1"]
    merged = pl.read_parquet(flow.data_root / tables["customers"]["files"]["parquet"])
    assert merged.height == 40 + 5 and {"email", "opened_on"} <= set(merged.columns)
    dataset_id = manifest["dataset_id"]
    with duckdb.connect(str(get_settings().warehouse_path), read_only=True) as connection:
        for name, table in tables.items():
            assert table["view"] == view_name(dataset_id, name)
            [(count,)] = connection.execute(f"SELECT count(*) FROM {table['view']}").fetchall()
            assert count == table["row_count"]
    shown = flow.load_artifact(run, "export").row(0, named=True)
    assert shown["dataset_id"] == dataset_id and shown["row_count"] == 45 + 125


def test_a_union_entry_that_names_no_selected_table_is_refused(flow: DatWorkflow):
    with pytest.raises(StageConfigError, match=r"union 0: 'sample/nope.csv:x' names no selected"):
        export(flow, {STORES: ["stores"]}, union=[["sample/nope.csv:x"]])


def test_nested_values_reach_csv_as_json_text(flow: DatWorkflow):
    folder = flow.data_root / "nested"
    folder.mkdir()
    rows = [
        {"id": 1, "tags": [{"X1": "a", "n": 2}], "meta": {"k": "v", "n": [1, 2]}},
        {"id": 2, "tags": [], "meta": None},
    ]
    (folder / "events.ndjson").write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    _, manifest = export(
        flow, {"nested/events.ndjson": ["events"]}, root="nested", export={"formats": ["csv"]}
    )
    [table] = manifest["tables"]
    written = pl.read_csv(flow.data_root / table["files"]["csv"], infer_schema=False)
    assert [json.loads(text) for text in written["tags"]] == [rows[0]["tags"], []]
    assert json.loads(written["meta"][0]) == rows[0]["meta"] and written["meta"][1] is None


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_exported_files_have_the_mode_the_umask_gives(flow: DatWorkflow, umask: int, mode: int):
    previous = os.umask(umask)
    try:
        _, manifest = export(
            flow, {STORES: ["stores"]}, export={"formats": ["csv", "json", "excel"]}
        )
    finally:
        os.umask(previous)
    folder = flow.data_root / "datasets" / manifest["dataset_id"]
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in folder.iterdir()}
    assert modes == dict.fromkeys(
        ["data.parquet", "data.csv", "data.json", "data.xlsx", "manifest.json"], mode
    )


def test_a_run_created_from_a_profile_exports_its_profile_id(flow: DatWorkflow):
    profile = parse_profile(
        {"name": "stores only", "root": "sample", "include": ["*.tsv"], "table_patterns": []}
    )
    record = create_profile(flow.store, profile)
    run = create_run_from_profile(flow, record.profile_id).run_id
    flow.lock(run, "discovery", None)
    flow.materialize(run, "discovery")
    flow.lock(run, "selection", {"files": [STORES]})
    flow.materialize(run, "selection")
    flow.lock(run, "table_availability", {})
    flow.materialize(run, "table_availability")
    prefill_table_selection(flow, run)
    for stage in ("table_selection", "parse", "export"):
        flow.lock(run, stage, None)
        flow.materialize(run, stage)
    row = flow.load_artifact(run, "export").row(0, named=True)
    manifest = json.loads((flow.data_root / row["manifest_path"]).read_text("utf-8"))
    assert manifest["profile_id"] == record.profile_id
