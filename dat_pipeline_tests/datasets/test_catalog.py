"""The one catalog of datasets (SPEC 10): a DAT export's tables, an ingestion clean output and a
backfill table with its windows are listed with their tables and queried through their views,
by the CLI and by the API, scoped to the caller's projects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from dat_pipeline.api import create_app
from dat_pipeline.backfill import BackfillTable, BackfillTableConfig
from dat_pipeline.backfill.demo import generate_trades, load_trades
from dat_pipeline.cli import app as cli_app
from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.ingestion import jobs
from dat_pipeline.ingestion.runs import IngestRequest, run_ingestion
from dat_pipeline.ingestion.uploads import upload_file
from dat_pipeline.services.access import assign_run_project, create_token
from dat_pipeline.settings import get_settings
from dat_pipeline.store import ControlStore

KEYS = {"dataset_id", "kind", "name", "tables", "created_at", "lineage", "asset", "view"}


@pytest.fixture
def written(data_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A two-table DAT export (project `alpha`), an ingestion output (project `sales`) and a
    backfill table of two daily windows; returns the DAT run id."""
    monkeypatch.setenv("DAT_ENCRYPTION_KEY", Fernet.generate_key().decode())
    get_settings.cache_clear()
    store = ControlStore(get_settings().store_url)
    flow = DatWorkflow(store, data_root)
    run = flow.create_run().run_id
    assign_run_project(store, run, "alpha")
    tables = {"sample/stores.tsv": ["stores"], "sample/customers.parquet": ["customers"]}
    for stage, config in (
        ("discovery", {"root": "sample"}),
        ("selection", {"files": sorted(tables)}),
        ("table_availability", {}),
        ("table_selection", {"tables": tables}),
        ("parse", {}),
        ("export", {}),
    ):
        flow.lock(run, stage, config)
        flow.materialize(run, stage)

    upload = upload_file(store, data_root / "sample" / "sales_2024_q1.csv", "sales", data_root)
    request = IngestRequest("sales", "file", upload.upload_id)
    jobs.create_job(store, "job-1", "sync", "sales", upload.upload_id, request.to_dict())
    run_ingestion(store, data_root, "job-1", request)

    engine = sa.create_engine(f"sqlite:///{data_root.parent / 'trades.sqlite'}")
    load_trades(engine, generate_trades(200))
    config = BackfillTableConfig(
        name="trades", source="unused", table="trades", time_column="ts", start="2024-01-01"
    )
    backfill = BackfillTable(config, engine, data_root)
    for window in backfill.windows("2024-01-01", "2024-01-03"):
        backfill.extract(window)
    engine.dispose()
    store.dispose()
    yield {"run": run}


def _count(view: str) -> int:
    with duckdb.connect(str(get_settings().warehouse_path), read_only=True) as connection:
        return connection.execute(f"SELECT count(*) FROM {view}").fetchone()[0]


def test_every_kind_is_listed_with_its_tables_and_a_view_that_answers(written: dict):
    result = CliRunner().invoke(cli_app, ["datasets", "list", "--json"])
    assert result.exit_code == 0, result.output
    found = {d["dataset_id"]: d for d in json.loads(result.stdout)["datasets"]}
    assert all(set(d) >= KEYS for d in found.values())
    kinds = sorted(d["kind"] for d in found.values())
    assert kinds == ["backfill", "dat", "dat", "ingestion"]
    for dataset in found.values():
        [table] = dataset["tables"]
        assert table["row_count"] == _count(dataset["view"]) > 0, dataset["dataset_id"]
        assert table["columns"]
    dat = [d for d in found.values() if d["kind"] == "dat"]
    assert {d["asset"]["partition"] for d in dat} == {written["run"]}
    assert sorted(d["tables"][0]["name"] for d in dat) == ["customers", "stores"]
    assert all(d["lineage"][0]["dataset_table"] == d["tables"][0]["name"] for d in dat)
    trades = found["backfill:trades"]
    assert trades["asset"] == {"key": "backfill/trades", "partitions": trades["lineage"]["windows"]}
    assert trades["tables"][0]["windows"] == 2 == len(trades["lineage"]["windows"])
    clean = found["ingestion:sales/sales_2024_q1"]
    assert clean["tables"][0]["row_count"] == 125 and clean["lineage"]["project"] == "sales"

    shown = CliRunner().invoke(cli_app, ["datasets", "show", "backfill:trades"])
    assert shown.exit_code == 0 and '"backfill"."trades"' in shown.stdout
    missing = CliRunner().invoke(cli_app, ["datasets", "show", "ds_00000000"])
    assert missing.exit_code == 1 and "no dataset 'ds_00000000'" in missing.stderr
    export = sorted(d["dataset_id"] for d in dat)[0].split("__")[0]  # what `dat show` prints
    named = CliRunner().invoke(cli_app, ["datasets", "show", export])
    assert named.exit_code == 1
    assert f"{export} is a DAT export of 2 tables, each a dataset of its own: " in named.stderr
    assert all(d["dataset_id"] in named.stderr for d in dat)


def test_the_api_shows_a_caller_the_datasets_of_its_projects_only(written: dict):
    with TestClient(create_app()) as client:
        store = ControlStore(get_settings().store_url)
        _record, sales = create_token(store, ["sales"])
        store.dispose()
        headers = {"Authorization": f"Bearer {sales}"}
        listed = client.get("/api/datasets", headers=headers)
        assert listed.status_code == 200, listed.text
        ids = sorted(d["dataset_id"] for d in listed.json()["datasets"])
        assert ids == ["ingestion:sales/sales_2024_q1"]  # alpha's export, default's backfill: no
        one = client.get("/api/datasets/ingestion:sales/sales_2024_q1", headers=headers)
        assert one.status_code == 200 and one.json()["kind"] == "ingestion"
        dat = next(
            d
            for d in json.loads(
                CliRunner().invoke(cli_app, ["datasets", "list", "--json", "--kind", "dat"]).stdout
            )["datasets"]
        )
        other = client.get(f"/api/datasets/{dat['dataset_id']}", headers=headers)
        assert other.status_code == 404
        export = client.get(f"/api/datasets/{dat['dataset_id'].split('__')[0]}", headers=headers)
        assert export.status_code == 404 and "__" not in export.text  # alpha's tables: not named
        assert client.get("/api/datasets").status_code == 401
