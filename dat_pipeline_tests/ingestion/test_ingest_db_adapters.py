"""Database adapters against the real MariaDB and PostgreSQL, and SQLite/DuckDB files."""

from __future__ import annotations

import decimal
import sqlite3
import uuid
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from dat_pipeline.adapters import AdapterError, MissingTableError
from dat_pipeline.adapters.database import DatabaseAdapter
from dat_pipeline.files import write_parquet_atomic
from dat_pipeline.sources import SourceError, add_database_source, make_source
from dat_pipeline.store import ControlStore

ROWS = 200_000
NOTE = "Zürich \u2013 東京 "  # non-ASCII, with an en dash
_DIGITS = " UNION ALL ".join(f"SELECT {d} AS d" for d in range(10))
MARIADB_TABLE = """CREATE TABLE {t} (
  id BIGINT UNSIGNED PRIMARY KEY, amount DECIMAL(38,10), ts TIMESTAMP NULL, doc JSON,
  payload BLOB, note VARCHAR(100), maybe INT NULL)"""
MARIADB_FILL = f"""INSERT INTO {{t}}
SELECT 18446744073709551615 - n, CAST(n AS DECIMAL(38,10)) * 1000000000000000000 + 0.0123456789,
  FROM_UNIXTIME(1700000000 + n), JSON_OBJECT('n', n, 'city', 'Zürich'), UNHEX(MD5(n)),
  CASE WHEN n % 7 = 0 THEN NULL ELSE CONCAT('{NOTE}', n) END,
  CASE WHEN n % 3 = 0 THEN NULL ELSE n END
FROM (SELECT a.d + 10*b.d + 100*c.d + 1000*e.d + 10000*f.d + 100000*g.d AS n
      FROM ({_DIGITS}) a, ({_DIGITS}) b, ({_DIGITS}) c, ({_DIGITS}) e, ({_DIGITS}) f,
           (SELECT 0 AS d UNION ALL SELECT 1) g) numbers"""
PG_TABLE = """CREATE TABLE {t} (
  id BIGINT PRIMARY KEY, amount NUMERIC(38,10), ts TIMESTAMPTZ, doc JSONB, payload BYTEA,
  note TEXT, maybe INT)"""
PG_FILL = f"""INSERT INTO {{t}}
SELECT 9223372036854775807 - n, n * 1000000000000000000::numeric + 0.0123456789,
  to_timestamp(1700000000 + n), jsonb_build_object('n', n, 'city', 'Zürich'),
  decode(md5(n::text), 'hex'),
  CASE WHEN n % 7 = 0 THEN NULL ELSE '{NOTE}' || n END,
  CASE WHEN n % 3 = 0 THEN NULL ELSE n END
FROM generate_series(0, {ROWS - 1}) n"""
CHECKSUMS = (
    "SELECT COUNT(*), SUM(id), SUM(amount), COUNT(note), SUM(CHAR_LENGTH(note)), SUM(maybe), "
    "SUM(LENGTH(payload)), MIN(ts), MAX(ts) FROM {t}"
)


def _server_source(store: ControlStore, url: str, kind: str, **extra):  # type: ignore[no-untyped-def]
    parsed = make_url(url)
    source = make_source(
        name=f"{kind}_{uuid.uuid4().hex[:6]}",
        kind=kind,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        user=parsed.username,
        **extra,
    )
    return add_database_source(store, source, None)


@pytest.fixture
def store(tmp_path: Path, data_root: Path) -> ControlStore:
    control = ControlStore(f"sqlite:///{tmp_path / 'sources.db'}")
    yield control
    control.dispose()


@pytest.mark.services
@pytest.mark.parametrize("kind", ["mysql", "postgresql"])
def test_awkward_types_round_trip_200k_rows_to_parquet(
    kind: str, store: ControlStore, data_root: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("mariadb_url" if kind == "mysql" else "pg_url")
    table = f"awkward_{uuid.uuid4().hex[:8]}"
    create, fill = (MARIADB_TABLE, MARIADB_FILL) if kind == "mysql" else (PG_TABLE, PG_FILL)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(create.format(t=table)))
        connection.execute(text(fill.format(t=table)))
        expected = connection.execute(text(CHECKSUMS.format(t=table))).one()
    engine.dispose()
    source = _server_source(store, url, kind, table=table)
    if kind == "postgresql":  # the schema of pg_url is on its search_path, not the default
        source = source.model_copy(update={"table": f"{url.split('%3D')[-1]}.{table}"})

    chunks = list(DatabaseAdapter(store, source).stream(chunk_rows=50_000))
    target = write_parquet_atomic(data_root / f"{kind}.parquet", pl.concat(chunks))

    assert len(chunks) == 4 and max(c.height for c in chunks) == 50_000  # streamed, bounded
    schema = pq.read_schema(target)
    assert schema.field("id").type == (pa.uint64() if kind == "mysql" else pa.int64())
    assert schema.field("amount").type == pa.decimal128(38, 10)
    assert schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert schema.field("doc").type in (pa.string(), pa.large_string())
    assert schema.field("payload").type in (pa.binary(), pa.large_binary())
    back = pl.read_parquet(target)
    with decimal.localcontext(prec=80):
        amount_sum = sum(back["amount"].drop_nulls().to_list(), decimal.Decimal(0))
    count, id_sum, db_amount, notes, note_chars, maybe_sum, payload_bytes, ts_min, ts_max = expected
    assert back.height == count == ROWS
    assert sum(back["id"].to_list()) == int(id_sum)
    assert amount_sum == decimal.Decimal(db_amount)
    assert back["note"].count() == notes
    assert back["note"].str.len_chars().sum() == int(note_chars)
    assert back["maybe"].cast(pl.Int64).sum() == int(maybe_sum)
    assert back["payload"].bin.size().sum() == int(payload_bytes)
    assert back["ts"].min().replace(tzinfo=None) == ts_min.replace(tzinfo=None)
    assert back["ts"].max().replace(tzinfo=None) == ts_max.replace(tzinfo=None)
    first = back.filter(pl.col("maybe") == 1).row(0, named=True)
    assert first["note"] == NOTE + "1" and '"city": "Zürich"' in first["doc"]


