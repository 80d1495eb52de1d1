"""The ingestion wizard end to end in the browser: upload, field mapping (rename, drop), a
cleaning rule, the preview with its rejected row, submit, and the cleaned file; with every table
of a workbook, a preview per sheet that names a sheet the mapping does not fit."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
from console_support import Console, screenshot, sign_in
from helpers import workbook_of
from playwright.sync_api import Page, expect

RULES = "- type: RANGE\n  column: quantity\n  min: 0\n  max: 100\n"


def test_the_wizard_maps_fields_previews_a_rejected_row_and_ingests(
    page: Page, console: Console, tmp_path: Path
):
    source = tmp_path / "orders_wizard.csv"
    source.write_text(
        "order_id,qty,comment\n1,5,ok\n2,-3,returned\n3,7,ok\n4,12,ok\n", encoding="utf-8"
    )
    sign_in(page, console, "analysts")
    page.get_by_role("link", name="Ingestion").click()
    page.get_by_test_id("upload").locator("input[type=file]").set_input_files(source)
    expect(page.get_by_test_id("chosen-source")).to_have_text("Source: orders_wizard.csv")
    screenshot(page, "ingestion-source")
    page.get_by_test_id("source-next").click()

    page.get_by_test_id("name-qty").fill("quantity")
    page.get_by_test_id("keep-comment").click()
    screenshot(page, "ingestion-mapping")
    page.get_by_test_id("mapping-next").click()

    page.get_by_test_id("rules").fill(RULES)
    page.get_by_test_id("ruleset-name").fill("qty_range")  # saved, then reused from the store
    page.get_by_test_id("ruleset-save").click()
    expect(page.get_by_test_id("ruleset-choice")).to_contain_text("qty_range")
    page.get_by_test_id("rules").fill("")
    page.get_by_test_id("ruleset-load").click()
    expect(page.get_by_test_id("rules")).to_have_value(re.compile(r"type: RANGE[\s\S]*max: 100"))
    page.get_by_test_id("rules-next").click()
    expect(page.get_by_test_id("preview-summary")).to_contain_text("3 kept, 1 rejected")
    rejected = page.get_by_test_id("ingest-preview").locator(".dat-rejected")
    expect(rejected).to_have_count(1)
    expect(rejected.locator(".dat-fail")).to_have_count(1)
    expect(rejected).to_contain_text("-3")
    expect(page.get_by_test_id("ingest-preview")).not_to_contain_text("returned")
    screenshot(page, "ingestion-preview")
    page.get_by_test_id("preview-next").click()

    page.get_by_test_id("submit").click()
    expect(page.get_by_test_id("ingest-result")).to_have_text(
        "Ingested: 4 rows in, 3 kept, 1 rejected"
    )
    clean = pl.read_parquet(console.data_root / "uploads/analysts/clean/orders_wizard.parquet")
    assert [c for c in clean.columns if not c.startswith("_")] == ["order_id", "quantity"]
    assert sorted(clean["quantity"].to_list()) == [5, 7, 12]
    screenshot(page, "ingestion-submit")

    page.get_by_role("link", name="See the jobs").click()
    expect(page.get_by_text("COMPLETED").first).to_be_visible()
    page.locator("[data-testid^=job-]").first.click()
    # The job's last log line (its table count is new with ingestion of every table).
    done = re.compile(r"completed: (1 table\(s\), )?4 rows in, 3 kept, 1 rejected")
    expect(page.get_by_text(done)).to_be_visible()
    screenshot(page, "jobs")


def _two_sheets(page: Page, console: Console, tmp_path: Path) -> None:
    """Upload a workbook of two sheets with different columns and choose every table."""
    workbook = tmp_path / "two_sheets.xlsx"
    book = workbook_of("orders", [["id", "qty"], [1, 5], [2, 7]])
    stores = book.create_sheet("stores")
    stores.append(["code"])
    stores.append(["S1"])
    book.save(workbook)
    sign_in(page, console, "analysts")
    page.get_by_role("link", name="Ingestion").click()
    page.get_by_test_id("upload").locator("input[type=file]").set_input_files(workbook)
    page.get_by_test_id("table").click()
    page.get_by_role("option", name="every table (one output each)").click()
    page.get_by_test_id("source-next").click()


def test_every_sheet_of_a_workbook_is_previewed_and_ingested_when_every_table_is_chosen(
    page: Page, console: Console, tmp_path: Path
):
    _two_sheets(page, console, tmp_path)
    page.get_by_test_id("mapping-next").click()
    page.get_by_test_id("rules-next").click()
    expect(page.get_by_test_id("preview-summary-orders")).to_contain_text(
        "table orders: 2 rows shown, 2 kept, 0 rejected"
    )
    page.get_by_role("tab", name="stores").click()
    expect(page.get_by_test_id("preview-summary-stores")).to_contain_text(
        "table stores: 1 rows shown, 1 kept, 0 rejected"
    )
    expect(page.get_by_test_id("preview-failed")).to_have_count(0)
    page.get_by_test_id("preview-next").click()
    page.get_by_test_id("submit").click()
    expect(page.get_by_test_id("ingest-result")).to_have_text(
        "Ingested: 3 rows in, 3 kept, 0 rejected"
    )
    expect(page.get_by_test_id("ingested-orders")).to_have_text(
        "orders: 2 rows in, 2 kept, 0 rejected"
    )
    expect(page.get_by_test_id("ingested-stores")).to_have_text(
        "stores: 1 rows in, 1 kept, 0 rejected"
    )


def test_the_preview_names_a_sheet_that_the_mapping_does_not_fit_before_submit(
    page: Page, console: Console, tmp_path: Path
):
    _two_sheets(page, console, tmp_path)
    page.get_by_test_id("name-qty").fill("quantity")  # `qty` is a column of orders only
    page.get_by_test_id("mapping-next").click()
    page.get_by_test_id("rules-next").click()
    expect(page.get_by_test_id("preview-failed")).to_contain_text(
        "Not every table fits the mapping or rules: stores (1 of 2;"
    )
    expect(page.get_by_test_id("preview-summary-orders")).to_contain_text("2 kept")
    page.get_by_role("tab", name="stores").click()
    expect(page.get_by_test_id("preview-error-stores")).to_contain_text("'qty'")
    expect(page.get_by_test_id("preview-error-stores")).not_to_contain_text("Traceback")
    page.wait_for_timeout(500)  # the tab's slide, for a still screenshot
    screenshot(page, "ingestion-sheets")
