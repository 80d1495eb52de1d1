"""The DAT workflow in the browser: a run created, every stage locked by clicking, the exported
CSV downloaded and compared with the manifest; project scoping and one-line failures."""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl
from console_support import PROJECT, Console, screenshot, sign_in
from playwright.sync_api import Page, expect

RULES = [{"type": "RANGE", "column": "quantity", "min": 0, "max": 5, "severity": "error"}]
TIMINGS = PROJECT / "bench" / "out" / "console_lock_seconds.json"


def create_run(page: Page, name: str) -> str:
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create run").click()
    page.wait_for_url("**/runs/*")
    return page.url.rsplit("/", 1)[1]


def lock(page: Page, stage: str) -> float:
    """Click "Lock STAGE"; wait until the strip shows it materialized; the seconds it took."""
    started = time.perf_counter()
    page.get_by_test_id(f"lock-{stage}").click()
    expect(page.get_by_test_id(f"state-{stage}")).to_have_text("materialized", timeout=90_000)
    return time.perf_counter() - started


def open_stage(page: Page, stage: str) -> None:
    page.get_by_test_id(f"tab-{stage}").click()


def test_a_run_locked_stage_by_stage_exports_a_csv_that_matches_its_manifest(
    page: Page, console: Console, tmp_path: Path
):
    sign_in(page, console, "analysts")
    screenshot(page, "runs")
    run_id = create_run(page, "Q1 sales")
    seconds = {}

    page.get_by_test_id("root").click()
    page.get_by_role("option", name="sample", exact=True).click()
    seconds["discovery"] = lock(page, "discovery")

    open_stage(page, "selection")
    expect(page.get_by_test_id("catalog").get_by_text("sample/stores.tsv")).to_be_visible()
    seconds["selection"] = lock(page, "selection")

    open_stage(page, "context")
    page.get_by_test_id("skip-context").click()
    expect(page.get_by_test_id("state-context")).to_have_text("materialized")

    open_stage(page, "table_availability")
    seconds["table_availability"] = lock(page, "table_availability")

    open_stage(page, "table_selection")
    expect(page.get_by_test_id("tables").get_by_text("categories")).to_be_visible()
    page.get_by_label("rules (JSON)").fill(json.dumps(RULES))
    seconds["table_selection"] = lock(page, "table_selection")

    open_stage(page, "preview")
    seconds["preview"] = lock(page, "preview")
    page.get_by_role("tab", name="sample/sales_2024_q1.csv: sales_2024_q1").click()
    preview = page.get_by_test_id("preview-sales_2024_q1")
    expect(preview.locator(".dat-rejected .dat-fail").first).to_be_visible()
    screenshot(page, "run-preview")

    open_stage(page, "parse")
    seconds["parse"] = lock(page, "parse")

    open_stage(page, "export")
    page.get_by_label("formats").click()
    page.get_by_role("option", name="csv", exact=True).click()
    page.keyboard.press("Escape")
    seconds["export"] = lock(page, "export")
    expect(page.get_by_test_id("download-sales_2024-csv")).to_be_visible()  # the export view
    screenshot(page, "run-export")

    with page.expect_download() as download:
        page.get_by_test_id("download-sales_2024-csv").click()
    csv = tmp_path / "sales_2024.csv"
    download.value.save_as(csv)
    exported = pl.read_csv(csv, infer_schema=False)

    manifests = [json.loads(p.read_text()) for p in console.data_root.glob("datasets/*/*.json")]
    manifest = next(m for m in manifests if m.get("run_id") == run_id)
    table = next(t for t in manifest["tables"] if t["name"] == "sales_2024")
    assert exported.height == table["row_count"] > 0
    assert exported.columns == [column["name"] for column in table["columns"]]
    assert {s["source_file"] for s in table["sources"]} == {
        "sample/sales_2024_q1.csv",
        "sample/sales_2024_q2_semicolon.csv",
    }
    parquet = pl.read_parquet(console.data_root / table["files"]["parquet"])
    assert exported.rows() == parquet.cast(pl.String).rows()
    assert exported["quantity"].cast(pl.Int64).is_between(0, 5).all()  # the rule dropped the rest

    page.get_by_role("link", name="Datasets").click()
    page.get_by_text(f"dat · {manifest['dataset_id']}__sales_2024").click()
    expect(page.get_by_text(f"sales_2024: {table['row_count']} rows")).to_be_visible()
    page.get_by_role("button", name="Preview").first.click()
    expect(page.get_by_text("sample/sales_2024_q1.csv").first).to_be_visible()
    screenshot(page, "datasets")

    page.get_by_role("link", name="Analysis").click()
    page.get_by_label("Name").fill("q1_sales")
    page.get_by_label("From").fill(manifest["dataset_id"])
    page.get_by_role("button", name="Add source").click()
    expect(page.get_by_text("import: missing")).to_be_visible()
    screenshot(page, "analysis")

    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    TIMINGS.write_text(json.dumps({"click_lock_to_materialized_s": seconds}, indent=2))

    page.goto(f"{console.url}/runs/{run_id}")
    open_stage(page, "table_selection")
    page.get_by_test_id("unlock-table_selection").click()
    expect(page.get_by_test_id("confirm-text")).to_have_text(
        "This unlocks table_selection, preview, parse, export. Artifacts are kept."
    )
    screenshot(page, "run-unlock")
    page.get_by_test_id("confirm").click()
    for stage in ("table_selection", "preview", "parse", "export"):
        expect(page.get_by_test_id(f"state-{stage}")).to_have_text("unlocked")
    expect(page.get_by_test_id("state-table_availability")).to_have_text("materialized")


def test_a_run_of_another_project_is_not_found(page: Page, console: Console):
    page.goto(console.url)
    expect(page.get_by_label("Project token")).to_be_visible()  # signed out: the sign-in page
    screenshot(page, "login")
    sign_in(page, console, "finance")
    run_id = create_run(page, "finance only")
    sign_in(page, console, "analysts")
    expect(page.get_by_text(run_id)).to_have_count(0)
    page.goto(f"{console.url}/runs/{run_id}")
    expect(page.get_by_test_id("not-found")).to_have_text(
        f"unknown run {run_id!r} (list runs with: dat runs list)"
    )
    response = page.request.get(f"{console.url}/console/runs/{run_id}/export/t/csv")
    assert response.status == 404
    screenshot(page, "run-not-found")


def test_a_refused_lock_shows_the_one_line_domain_message(page: Page, console: Console):
    sign_in(page, console, "analysts")
    run_id = create_run(page, "too early")
    open_stage(page, "export")
    page.get_by_test_id("lock-export").click()
    message = page.locator(".dat-error:visible")
    expect(message).to_have_text(
        f"cannot lock export: parse is not locked (run: dat lock {run_id} parse ...)"
    )
    assert "Traceback" not in page.content()
    expect(page.locator(".q-notification")).to_contain_text("cannot lock export")
    page.wait_for_timeout(600)  # the toast's slide-in, for the screenshot
    screenshot(page, "run-error")