@pytest.mark.services
def test_query_source_and_bad_input_on_mariadb(store: ControlStore, mariadb_url: str) -> None:
    engine = create_engine(mariadb_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE prices (id INT, price DECIMAL(12,4), city TEXT)"))
        connection.execute(
            text(
                "INSERT INTO prices VALUES (1, 10.5, 'Genève'), (2, NULL, NULL), (3, 7.25, 'Łódź')"
            )
        )
    engine.dispose()
    good = _server_source(store, mariadb_url, "mysql", query="SELECT id, price, city FROM prices")
    frame = DatabaseAdapter(store, good).read()
    price = frame.schema["price"]  # the driver reports display precision (12 + sign + point)
    assert isinstance(price, pl.Decimal) and price.scale == 4 and price.precision >= 12
    assert frame["price"].to_list()[0] == decimal.Decimal("10.5000")
    assert frame["city"].to_list() == ["Genève", None, "Łódź"]

    bad_sql = _server_source(store, mariadb_url, "mysql", query="SELEC id FROM prices")
    with pytest.raises(AdapterError, match=r"the query fails.*SQL syntax"):
        DatabaseAdapter(store, bad_sql).read()
    adapter = DatabaseAdapter(store, good)
    with pytest.raises(MissingTableError, match=r"no table 'nope'.*prices"):
        adapter.read("nope")
    assert adapter.read("prices").height == 3  # the adapter still works after the errors
    unreachable = make_source(
        name="down", kind="mysql", host="127.0.0.1", port=1, database="x", user="root"
    )
    with pytest.raises(SourceError, match=r"cannot reach 127\.0\.0\.1:1"):
        DatabaseAdapter(store, unreachable).list_tables()


def test_sqlite_and_duckdb_files_list_probe_and_stream(
    store: ControlStore, data_root: Path
) -> None:
    (data_root / "db").mkdir()
    with sqlite3.connect(data_root / "db" / "shop.sqlite") as connection:
        connection.execute("CREATE TABLE orders (id INTEGER, total REAL, city TEXT)")
        connection.executemany(
            "INSERT INTO orders VALUES (?, ?, ?)", [(i, i * 1.5, "Köln") for i in range(1000)]
        )
    with duckdb.connect(str(data_root / "db" / "shop.duckdb")) as connection:
        connection.execute(
            "CREATE TABLE events AS SELECT range AS id, (range / 8)::DECIMAL(18,3) AS v, "
            "TIMESTAMPTZ '2024-01-01 00:00:00+00' + range * INTERVAL 1 minute AS at FROM range(2500)"
        )
    lite = add_database_source(
        store, make_source(name="lite", kind="sqlite", database="db/shop.sqlite"), None
    )
    duck = add_database_source(
        store, make_source(name="duck", kind="duckdb", database="db/shop.duckdb"), None
    )

    lite_adapter = DatabaseAdapter(store, lite)
    assert lite_adapter.list_tables() == ["orders"]
    probe = lite_adapter.probe_schema("orders")
    assert probe.row_estimate == 1000 and probe.row_estimate_exact
    assert [c.dtype for c in probe.columns] == ["Int32", "Float64", "String"]
    chunks = list(lite_adapter.stream("orders", chunk_rows=300))
    assert [c.height for c in chunks] == [300, 300, 300, 100]

    duck_adapter = DatabaseAdapter(store, duck)
    assert duck_adapter.list_tables() == ["events"]
    events = list(duck_adapter.stream("events", chunk_rows=1000))
    assert sum(c.height for c in events) == 2500 and max(c.height for c in events) <= 1000
    frame = pl.concat(events)
    assert frame.schema["at"] == pl.Datetime("us", "UTC")
    assert isinstance(frame.schema["v"], pl.Decimal)
    with pytest.raises(MissingTableError):
        duck_adapter.read("missing")
    missing = make_source(name="gone", kind="sqlite", database="db/none.sqlite")
    with pytest.raises(SourceError, match="does not exist under the data root"):
        DatabaseAdapter(store, missing).list_tables()
    assert not (data_root / "db" / "none.sqlite").exists()  # read-only: nothing was created
