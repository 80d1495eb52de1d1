"""Introspection on real PostgreSQL, MariaDB, SQLite and DuckDB: keys, indexes, constraints,
row counts, and identifiers checked against the catalog (injection attempts included)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dat_pipeline.backfill.demo import generate_trades, load_trades
from dat_pipeline.reverse_etl import UnknownIdentifierError, analyze_table, build_model_spec
from dat_pipeline.reverse_etl.extract import read_frame

ANALYZE_KEYS = {
    "table",
    "row_count",
    "row_count_estimated",
    "columns",
    "primary_key",
    "foreign_keys",
    "indexes",
    "unique",
}


@pytest.fixture
def trades_engine(db_url: str) -> sa.Engine:
    engine = sa.create_engine(db_url)
    load_trades(engine, generate_trades(500))
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "CREATE TABLE accounts (id INTEGER PRIMARY KEY, email VARCHAR(120) NOT NULL "
                "UNIQUE, balance NUMERIC(10, 2) CHECK (balance >= 0))"
            )
        )
    yield engine
    engine.dispose()


def test_analyze_finds_keys_indexes_and_constraints(trades_engine: sa.Engine) -> None:
    trades = analyze_table(trades_engine, "trades").to_json()
    assert set(trades) >= ANALYZE_KEYS
    assert trades["row_count"] == 500 and trades["row_count_estimated"] is False
    assert trades["primary_key"] == ["id"]
    assert trades["foreign_keys"] == [
        {"columns": ["ticker"], "ref_table": "trades_tickers", "ref_columns": ["symbol"]}
    ]
    assert ["ts"] in [index["columns"] for index in trades["indexes"]]
    columns = {c["name"]: c for c in trades["columns"]}
    assert set(columns["id"]) == {"name", "sql_type", "logical_type", "nullable", "default"}
    assert columns["price"]["logical_type"] == "decimal"
    assert columns["qty"]["logical_type"] == "integer"
    assert columns["ts"]["logical_type"] == "datetime" and columns["ts"]["nullable"] is True
    assert columns["ticker"]["nullable"] is False

    accounts = analyze_table(trades_engine, "accounts")
    assert [u["columns"] for u in accounts.to_json()["unique"]] == [["email"]]
    assert any("balance" in c["sqltext"] for c in accounts.check_constraints)
    spec = build_model_spec(accounts)
    fields = {f.name: f.rules for f in spec.fields}
    assert fields["id"].unique and fields["email"].unique and not fields["email"].nullable
    assert fields["email"].max_length == (120 if accounts.dialect != "duckdb" else None)


def test_unknown_and_injected_identifiers_are_refused(trades_engine: sa.Engine) -> None:
    for name in ["nope", "trades; DROP TABLE trades", 'trades" --', "trades WHERE 1=1"]:
        with pytest.raises(UnknownIdentifierError, match="does not exist"):
            analyze_table(trades_engine, name)
    info = analyze_table(trades_engine, "trades")
    with pytest.raises(UnknownIdentifierError, match=r"column 'qty; DROP TABLE trades'"):
        info.column("qty; DROP TABLE trades")
    with pytest.raises(UnknownIdentifierError, match="did you mean 'ticker'"):
        info.column("TICKER")
    with trades_engine.connect() as connection:
        assert read_frame(connection, info).height == 500  # still there, untouched


def test_row_count_is_a_catalog_estimate_above_the_threshold(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    load_trades(engine, generate_trades(300))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text("ANALYZE trades"))
    estimated = analyze_table(engine, "trades", estimate_above=100)
    exact = analyze_table(engine, "trades")
    engine.dispose()
    assert estimated.row_count_estimated and estimated.row_count == 300
    assert not exact.row_count_estimated and exact.row_count == 300
