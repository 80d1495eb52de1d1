"""The table stages on real sample files: table_availability, table_selection and preview."""

from __future__ import annotations

import json
import zipfile

import polars as pl
import pytest
from helpers import build

from dat_pipeline.cleaning import parse_rules
from dat_pipeline.dat.stages.tables import (
    SelectedTable,
    apply_mapping,
    dtype_from_text,
    rule_label_map,
    rules_for,
    selected_tables,
)
from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.errors import DatError, StageConfigError
from dat_pipeline.settings import get_settings

SALES = "sample/sales_2024_q1.csv"
SALES_Q2 = "sample/sales_2024_q2_semicolon.csv"
STORES = "sample/stores.tsv"
PRODUCTS = "sample/products.xlsx"
CUSTOMERS = "sample/customers.parquet"
QUANTITY_RANGE = {"type": "RANGE", "column": "quantity", "min": 2, "max": 8}


def selected_run(flow: DatWorkflow, files: list[str] | None = None) -> str:
    run = flow.create_run().run_id
    build(flow, run, "discovery", {"root": "sample"})
    catalog = flow.load_artifact(run, "discovery")
    build(flow, run, "selection", {"files": files or catalog["path"].to_list()})
    return run


def available_run(flow: DatWorkflow, files: list[str] | None = None) -> str:
    run = selected_run(flow, files)
    build(flow, run, "table_availability", {})
    return run


def rows_by_table(frame: pl.DataFrame) -> dict[tuple[str, str | None], dict]:
    return {(row["path"], row["table"]): row for row in frame.iter_rows(named=True)}


# -- table_availability ------------------------------------------------------------------------


def test_availability_probes_every_table_of_every_sample_file(flow: DatWorkflow):
    run = selected_run(flow)
    lines: list[str] = []
    build(flow, run, "table_availability", {}, log=lines.append)

    probed = rows_by_table(flow.load_artifact(run, "table_availability"))
    assert {(PRODUCTS, "products"), (PRODUCTS, "categories")} <= set(probed)
    assert all(row["status"] == "available" for row in probed.values())
    stores = probed[(STORES, "stores")]
    columns = json.loads(stores["columns"])
    assert stores["column_count"] == len(columns) >= 3
    assert {"name": "store_id", "dtype": "String"} in columns
    assert probed[(SALES_Q2, "sales_2024_q2_semicolon")]["encoding"] == "latin-1"
    assert probed[(SALES, "sales_2024_q1")]["row_estimate"] == 125
    assert all(row["probe_seconds"] > 0 for row in probed.values())
    assert len(lines) == 7 and any(line.startswith(f"{PRODUCTS}: 2 table(s)") for line in lines)


def test_a_file_deleted_after_selection_is_missing_and_the_others_available(flow: DatWorkflow):
    run = selected_run(flow, [SALES, STORES, PRODUCTS])
    (flow.data_root / STORES).unlink()
    build(flow, run, "table_availability", {})

    probed = rows_by_table(flow.load_artifact(run, "table_availability"))
    missing = probed[(STORES, None)]
    assert missing["status"] == "missing" and STORES in missing["error"]
    assert probed[(SALES, "sales_2024_q1")]["status"] == "available"
    assert probed[(PRODUCTS, "categories")]["status"] == "available"


