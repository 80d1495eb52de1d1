"""Backfill: rows/s of window extraction (streamed to Parquet) vs a plain single SELECT into
Polars, on a 2-million-row trades table in the local PostgreSQL (SPEC 6: ratio >= 0.7).

The table lives in schema `dat_bench` of DAT_BENCH_PG_URL (default the local `test` database)
and is reused when it already holds the right rows. Both sides use the same SQLAlchemy/psycopg
connection path; the extraction covers the same rows as 12 monthly windows.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import polars as pl
import sqlalchemy as sa

ROWS = int(os.environ.get("DAT_BENCH_BACKFILL_ROWS", "2000000"))
PG_URL = os.environ.get("DAT_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCHEMA = "dat_bench"


def _engine() -> sa.Engine:
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    admin.dispose()
    return sa.create_engine(f"{PG_URL}?options=-csearch_path%3D{SCHEMA}")


def _ensure_table(engine: sa.Engine) -> None:
    from dat_pipeline.backfill.demo import generate_trades, load_trades

    with engine.connect() as connection:
        exists = sa.inspect(connection).has_table("trades")
        count = connection.execute(sa.text("SELECT count(*) FROM trades")).scalar() if exists else 0
    if count != ROWS:
        started = time.perf_counter()
        load_trades(engine, generate_trades(ROWS))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("ANALYZE trades"))
        print(f"loaded {ROWS} rows in {time.perf_counter() - started:.1f} s")


def main() -> None:
    from dat_pipeline.backfill import BackfillTable, BackfillTableConfig

    engine = _engine()
    _ensure_table(engine)
    out = Path(tempfile.mkdtemp(prefix="dat_bench_backfill_"))
    try:
        started = time.perf_counter()
        with engine.connect() as connection:
            plain = pl.read_database("SELECT * FROM trades", connection)
        plain_s = time.perf_counter() - started
        del plain

        config = BackfillTableConfig(
            name="trades",
            source="bench",
            table="trades",
            time_column="ts",
            granularity="monthly",
            start="2024-01-01",
            end="2025-01-01",
        )
        table = BackfillTable(config, engine, out)
        windows = table.windows()
        # Introspection once, outside the timing (an asset run does it once per run too).
        print(f"table {table.info.qualified_name}: {table.info.row_count:,} rows")
        started = time.perf_counter()
        results = [table.extract(window) for window in windows]
        window_s = time.perf_counter() - started
        rows = sum(r.rows for r in results)
        assert rows == ROWS, f"windows hold {rows} rows, the table {ROWS}"
        plain_rate, window_rate = ROWS / plain_s, rows / window_s
        one = results[0]
        print(
            f"plain SELECT into Polars : {plain_rate:12,.0f} rows/s ({plain_s:.2f} s, {ROWS:,} rows)"
        )
        print(
            f"window extraction        : {window_rate:12,.0f} rows/s ({window_s:.2f} s, "
            f"{len(results)} monthly windows to Parquet; one window {one.rows:,} rows in "
            f"{one.duration_s:.2f} s = {one.rows / one.duration_s:,.0f} rows/s)"
        )
        print(f"ratio window/plain       : {window_rate / plain_rate:.2f} (target >= 0.7)")
    finally:
        shutil.rmtree(out, ignore_errors=True)
        engine.dispose()


if __name__ == "__main__":
    main()
