"""Every readable sheet of a workbook is ingested, each to its own dataset; `--table` picks one."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from dat_pipeline.api import create_app
from dat_pipeline.cli import app
from dat_pipeline.services.access import create_token
from dat_pipeline.store import ControlStore, open_store


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    """Three sheets: orders (3 rows, one without a name), an empty one, people (2 rows)."""
    book = openpyxl.Workbook()
    orders = book.active
    orders.title = "orders"
    for row in (["id", "name"], [1, "Ann"], [2, None], [3, "Cy"]):
        orders.append(row)
    book.create_sheet("blank")
    people = book.create_sheet("people")
    for row in (["pid", "age"], [1, 30], [2, 41]):
        people.append(row)
    path = tmp_path / "book.xlsx"
    book.save(path)
    return path


def _run(cli: CliRunner, *args: str) -> dict:
    result = cli.invoke(app, ["ingest", "run", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_each_readable_sheet_is_its_own_table_and_the_empty_one_is_skipped(
    control: ControlStore, ingest_env: Path, cli: CliRunner, workbook: Path, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("- {type: NOT_NULL, column: name}\n", encoding="utf-8")
    everything = _run(cli, str(workbook), "--project", "sales")
    assert [t["table"] for t in everything["tables"]] == ["orders", "people"]
    assert [s["table"] for s in everything["skipped"]] == ["blank"]
    assert everything["rows_in"] == 5 and everything["rows_kept"] == 5
    assert everything["table"] is None
    for table, rows in (("orders", 3), ("people", 2)):
        done = next(t for t in everything["tables"] if t["table"] == table)
        assert done["outputs"]["clean"] == f"uploads/sales/clean/book__{table}.parquet"
        assert pl.read_parquet(ingest_env / done["outputs"]["clean"]).height == rows
        assert everything["outputs"][f"{table}.clean"] == done["outputs"]["clean"]

    one = _run(cli, str(workbook), "--project", "sales", "--table", "orders", "--rules", str(rules))
    assert one["table"] == "orders" and [t["table"] for t in one["tables"]] == ["orders"]
    assert (one["rows_in"], one["rows_kept"], one["rows_rejected"]) == (3, 2, 1)
    assert one["outputs"]["clean"] == "uploads/sales/clean/book__orders.parquet"
    assert one["skipped"] == []


def test_the_api_ingests_every_sheet_when_the_request_names_no_table(
    data_root: Path, workbook: Path
) -> None:
    _record, token = create_token(open_store(), ["sales"])
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app()) as client:
        files = {"file": ("book.xlsx", workbook.read_bytes(), "application/octet-stream")}
        upload = client.post("/api/ingestion/uploads", headers=headers, files=files).json()
        ran = client.post(
            "/api/ingestion/runs", headers=headers, json={"source": upload["upload_id"]}
        )
        assert ran.status_code == 200, ran.text
        assert [t["table"] for t in ran.json()["tables"]] == ["orders", "people"]
        job = client.get(f"/api/ingestion/jobs/{ran.json()['job_id']}", headers=headers).json()
        assert set(job["outputs"]) == {
            "orders.clean",
            "orders.rejects",
            "people.clean",
            "people.rejects",
        }


def test_a_queued_workbook_run_materializes_every_sheet(
    control: ControlStore,
    ingest_env: Path,
    cli: CliRunner,
    workbook: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dagster as dg

    from dat_pipeline.settings import get_settings

    monkeypatch.setenv("DAT_SYNC_MAX_ROWS", "1")
    get_settings.cache_clear()
    queued = _run(cli, str(workbook), "--project", "sales")
    assert queued["mode"] == "queued"
    instance = dg.DagsterInstance.get()
    instance.launch_run(queued["job_id"], workspace=None)  # what the daemon does
    assert instance.get_run_by_id(queued["job_id"]).status == dg.DagsterRunStatus.SUCCESS
    shown = cli.invoke(app, ["jobs", "show", queued["job_id"], "--json"])
    job = json.loads(shown.stdout)
    assert job["status"] == "COMPLETED" and job["rows_processed"] == 5
    assert job["outputs"]["people.clean"] == "uploads/sales/clean/book__people.parquet"
    materialized = instance.get_latest_materialization_event(dg.AssetKey("ingested_table"))
    metadata = materialized.asset_materialization.metadata
    assert metadata["table"].value == "orders, people"
    assert metadata["orders.clean"].value == "uploads/sales/clean/book__orders.parquet"