def test_a_corrupt_workbook_and_binary_junk_are_errors_and_the_others_fine(flow: DatWorkflow):
    garbled = flow.data_root / "sample" / "garbled.xlsx"
    with zipfile.ZipFile(garbled, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook><sheets><sheet name=")
    run = selected_run(flow, [SALES, STORES, "sample/garbled.xlsx"])
    # Replaced after discovery: selection saw a TSV, availability finds junk.
    (flow.data_root / STORES).write_bytes(bytes(range(256)) * 8)
    build(flow, run, "table_availability", {})

    probed = rows_by_table(flow.load_artifact(run, "table_availability"))
    workbook = probed[("sample/garbled.xlsx", None)]
    junk = probed[(STORES, None)]
    assert workbook["status"] == junk["status"] == "error"
    assert "sample/garbled.xlsx" in workbook["error"] and workbook["adapter"] == "excel"
    assert STORES in junk["error"] and "binary" in junk["error"]
    assert str(flow.data_root) not in workbook["error"] + junk["error"]
    assert probed[(SALES, "sales_2024_q1")]["status"] == "available"


# -- table_selection ---------------------------------------------------------------------------


def test_selecting_an_unknown_file_names_it_and_the_known_ones(flow: DatWorkflow):
    run = available_run(flow, [SALES, STORES])
    with pytest.raises(StageConfigError, match=r"'sample/nope\.csv'.*sample/stores\.tsv"):
        flow.lock(run, "table_selection", {"tables": {"sample/nope.csv": ["*"]}})


def test_selecting_an_unknown_table_names_the_file_and_its_tables(flow: DatWorkflow):
    run = available_run(flow, [PRODUCTS])
    with pytest.raises(
        StageConfigError, match=r"products\.xlsx has no table 'orders'.*'categories'"
    ):
        flow.lock(run, "table_selection", {"tables": {PRODUCTS: ["products", "orders"]}})


def test_a_table_that_is_not_available_cannot_be_selected(flow: DatWorkflow):
    run = selected_run(flow, [SALES, STORES])
    (flow.data_root / STORES).unlink()
    build(flow, run, "table_availability", {})
    with pytest.raises(StageConfigError, match=r"stores\.tsv table 'stores'.*missing"):
        flow.lock(run, "table_selection", {"tables": {STORES: ["stores"]}})
    with pytest.raises(StageConfigError, match=r"stores\.tsv has no available table"):
        flow.lock(run, "table_selection", {"tables": {STORES: ["*"], SALES: ["*"]}})


def test_a_mapping_of_an_unknown_column_names_it_and_the_available_ones(flow: DatWorkflow):
    run = available_run(flow, [STORES])
    config = {"tables": {STORES: ["*"]}, "column_mappings": {"shop": "store"}}
    with pytest.raises(StageConfigError, match=r"'shop'.*available columns: store_id, name"):
        flow.lock(run, "table_selection", config)


def test_mapping_two_columns_to_one_name_is_an_error(flow: DatWorkflow):
    run = available_run(flow, [STORES])
    config = {"tables": {STORES: ["*"]}, "column_mappings": {"name": "region"}}
    with pytest.raises(StageConfigError, match=r"stores\.tsv table 'stores'.*'region' from"):
        flow.lock(run, "table_selection", config)


def test_bad_rules_are_refused_at_lock_time_with_the_rule_named(flow: DatWorkflow):
    run = available_run(flow, [SALES, CUSTOMERS])
    tables = {SALES: ["*"], CUSTOMERS: ["*"]}
    inverted = {**QUANTITY_RANGE, "min": 9, "max": 1}
    with pytest.raises(StageConfigError, match=r"rule 0 \(RANGE, quantity\).*min 9"):
        flow.lock(run, "table_selection", {"tables": tables, "rules": [inverted]})
    renamed = {"tables": tables, "column_mappings": {"quantity": "qty"}, "rules": [QUANTITY_RANGE]}
    with pytest.raises(StageConfigError, match=r"'quantity' is not in the data.*, qty,"):
        flow.lock(run, "table_selection", renamed)
    # Numeric bounds on a date column fail on the probed schema, before any data is read.
    dated = {"type": "RANGE", "column": "signup_date", "min": 0, "max": 1}
    wrong_type = {"tables": tables, "rules": [QUANTITY_RANGE, dated]}
    with pytest.raises(StageConfigError, match=r"customers\.parquet table 'customers'.*rule 1"):
        flow.lock(run, "table_selection", wrong_type)


def test_mappings_rename_and_drop_columns_of_the_tables_that_have_them(flow: DatWorkflow):
    run = available_run(flow, [SALES, STORES])
    config = {
        "tables": {SALES: ["sales_2024_q1"], STORES: ["*"]},
        "column_mappings": {"amount": "total", "region": None},
        "rules": [{"type": "NOT_NULL", "column": "total"}],
    }
    build(flow, run, "table_selection", config)

    selected = {t.table: t for t in selected_tables(flow.load_artifact(run, "table_selection"))}
    sales, stores = selected["sales_2024_q1"], selected["stores"]
    sales_columns = [c.name for c in sales.columns]
    assert "total" in sales_columns and "amount" not in sales_columns
    assert "region" not in sales_columns and "region" not in [c.name for c in stores.columns]
    assert sales.mapping == {"region": None, "amount": "total"}
    assert stores.mapping == {"region": None}
    assert sales.adapter == "csv" and sales.row_estimate == 125


def test_a_star_selects_every_available_table_of_a_file(flow: DatWorkflow):
    run = available_run(flow, [PRODUCTS])
    build(flow, run, "table_selection", {"tables": {PRODUCTS: ["*"]}})
    tables = flow.load_artifact(run, "table_selection")["table"].to_list()
    assert tables == ["products", "categories"]


def test_a_path_outside_the_data_root_is_refused(flow: DatWorkflow):
    run = available_run(flow, [STORES])
    with pytest.raises(StageConfigError, match=r"leaves the data root"):
        flow.lock(run, "table_selection", {"tables": {"../secret.csv": ["*"]}})


# -- preview -----------------------------------------------------------------------------------


def previewed_run(flow: DatWorkflow, preview_config: dict) -> tuple[str, pl.DataFrame]:
    run = available_run(flow, [SALES, STORES, PRODUCTS])
    selection = {
        "tables": {SALES: ["*"], STORES: ["*"], PRODUCTS: ["products"]},
        "column_mappings": {"amount": "total"},
        "rules": [QUANTITY_RANGE, {"type": "TRIM", "column": "name"}],
    }
    build(flow, run, "table_selection", selection)
    build(flow, run, "preview", preview_config)
    return run, flow.load_artifact(run, "preview")


def test_preview_reads_at_most_limit_rows_per_table_with_rule_verdicts(flow: DatWorkflow):
    _, frame = previewed_run(flow, {"limit": 20})

    counts = dict(frame.group_by("_source_table").len().iter_rows())
    assert counts == {"sales_2024_q1": 20, "stores": 5, "products": 6}
    assert frame.columns[:6] == [
        "_source_file",
        "_source_table",
        "_row_number",
        "_kept",
        "0:RANGE(quantity)",
        "1:TRIM(name)",
    ]
    sales = frame.filter(pl.col("_source_table") == "sales_2024_q1")
    quantity = sales["quantity"].cast(pl.Int64)
    dropped = sales.filter(~pl.col("0:RANGE(quantity)"))
    assert dropped.height > 0 and not dropped["_kept"].any()
    assert sales["0:RANGE(quantity)"].to_list() == quantity.is_between(2, 8).to_list()
    assert sales["_row_number"].to_list() == list(range(20))
    assert sales["total"].null_count() == 0 and sales["name"].null_count() == sales.height
    stores = frame.filter(pl.col("_source_table") == "stores")
    assert stores["0:RANGE(quantity)"].null_count() == stores.height  # rule does not apply
    assert stores["1:TRIM(name)"].to_list() == [True] * stores.height
    assert all(frame.schema[c] == pl.String for c in ("total", "quantity", "name", "opened_on"))


def test_preview_limit_defaults_to_the_preview_row_limit_setting(flow, monkeypatch):
    monkeypatch.setenv("DAT_PREVIEW_ROW_LIMIT", "3")
    get_settings.cache_clear()
    _, frame = previewed_run(flow, {})
    counts = dict(frame.group_by("_source_table").len().iter_rows())
    assert counts == {"sales_2024_q1": 3, "stores": 3, "products": 3}


def test_skipping_preview_locks_it_completed_with_an_empty_artifact(flow: DatWorkflow):
    run = available_run(flow, [STORES])
    build(flow, run, "table_selection", {"tables": {STORES: ["*"]}})
    status = flow.skip(run, "preview")
    assert status.locked and status.completed
    assert flow.load_artifact(run, "preview").height == 0
    assert "preview" not in flow.pending(run)


def test_unlocking_table_availability_cascades_to_selection_and_preview(workflow: DatWorkflow):
    run = available_run(workflow, [STORES])
    build(workflow, run, "table_selection", {"tables": {STORES: ["*"]}})
    build(workflow, run, "preview", {"limit": 2})

    unlocked = workflow.unlock(run, "table_availability")

    assert unlocked == ["table_availability", "table_selection", "preview"]
    states = {s.stage: s.state for s in workflow.status(run)}
    assert states["selection"] == "LOCKED" and states["preview"] == "UNLOCKED"
    assert workflow.stage_status(run, "table_selection").config["tables"] == {STORES: ["*"]}


# -- helpers the parse stage reuses ------------------------------------------------------------


def test_apply_mapping_renames_drops_and_names_a_vanished_column():
    frame = pl.DataFrame({"a": [1], "b": [2], "c": [3]})
    mapped = apply_mapping(frame, json.dumps({"a": "x", "b": None}))
    assert mapped.columns == ["x", "c"]
    with pytest.raises(DatError, match=r"f\.csv table 't' has no column 'zz'"):
        apply_mapping(frame, {"zz": "y"}, where="f.csv table 't'")


def test_rules_for_keeps_applicable_rules_and_their_config_labels():
    rules = parse_rules([QUANTITY_RANGE, {"type": "TRIM", "column": "name"}])
    assert rules_for(["name", "city"], rules) == [rules[1]]
    assert rule_label_map(["name"], rules) == {"0:TRIM(name)": "1:TRIM(name)"}
    table = SelectedTable(path="sample/x.csv", table="x", adapter="csv", format="csv")
    assert table.label == "sample/x.csv table 'x'"
    assert dtype_from_text("Int64") == pl.Int64 and dtype_from_text("List(String)") == pl.String
    assert dtype_from_text("Datetime(time_unit='us', time_zone='UTC')") == pl.Datetime("us", "UTC")


def test_preview_of_a_file_deleted_after_selection_names_it(flow: DatWorkflow):
    run = available_run(flow, [STORES])
    build(flow, run, "table_selection", {"tables": {STORES: ["*"]}})
    (flow.data_root / STORES).unlink()
    flow.lock(run, "preview", {"limit": 2})
    with pytest.raises(
        DatError, match=r"preview of sample/stores\.tsv table 'stores' failed"
    ) as err:
        flow.materialize(run, "preview")
    assert str(flow.data_root) not in str(err.value)
    assert "DatError" in flow.stage_status(run, "preview").error


# -- selection of folders, globs and bad files ------------------------------------------------


def test_selecting_a_folder_with_an_unreadable_file_reports_it_at_availability(flow: DatWorkflow):
    (flow.data_root / "sample" / "junk.csv").write_bytes(bytes(range(256)) * 8)
    run = flow.create_run().run_id
    build(flow, run, "discovery", {"root": "sample"})
    build(flow, run, "selection", {"files": ["sample/*"]})
    selection = flow.load_artifact(run, "selection")
    assert "sample/junk.csv" in selection["path"].to_list() and SALES in selection["path"]
    build(flow, run, "table_availability", {})
    junk = rows_by_table(flow.load_artifact(run, "table_availability"))[("sample/junk.csv", None)]
    assert junk["status"] == "error" and "binary" in junk["error"]
    with pytest.raises(StageConfigError, match=r"junk\.csv table 'junk' cannot be selected"):
        flow.lock(run, "table_selection", {"tables": {"sample/junk.csv": ["junk"]}})
    with pytest.raises(StageConfigError, match=r"junk\.csv has no available table.*binary"):
        flow.lock(run, "table_selection", {"tables": {"sample/junk.csv": ["*"]}})
    build(flow, run, "table_selection", {"tables": {"sample/*.csv": ["*"]}})
    picked = flow.load_artifact(run, "table_selection")["path"].to_list()
    assert SALES in picked and "sample/junk.csv" not in picked


def test_selection_globs_and_the_readable_only_form(flow: DatWorkflow):
    (flow.data_root / "sample" / "junk.csv").write_bytes(bytes(range(256)) * 8)
    run = flow.create_run().run_id
    build(flow, run, "discovery", {"root": "sample"})
    catalog = flow.load_artifact(run, "discovery")
    build(flow, run, "selection", {"files": ["sample/sales_*.csv"]})
    assert flow.load_artifact(run, "selection")["path"].to_list() == [SALES, SALES_Q2]
    build(flow, run, "selection", {"files": ["*"], "readable_only": True})
    readable = catalog.filter(pl.col("readable"))["path"].to_list()
    assert flow.load_artifact(run, "selection")["path"].to_list() == readable
    assert "sample/junk.csv" not in readable
    with pytest.raises(StageConfigError, match=r"did not catalog: sample/\*\.docx"):
        flow.lock(run, "selection", {"files": ["sample/*.docx"]})


def test_a_table_whose_probe_timed_out_can_be_selected_and_parse_reads_it_whole(
    flow: DatWorkflow,
):
    pl.DataFrame({"id": range(50_000), "name": ["x"] * 50_000}).write_csv(
        flow.data_root / "sample" / "big.csv"
    )
    run = selected_run(flow, ["sample/big.csv", SALES])
    # A microsecond: the probe of a 50k-row file is always cut off.
    build(flow, run, "table_availability", {"timeout_s": 1e-6})
    probed = rows_by_table(flow.load_artifact(run, "table_availability"))
    big = probed[("sample/big.csv", "big")]
    assert big["status"] == "error" and big["error"].startswith("probe timeout")
    build(flow, run, "table_selection", {"tables": {"sample/big.csv": ["big"]}})
    build(flow, run, "parse", {})
    [row] = flow.load_artifact(run, "parse").filter(pl.col("path") == "sample/big.csv").to_dicts()
    assert row["status"] == "done" and row["rows"] == 50_000
