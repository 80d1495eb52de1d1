"""A realistic time-stamped table for the backfill demo, tests and benchmark: trades (id, ticker,
side, qty, price, ts) over a year, with a `tickers` reference table (a foreign key)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine

from dat_pipeline.backfill.config import BackfillTableConfig

TICKERS = {
    "AAPL": "Apple",
    "MSFT": "Microsoft",
    "GOOG": "Alphabet",
    "AMZN": "Amazon",
    "TSLA": "Tesla",
    "NVDA": "Nvidia",
    "META": "Meta",
    "JPM": "JPMorgan Chase",
    "V": "Visa",
    "XOM": "Exxon Mobil",
}
DEMO_START = datetime(2024, 1, 1, tzinfo=UTC)
DEMO_END = datetime(2025, 1, 1, tzinfo=UTC)


def generate_trades(
    rows: int,
    *,
    start: datetime = DEMO_START,
    end: datetime = DEMO_END,
    seed: int = 7,
) -> pl.DataFrame:
    """`rows` trades with timestamps spread over [start, end), sorted by time; ids from 1."""
    rng = np.random.default_rng(seed)
    span_us = int((end - start).total_seconds() * 1_000_000)
    offsets = np.sort(rng.integers(0, span_us, size=rows))
    symbols = np.array(list(TICKERS))
    return pl.DataFrame(
        {
            "id": np.arange(1, rows + 1, dtype=np.int64),
            "ticker": symbols[rng.integers(0, len(symbols), size=rows)],
            "side": np.where(rng.random(rows) < 0.5, "BUY", "SELL"),
            "qty": rng.integers(1, 5_000, size=rows, dtype=np.int64),
            "price": np.round(rng.uniform(5, 900, size=rows), 4),
        }
    ).with_columns(
        pl.Series("ts", offsets, dtype=pl.Int64).cast(pl.Duration("us"))
        + pl.lit(start).cast(pl.Datetime("us", "UTC")),
        pl.col("price").cast(pl.Decimal(12, 4)),
    )


def trades_config(source: str | dict[str, Any], **fields: Any) -> BackfillTableConfig:
    """The backfill config of the demo `trades` table read from `source`: daily windows of `ts`
    from the demo's start; `fields` add or override (end, constraints, sample_size...)."""
    table = {"name": "trades", "source": source, "table": "trades", "time_column": "ts"}
    return BackfillTableConfig(**{**table, "start": DEMO_START, **fields})


def trades_tables(metadata: sa.MetaData, table: str = "trades") -> tuple[sa.Table, sa.Table]:
    tickers = sa.Table(
        f"{table}_tickers",
        metadata,
        sa.Column("symbol", sa.String(5), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
    )
    trades = sa.Table(
        table,
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ticker", sa.String(5), sa.ForeignKey(f"{table}_tickers.symbol"), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("qty", sa.Integer, nullable=False),
        sa.Column("price", sa.Numeric(12, 4), nullable=False),
        sa.Column(
            "ts",
            sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb"),
            nullable=True,
        ),
        sa.Index(f"ix_{table}_ts", "ts"),
    )
    return tickers, trades


def load_trades(engine: Engine, frame: pl.DataFrame, table: str = "trades") -> int:
    """(Re)create `table` and `<table>_tickers` and load `frame` into it; returns the row count."""
    metadata = sa.MetaData()
    tickers, trades = trades_tables(metadata, table)
    with engine.begin() as connection:
        trades.drop(connection, checkfirst=True)
        tickers.drop(connection, checkfirst=True)
        metadata.create_all(connection)
        connection.execute(
            sa.insert(tickers), [{"symbol": s, "name": n} for s, n in TICKERS.items()]
        )
    dialect = engine.dialect.name
    if dialect == "postgresql":
        _copy_postgres(engine, trades, frame)
    elif dialect == "duckdb":
        _insert_duckdb(engine, trades, frame)
    else:
        naive = frame.with_columns(pl.col("ts").dt.replace_time_zone(None))
        with engine.begin() as connection:
            for batch in naive.iter_slices(20_000):
                connection.execute(sa.insert(trades), batch.to_dicts())
    return frame.height


def _copy_postgres(engine: Engine, trades: sa.Table, frame: pl.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False, datetime_format="%Y-%m-%d %H:%M:%S%.6f%z")
    name = engine.dialect.identifier_preparer.format_table(trades)
    columns = ", ".join(engine.dialect.identifier_preparer.quote(c) for c in frame.columns)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY {name} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(buffer.getvalue())
        raw.commit()
    finally:
        raw.close()


def _insert_duckdb(engine: Engine, trades: sa.Table, frame: pl.DataFrame) -> None:
    name = engine.dialect.identifier_preparer.format_table(trades)
    raw = engine.raw_connection()
    try:
        duck = raw.driver_connection
        duck.register("dat_demo_trades", frame.to_arrow())
        duck.execute(f"INSERT INTO {name} SELECT * FROM dat_demo_trades")
        duck.unregister("dat_demo_trades")
        raw.commit()
    finally:
        raw.close()
