"""Analysis from anything (SPEC 4.9, issue 18 point 3): a DAT dataset's tables, a database
source's tables (bounded samples, exact counts), a project's clean uploads, never rejects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from dat_pipeline.analysis.runner import AnalysisRunner
from dat_pipeline.analysis.sources import add_source, table_refs
from dat_pipeline.errors import NotFoundError
from dat_pipeline.settings import get_settings
from dat_pipeline.sources import add_database_source, make_source
from dat_pipeline.store import ControlStore

CUSTOMERS = [{"id": i, "name": f"customer {i}"} for i in range(1, 41)]
ORDERS = [{"id": i, "c": 1 + i % 40, "a": i * 1.5} for i in range(1, 301)]


@pytest.fixture
def store(data_root: Path) -> Iterator[ControlStore]:
    store = ControlStore(get_settings().store_url)
    yield store
    store.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def shop_db(request: pytest.FixtureRequest, data_root: Path, store: ControlStore) -> str:
    """A registered database source with customers and orders (orders.customer_id -> id)."""
    kind = request.param
    fields: dict = {"name": f"shop_{kind}", "kind": kind}
    if kind == "sqlite":
        (data_root / "db").mkdir(exist_ok=True)
        url = f"sqlite:///{data_root / 'db/shop.sqlite'}"
        fields["database"] = "db/shop.sqlite"
    else:
        url = request.getfixturevalue("pg_url" if kind == "postgresql" else "mariadb_url")
        parsed = make_url(url)
        fields |= {"host": parsed.host, "port": parsed.port, "database": parsed.database}
        fields["user"] = parsed.username
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)"))
        connection.execute(
            text("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, amount FLOAT)")
        )
        connection.execute(text("INSERT INTO customers VALUES (:id, :name)"), CUSTOMERS)
        connection.execute(text("INSERT INTO orders VALUES (:id, :c, :a)"), ORDERS)
    engine.dispose()
    add_database_source(store, make_source(**fields), None)
    return fields["name"]


def run_phases(store: ControlStore, data_root: Path, source: str, *phases: str) -> AnalysisRunner:
    runner = AnalysisRunner(store=store, data_root=data_root)
    for phase in runner.graph.closure(list(phases)):
        runner.run_phase(source, phase)
    return runner


def test_a_database_source_is_analysed_table_by_table_with_bounded_samples(
    data_root: Path, store: ControlStore, shop_db: str
):
    add_source(store, "shop", f"db://{shop_db}", options={"max_rows_per_table": 100})
    runner = run_phases(store, data_root, "shop", "relationships")
    imported = runner.load_result("shop", "import").tables["tables"]
    rows = {r["table"].rsplit("_", 1)[-1]: r for r in imported.iter_rows(named=True)}
    assert set(rows) >= {"customers", "orders"}
    orders = next(r for t, r in rows.items() if t.endswith("orders"))
    assert (orders["rows"], orders["source_rows"]) == (100, 300)  # a sample, the exact count
    assert "first 100 of 300 rows" in orders["reason"]
    customers = next(r for t, r in rows.items() if t.endswith("customers"))
    assert customers["rows"] == customers["source_rows"] == 40 and customers["reason"] is None
    relationships = runner.load_result("shop", "relationships").tables["relationships"]
    found = {
        (r["from_columns"][0], r["to_columns"][0]) for r in relationships.iter_rows(named=True)
    }
    assert ("customer_id", "id") in found


def test_unknown_database_source_names_the_known_ones(data_root: Path, store: ControlStore):
    with pytest.raises(NotFoundError, match="nowhere"):
        add_source(store, "x", "db://nowhere")


def test_a_dataset_gives_each_table_of_its_manifest(data_root: Path, store: ControlStore):
    folder = data_root / "datasets" / "ds_0123abcd"
    folder.mkdir(parents=True)
    tables = []
    files = ["a.csv", "a.csv", "b.csv", "b.csv"]  # lineage as DAT's export writes it
    for name, frame in {
        "customers": pl.DataFrame({"_source_file": ["c.csv"] * 3, "id": [1, 2, 3]}),
        "orders": pl.DataFrame(
            {"_source_file": files, "_source_table": ["a", "a", "b", "b"], "id": [1, 1, 2, 3]}
        ),
        "sheets": pl.DataFrame(
            {"_source_file": files, "_source_table": ["x", "y", "x", "x"], "id": [1, 2, 3, 4]}
        ),
    }.items():
        frame.write_parquet(folder / f"{name}.parquet")
        tables.append(
            {
                "name": name,
                "row_count": frame.height,
                "columns": frame.columns,
                "files": {"parquet": f"datasets/ds_0123abcd/{name}.parquet"},
            }
        )
    manifest = {"dataset_id": "ds_0123abcd", "name": "shop", "row_count": 7, "tables": tables}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    source = add_source(store, "shop_ds", "ds_0123abcd")
    refs, problems = table_refs(source, data_root)
    assert sorted(refs) == ["customers", "orders", "sheets"] and not problems
    runner = run_phases(store, data_root, "shop_ds", "import")
    imported = runner.load_result("shop_ds", "import").tables["tables"]
    rows = dict(imported.select("table", "rows").iter_rows())
    assert rows == {"customers": 3, "orders": 4, "sheets": 4}
    # lineage with one value is provenance, not data; a union of files keeps its _source_file,
    # and its _source_table only where a file gave several tables
    raw = runner.load_result("shop_ds", "import").tables
    assert raw["raw__customers"].columns == ["_row_number", "id"]
    assert raw["raw__orders"].columns == ["_row_number", "_source_file", "id"]
    assert raw["raw__sheets"].columns == ["_row_number", "_source_file", "_source_table", "id"]


def test_uploads_and_folders_never_take_rejects_as_tables(data_root: Path, store: ControlStore):
    clean = data_root / "uploads" / "sales" / "clean"
    clean.mkdir(parents=True)
    pl.DataFrame({"id": [1, 2], "amount": [3.0, 4.0]}).write_parquet(clean / "orders.parquet")
    pl.DataFrame({"id": [9], "reason": ["bad"]}).write_parquet(clean / "orders.rejects.parquet")
    upload = add_source(store, "sales_clean", "upload:sales")
    assert (upload.kind, upload.location) == ("upload", "sales")
    assert list(table_refs(upload, data_root)[0]) == ["orders"]
    folder = add_source(store, "sales_folder", "uploads/sales/clean")
    assert list(table_refs(folder, data_root)[0]) == ["orders"]
    with pytest.raises(NotFoundError, match="no clean ingestion output"):
        add_source(store, "nothing", "upload:marketing")


def test_a_csv_reaches_the_analysis_as_written_with_the_ingestion_dialect(data_root: Path):
    """The analysis reads a CSV through the delimited adapter, without type inference: the
    '#' preamble above the header is skipped as in ingestion, `007` and `1,50` stay as written."""
    from dat_pipeline.analysis.sources import TableRef, read_raw_table

    folder = data_root / "exports"
    folder.mkdir()
    (folder / "prices.csv").write_text(
        "# exported 2025-01-01\nid;price;code\n1;1,50;007\n2;2,25;010\n"
    )
    ref = TableRef("prices", "exports/prices.csv", "prices", "csv")
    frame, exact = read_raw_table(ref, data_root)
    assert exact is None
    assert frame.columns == ["_row_number", "id", "price", "code"]
    assert frame.drop("_row_number").rows() == [("1", "1,50", "007"), ("2", "2,25", "010")]
