"""Database tables in DAT runs (SPEC 1.4): a registered source's tables go from discovery to a
two-table dataset on PostgreSQL, MariaDB, SQLite and DuckDB, and a changed table gives a new
discovery id."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from dat_pipeline.adapters.database import DatabaseAdapter
from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.reverse_etl.extract import read_frame
from dat_pipeline.reverse_etl.introspect import analyze_table
from dat_pipeline.settings import get_settings
from dat_pipeline.sources import add_database_source, make_source
from dat_pipeline.store import ControlStore

CREATE = (
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(50))",
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, amount DECIMAL(10,2), "
    "updated_at TIMESTAMP)",
)
CUSTOMERS = [{"id": i, "name": f"customer {i}"} for i in range(1, 6)]
ORDERS = [
    {"id": i, "c": 1 + i % 5, "a": f"{i}.25", "u": f"2024-01-{1 + i % 28:02d} 10:00:00"}
    for i in range(1, 31)
]


def fill(url: str, orders: list[dict]) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        if not orders:
            for statement in CREATE:
                connection.execute(text(statement))
            connection.execute(text("INSERT INTO customers VALUES (:id, :name)"), CUSTOMERS)
            orders = ORDERS
        connection.execute(text("INSERT INTO orders VALUES (:id, :c, :a, :u)"), orders)
    engine.dispose()


@pytest.fixture(params=["sqlite", "duckdb", "postgresql", "mysql"])
def shop(request: pytest.FixtureRequest, data_root: Path) -> Iterator[tuple[str, str, str]]:
    """(source name, URL to write with, prefix of its tables in the catalog) of a shop database
    with customers and orders, registered as a source."""
    kind = request.param
    name = f"shop_{kind}"
    fields: dict = {"name": name, "kind": kind}
    prefix = ""
    if kind in ("sqlite", "duckdb"):
        relative = f"db/shop.{kind}"
        (data_root / "db").mkdir(exist_ok=True)
        url = f"{kind}:///{data_root / relative}"
        fields["database"] = relative
    else:
        url = request.getfixturevalue("pg_url" if kind == "postgresql" else "mariadb_url")
        parsed = make_url(url)
        fields.update(
            host=parsed.host, port=parsed.port, database=parsed.database, user=parsed.username
        )
        if kind == "postgresql":  # the fixture's fresh schema is not the default one
            prefix = url.rsplit("%3D", 1)[-1] + "."
    fill(url, [])
    store = ControlStore(get_settings().store_url)
    add_database_source(store, make_source(**fields), None)
    store.dispose()
    yield name, url, prefix


@pytest.fixture
def flow(data_root: Path) -> Iterator[DatWorkflow]:
    store = ControlStore(get_settings().store_url)
    yield DatWorkflow(store, data_root)
    store.dispose()


def lock(flow: DatWorkflow, run: str, stage: str, config: dict) -> None:
    flow.lock(run, stage, config)
    flow.materialize(run, stage)


def test_a_database_source_runs_from_discovery_to_a_two_table_dataset(
    flow: DatWorkflow, shop: tuple[str, str, str]
):
    name, _, prefix = shop
    orders, customers = f"db://{name}/{prefix}orders", f"db://{name}/{prefix}customers"
    run = flow.create_run().run_id
    lock(flow, run, "discovery", {"source": name, "include": [f"{prefix}*"]})
    catalog = flow.load_artifact(run, "discovery")
    assert sorted(catalog["path"]) == [customers, orders]
    assert catalog["adapter"].unique().to_list() == ["database"] and catalog["readable"].all()

    lock(flow, run, "selection", {"files": [customers, orders]})
    lock(flow, run, "table_availability", {"timeout_s": 10})  # timing is for bench/, not here
    probes = {row["path"]: row for row in flow.load_artifact(run, "table_availability").to_dicts()}
    assert {row["status"] for row in probes.values()} == {"available"}
    columns = [c["name"] for c in json.loads(probes[orders]["columns"])]
    assert columns == ["id", "customer_id", "amount", "updated_at"]

    lock(flow, run, "table_selection", {"tables": {f"db://{name}/*": ["*"]}})
    lock(flow, run, "preview", {"limit": 3})
    preview = flow.load_artifact(run, "preview")
    assert preview.filter(pl.col("_source_file") == orders).height == 3
    lock(flow, run, "parse", {"chunk_rows": 7})  # several chunks: the read streams
    lock(flow, run, "export", {"formats": ["csv"]})

    row = flow.load_artifact(run, "export").row(0, named=True)
    manifest = json.loads((flow.data_root / row["manifest_path"]).read_text("utf-8"))
    tables = {table["name"]: table for table in manifest["tables"]}
    assert sorted(tables) == [
        f"{prefix}customers".replace(".", "_"),
        f"{prefix}orders".replace(".", "_"),
    ]
    by_source = {t["sources"][0]["source_file"]: t for t in manifest["tables"]}
    data = pl.read_parquet(flow.data_root / by_source[orders]["files"]["parquet"])
    assert data.height == by_source[orders]["row_count"] == 30
    assert data["id"].sort().to_list() == list(range(1, 31))
    assert manifest["row_count"] == 35
    lineage = {entry["source_file"]: entry for entry in manifest["lineage"]}
    assert lineage[orders]["source"] == name and lineage[orders]["rows"] == 30
    assert lineage[orders]["table"] == f"{prefix}orders"
    # The checksum covers the rows as read (row hashes, whatever the chunking).
    read = data.drop("_source_file", "_source_table").hash_rows(seed=0).to_numpy().tobytes()
    assert lineage[orders]["extraction_checksum"] == hashlib.sha256(read).hexdigest()
    assert datetime.fromisoformat(lineage[orders]["snapshot_at"]).tzinfo is not None


def test_a_changed_table_gives_a_new_discovery_id_and_an_unchanged_one_the_same(
    flow: DatWorkflow, shop: tuple[str, str, str]
):
    name, url, prefix = shop
    config = {"source": name, "include": [f"{prefix}*"]}
    run = flow.create_run().run_id
    first = flow.lock(run, "discovery", config).stage_id
    flow.unlock(run, "discovery")
    assert flow.lock(run, "discovery", config).stage_id == first
    fill(url, [{"id": 99, "c": 1, "a": "1.00", "u": "2024-02-01 00:00:00"}])
    assert flow.lock(run, "discovery", config).stage_id != first


def test_an_unknown_source_is_refused_at_lock(flow: DatWorkflow):
    run = flow.create_run().run_id
    with pytest.raises(Exception, match=r"discovery source 'nope'"):
        flow.lock(run, "discovery", {"source": "nope"})


TYPED = (
    "CREATE TABLE typed (s SMALLINT, i INTEGER, b BIGINT, d DECIMAL(10,2), f DOUBLE PRECISION, "
    "t TIMESTAMP, v VARCHAR(20))"
)


@pytest.mark.parametrize("kind", ["sqlite", "duckdb", "postgresql", "mysql"])
def test_ingestion_backfill_and_dat_read_a_column_as_the_same_type(
    kind: str, data_root: Path, request: pytest.FixtureRequest
):
    """One SQL -> Polars type map: a SMALLINT is Int16 for every reader (it was Int64 in one)."""
    if kind in ("sqlite", "duckdb"):
        url = f"{kind}:///{data_root / f'typed.{kind}'}"
    else:
        url = request.getfixturevalue("pg_url" if kind == "postgresql" else "mariadb_url")
    typed = TYPED.replace("DOUBLE PRECISION", "DOUBLE") if kind == "duckdb" else TYPED
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(typed))
        connection.execute(
            text("INSERT INTO typed VALUES (1, 2, 3, 4.50, 0.5, '2024-01-02 03:04:05', 'x')")
        )
    with engine.connect() as connection:
        info = analyze_table(connection, "typed")
        backfill = read_frame(connection, info)
    engine.dispose()
    store = ControlStore(get_settings().store_url)
    try:
        parsed = make_url(url)
        fields = (
            {"database": f"typed.{kind}"}
            if kind in ("sqlite", "duckdb")
            else {
                "host": parsed.host,
                "port": parsed.port,
                "database": parsed.database,
                "user": parsed.username,
            }
        )
        source = add_database_source(store, make_source(name="typed", kind=kind, **fields), None)
        table = "typed" if kind != "postgresql" else url.rsplit("%3D", 1)[-1] + ".typed"
        ingestion = DatabaseAdapter(store, source).read(table)
    finally:
        store.dispose()
    assert backfill.schema == ingestion.schema
    assert backfill.schema["s"] == pl.Int16 and backfill.schema["d"] == pl.Decimal(10, 2)
    assert backfill.rows() == ingestion.rows()
