"""Analysis and backfill over HTTP: the real app on a temp data root and Dagster home."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from api_support import Api
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    BACKFILL_ID_TAG,
)
from helpers import REPORT_SECTIONS, write_trades

from dat_pipeline.analysis.sources import add_source
from dat_pipeline.backfill.config import load_config
from dat_pipeline.defs.backfill import BackfillResource, build_backfill_defs
from dat_pipeline.store import open_store

JAN = datetime(2024, 1, 1, tzinfo=UTC)
REPORT_KEYS = {"generated_at", "phases", *REPORT_SECTIONS}


def write_shop(folder: Path) -> None:
    """Customers and their orders: a key, a foreign key and a date column."""
    folder.mkdir(parents=True)
    pl.DataFrame(
        {
            "customer_id": list(range(1, 41)),
            "email": [f"c{i}@example.com" for i in range(1, 41)],
            "country": [["FR", "DE", "US", "GB"][i % 4] for i in range(1, 41)],
        }
    ).write_csv(folder / "customers.csv")
    pl.DataFrame(
        {
            "order_id": list(range(1000, 1200)),
            "customer_id": [(i * 7) % 40 + 1 for i in range(200)],
            "order_date": [(JAN + timedelta(days=i // 2)).date() for i in range(200)],
            "amount": [round(5 + (i * 13) % 90 + 0.25, 2) for i in range(200)],
        }
    ).write_parquet(folder / "orders.parquet")


def wait_for_job(api: Api, job_id: str, timeout_s: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = api.ok("GET", f"/api/analysis/jobs/{job_id}")
        if job["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return job
        assert time.monotonic() < deadline, f"analysis job {job_id} still {job['status']}"
        time.sleep(0.2)


def test_analysis_source_runs_to_completion_and_reports(api: Api, data_root: Path) -> None:
    write_shop(data_root / "shop")
    added = api.ok("POST", "/api/analysis/sources", 201, json={"name": "shop", "from": "shop"})
    assert (added["kind"], added["location"], added["project"]) == ("folder", "shop", "alpha")
    listed = api.ok("GET", "/api/analysis/sources")["sources"]
    assert [s["name"] for s in listed] == ["shop"]

    # The key phases only (import, typing, relationships), to keep the test quick.
    started = api.ok("POST", "/api/analysis/sources/shop/run", 202, json={"phase": "relationships"})
    job = started["job"]
    assert job["source"] == "shop"
    assert started["phases"] == ["import", "typing", "relationships"]
    with dg.DagsterInstance.get() as instance:
        dagster_run = instance.get_run_by_id(job["job_id"])
        assert dagster_run is not None and dagster_run.tags["dat/project"] == "alpha"
    # The same source again while it runs is refused, naming the running job.
    again = api.call("POST", "/api/analysis/sources/shop/run", json={"phase": "relationships"})
    assert again.status_code in (200, 409)
    if again.status_code == 409:
        assert job["job_id"] in again.json()["error"]["message"]

    done = wait_for_job(api, job["job_id"])
    assert done["status"] == "SUCCESS", done["errors"]
    assert done["phases"] == ["import", "typing", "relationships"]
    states = {
        p["phase"]: p["state"] for p in api.ok("GET", "/api/analysis/sources/shop/status")["phases"]
    }
    assert (states["relationships"], states["entropy"]) == ("ok", "missing")

    report = api.ok("GET", "/api/analysis/sources/shop/report")
    assert set(report) >= REPORT_KEYS and report["source"] == "shop"
    assert {t["name"] for t in report["tables"]} == {"customers", "orders"}
    assert any(
        r["from_table"] == "orders" and r["to_table"] == "customers"
        for r in report["relationships"]
    )
    assert report["failed_phases"] == []
    markdown = api.call("GET", "/api/analysis/sources/shop/report?format=md")
    assert markdown.status_code == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "customers" in markdown.text
    page = api.call("GET", "/api/analysis/sources/shop/report?format=html")
    assert page.headers["content-type"].startswith("text/html")
    assert page.text.startswith("<!doctype html>")

    unchanged = api.ok(
        "POST", "/api/analysis/sources/shop/run", 200, json={"phase": "relationships"}
    )
    assert unchanged["job"] is None and unchanged["run"]["run_id"] is None
    assert {p["state"] for p in unchanged["run"]["phases"]} == {"skipped"}


def test_source_paths_stay_under_the_data_root(api: Api, data_root: Path) -> None:
    (data_root.parent / "outside").mkdir()
    (data_root.parent / "outside" / "secret.csv").write_text("a,b\n1,2\n")
    escape = api.error(
        "POST", "/api/analysis/sources", 400, json={"name": "escape", "from": "../outside"}
    )
    assert escape["code"] == "path_outside_root"
    absolute = api.call(
        "POST",
        "/api/analysis/sources",
        json={"name": "absolute", "from": str(data_root.parent / "outside")},
    )
    assert absolute.status_code == 400
    missing = api.error(
        "POST", "/api/analysis/sources", 404, json={"name": "gone", "from": "nope/"}
    )
    assert "does not exist under the data root" in missing["message"]
    (data_root / "uploads" / "beta" / "raw").mkdir(parents=True)
    (data_root / "uploads" / "beta" / "raw" / "theirs.csv").write_text("a,b\n1,2\n")
    for other in ("uploads/beta", "uploads", "sample/../uploads/beta/raw"):
        assert api.call(
            "POST", "/api/analysis/sources", json={"name": "peek", "from": other}
        ).status_code in (400, 404)
    assert (
        api.ok(
            "POST",
            "/api/analysis/sources",
            201,
            json={"name": "own", "from": "uploads/beta"},
            project="beta",
        )["location"]
        == "uploads/beta"
    )
    assert api.ok("GET", "/api/analysis/sources")["sources"] == []


def test_another_projects_source_answers_404(api: Api, data_root: Path) -> None:
    write_shop(data_root / "shop")
    api.ok("POST", "/api/analysis/sources", 201, json={"name": "shop", "from": "shop"})
    add_source(open_store(), "cli_made", "sample")  # the CLI's sources belong to `default`
    for url in (
        "/api/analysis/sources/shop",
        "/api/analysis/sources/shop/status",
        "/api/analysis/sources/shop/report",
    ):
        assert api.error("GET", url, 404, project="beta")["code"] == "not_found"
    assert api.call("POST", "/api/analysis/sources/shop/run", project="beta").status_code == 404
    assert api.ok("GET", "/api/analysis/sources", project="beta")["sources"] == []
    assert [s["name"] for s in api.ok("GET", "/api/analysis/sources")["sources"]] == ["shop"]
    shown = api.ok("GET", "/api/analysis/sources/cli_made", project="default")
    assert shown["project"] == "default" and shown["kind"] == "folder"
    # A name is taken whatever the project; the answer does not say whose it is.
    taken = api.error(
        "POST",
        "/api/analysis/sources",
        400,
        json={"name": "shop", "from": "sample"},
        project="beta",
    )
    assert "already exists" in taken["message"] and "alpha" not in taken["message"]


@pytest.fixture
def trades_config(data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small DuckDB trades table (10 days) and its own backfill config file."""
    write_trades(data_root / "db" / "trades.duckdb", 400, 10)
    config = tmp_path / "backfill_api.yaml"
    config.write_text(
        "tables:\n  - name: trades\n    source: {kind: duckdb, database: db/trades.duckdb}\n"
        "    table: trades\n    time_column: ts\n    start: 2024-01-01\n    end: 2024-01-11\n"
        "    constraints: [ticker:valid_ticker, qty:positive]\n    sample_size: 50\n"
        "    max_partitions_per_run: 3\n"
    )
    monkeypatch.setenv("DAT_BACKFILL_CONFIG", str(config))
    return config


