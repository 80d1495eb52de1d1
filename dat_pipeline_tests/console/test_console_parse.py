"""Parse in the browser: a live progress bar and the cancel button; a failed materialization
shown as its one-line domain message."""

from __future__ import annotations

import re

import polars as pl
from console_support import Console, api, run_up_to_parse, screenshot, sign_in
from playwright.sync_api import Page, expect

BIG_ROWS = 2_000_000  # 20 MB, above the 10 MiB stream threshold: parse reads it in chunks


def test_a_long_parse_shows_its_progress_and_cancel_stops_it_before_any_export(
    page: Page, console: Console
):
    folder = console.data_root / "big"
    folder.mkdir()
    pl.DataFrame({"id": range(BIG_ROWS)}).with_columns(
        amount=pl.col("id") % 997, label=pl.lit("x")
    ).write_csv(folder / "events.csv")
    sign_in(page, console, "analysts")
    run_id = run_up_to_parse(page, console, "big", ["big/events.csv"])

    page.goto(f"{console.url}/runs/{run_id}")
    page.get_by_test_id("tab-parse").click()
    page.get_by_label("chunk rows").fill("100")  # 20,000 chunks: parse outlasts the click
    page.get_by_test_id("lock-parse").click()
    expect(page.get_by_test_id("progress-text")).to_have_text(
        re.compile(r"tables 0/1 done, [1-9]\d?%")
    )
    screenshot(page, "run-parse-progress")
    page.get_by_test_id("cancel-parse").click()

    expect(page.get_by_test_id("state-parse")).to_have_text("cancelled")
    expect(page.get_by_test_id("error-parse")).to_have_text(
        f"parse of run {run_id} was cancelled; completed work is kept "
        f"(resume with: dat materialize {run_id} --stage parse)"
    )
    expect(page.get_by_test_id("state-export")).to_have_text("unlocked")
    response = page.request.get(
        f"{console.url}/api/dat/runs/{run_id}/export",
        headers={"Authorization": f"Bearer {console.tokens['analysts']}"},
    )
    assert response.status == 404
    assert not any(
        run_id in path.read_text() for path in console.data_root.glob("datasets/*/manifest.json")
    )


def test_a_file_deleted_before_parse_fails_it_with_one_line(page: Page, console: Console):
    folder = console.data_root / "doomed"
    folder.mkdir()
    (folder / "orders.csv").write_text("order_id,qty\n1,5\n2,7\n", encoding="utf-8")
    sign_in(page, console, "analysts")
    run_id = run_up_to_parse(page, console, "doomed", ["doomed/orders.csv"])
    (folder / "orders.csv").unlink()

    page.goto(f"{console.url}/runs/{run_id}")
    page.get_by_test_id("tab-parse").click()
    page.get_by_test_id("lock-parse").click()
    expect(page.get_by_test_id("state-parse")).to_have_text("failed")
    message = page.get_by_test_id("error-parse")
    expect(message).to_contain_text(f"parse of run {run_id} (no table could be read)")
    expect(message).to_contain_text("doomed/orders.csv")
    assert "\n" not in message.inner_text()
    assert "Traceback" not in page.content()
    assert "Error:" not in message.inner_text()
    runs = api(page, console, "GET", f"/api/dat/runs/{run_id}/stages/parse")
    assert runs["error"].endswith(message.inner_text())
    screenshot(page, "run-parse-failed")