def test_backfill_plan_run_status_and_manifest(api: Api, trades_config: Path) -> None:
    tables = api.ok("GET", "/api/backfill/tables", project="beta")["tables"]
    assert [(t["name"], t["granularity"]) for t in tables] == [("trades", "daily")]

    plan = api.ok("GET", "/api/backfill/tables/trades/plan?start=2024-01-01&end=2024-01-08")
    assert plan["window_count"] == 7 and plan["runs"] == 3
    assert sum(w["estimated_rows"] for w in plan["windows"]) == plan["estimated_rows"] > 0

    submitted = api.ok(
        "POST",
        "/api/backfill/tables/trades/runs",
        202,
        json={"start": "2024-01-01", "end": "2024-01-08"},
    )
    backfill_id = submitted["backfill_id"]
    assert (submitted["windows"], submitted["first"], submitted["last"]) == (
        7,
        "2024-01-01",
        "2024-01-07",
    )
    assert submitted["project"] == "alpha"
    shown = api.ok("GET", f"/api/backfill/runs/{backfill_id}")
    assert (shown["table"], shown["status"], shown["runs"]) == ("trades", "REQUESTED", [])
    assert api.error("GET", f"/api/backfill/runs/{backfill_id}", 404, project="beta")

    # What the daemon does for the backfill's first run: three windows in one Dagster run.
    defs = build_backfill_defs(load_config())
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize(
            list(defs.assets),
            instance=instance,
            resources={"backfill": BackfillResource()},
            tags={
                ASSET_PARTITION_RANGE_START_TAG: "2024-01-01",
                ASSET_PARTITION_RANGE_END_TAG: "2024-01-03",
                BACKFILL_ID_TAG: backfill_id,
            },
        )
        assert result.success
    runs = api.ok("GET", f"/api/backfill/runs/{backfill_id}")["runs"]
    assert [r["status"] for r in runs] == ["SUCCESS"]

    status = api.ok("GET", "/api/backfill/tables/trades/status?end=2024-01-08", project="beta")
    assert (status["done"], status["failed"], status["missing"]) == (3, 0, 4)
    assert status["windows"][0]["rows"] > 0
    records = api.ok("GET", "/api/backfill/tables/trades/manifest", project="beta")["records"]
    assert [r["window_key"] for r in records] == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert all(r["status"] == "SUCCESS" and len(r["checksum"]) == 64 for r in records)
    assert sum(r["rows"] for r in records) == sum(w["rows"] for w in status["windows"][:3])


def test_backfill_bad_input_is_a_clear_error(
    api: Api, trades_config: Path, data_root: Path
) -> None:
    ghost = api.error("GET", "/api/backfill/tables/ghost/status", 404)
    assert "no table 'ghost'" in ghost["message"]
    backwards = api.error(
        "GET", "/api/backfill/tables/trades/plan?start=2024-01-08&end=2024-01-01", 400
    )
    assert "is not after" in backwards["message"]
    empty = api.error(
        "POST",
        "/api/backfill/tables/trades/runs",
        400,
        json={"start": "2024-01-01T05:00", "end": "2024-01-01T09:00"},
    )
    assert "no complete daily window" in empty["message"]
    assert api.error("GET", "/api/backfill/tables/trades/plan?start=x&end=y", 422)
    (data_root / "db" / "trades.duckdb").unlink()
    gone = api.error("GET", "/api/backfill/tables/trades/plan?start=2024-01-01&end=2024-01-03", 400)
    assert gone["code"] == "database_error"
