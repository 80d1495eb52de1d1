"""Backfill: rows/s of the real backfill path vs a plain single SELECT into Polars, on a
2-million-row trades table in the local PostgreSQL (SPEC 6: ratio >= 0.7).

The real path is what a scheduled or UI backfill runs: one Dagster run over the 12 monthly
windows (a partition range) with the blocking sample check, extraction streamed to Parquet, the
audit record of each window in a control store, and the materialization events. The plain side
reads the same rows with the same SQLAlchemy/psycopg connection path. Each side runs once
untimed (warm caches for both), then REPEATS times alternating (ABBA order); min and median of
both sides are printed. Nothing is asserted.

The table lives in schema `dat_bench` of DAT_BENCH_PG_URL (default the local `test` database)
and is reused when it already holds the right rows.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl
import sqlalchemy as sa

ROWS = int(os.environ.get("DAT_BENCH_BACKFILL_ROWS", "2000000"))
REPEATS = int(os.environ.get("DAT_BENCH_REPEATS", "3"))
PG_URL = os.environ.get("DAT_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCHEMA = "dat_bench"


def schema_engine(schema: str) -> sa.Engine:
    """An engine on PG_URL whose search path is `schema` (created if missing)."""
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
    admin.dispose()
    return sa.create_engine(f"{PG_URL}?options=-csearch_path%3D{schema}")


def ensure_trades(engine: sa.Engine, rows: int) -> None:
    """The generated trades table with exactly `rows` rows (reloaded when it differs)."""
    from dat_pipeline.backfill.demo import generate_trades, load_trades

    with engine.connect() as connection:
        exists = sa.inspect(connection).has_table("trades")
        count = connection.execute(sa.text("SELECT count(*) FROM trades")).scalar() if exists else 0
    if count != rows:
        if exists:
            with engine.begin() as connection:
                connection.execute(sa.text("DROP TABLE trades"))
        started = time.perf_counter()
        load_trades(engine, generate_trades(rows))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("ANALYZE trades"))
        print(f"loaded {rows:,} rows in {time.perf_counter() - started:.1f} s")


def _table_config():  # type: ignore[no-untyped-def]
    from dat_pipeline.backfill.demo import trades_config

    url = sa.make_url(PG_URL)
    source = {"kind": "postgresql", "host": url.host, "port": url.port or 5432,
              "database": url.database, "user": url.username}  # fmt: skip
    return trades_config(
        source,
        schema=SCHEMA,
        granularity="monthly",
        end="2025-01-01",
        constraints=["ticker:valid_ticker", "qty:positive"],
        max_partitions_per_run=12,
    )


def plain_select(engine: sa.Engine) -> float:
    started = time.perf_counter()
    with engine.connect() as connection:
        frame = pl.read_database("SELECT * FROM trades", connection)
    seconds = time.perf_counter() - started
    assert frame.height == ROWS
    return seconds


def real_path(config) -> float:  # type: ignore[no-untyped-def]
    """One Dagster run over every window, on a fresh data root, store and instance."""
    import dagster as dg
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    from dat_pipeline.backfill import BackfillConfig
    from dat_pipeline.defs.backfill import BackfillResource, asset_key, build_backfill_defs

    work = Path(tempfile.mkdtemp(prefix="dat_bench_backfill_"))
    defs = build_backfill_defs(BackfillConfig(tables=(config,)))
    resource = BackfillResource(data_root=str(work), store_url=f"sqlite:///{work / 'control.db'}")
    windows = defs.resolve_assets_def(asset_key("trades")).partitions_def.get_partition_keys()
    try:
        with dg.instance_for_test() as instance:
            started = time.perf_counter()
            result = dg.materialize(
                list(defs.assets),
                instance=instance,
                resources={"backfill": resource},
                run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
                tags={
                    ASSET_PARTITION_RANGE_START_TAG: windows[0],
                    ASSET_PARTITION_RANGE_END_TAG: windows[-1],
                },
            )
            seconds = time.perf_counter() - started
        materializations = result.asset_materializations_for_node("backfill__trades")
        assert len(materializations) == len(windows)
        manifest = materializations[0].metadata["manifest"].value
        rows = sum(m["rows"] for m in manifest)
        assert rows == ROWS, f"windows hold {rows:,} rows, the table {ROWS:,}"
        assert all(m["status"] == "SUCCESS" for m in manifest)
        return seconds
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _row(label: str, seconds: list[float]) -> str:
    best, median = min(seconds), statistics.median(seconds)
    return f"{label:<38}{ROWS / best:>12,.0f}{ROWS / median:>12,.0f}{median:>10.2f}"


def main() -> None:
    engine = schema_engine(SCHEMA)
    ensure_trades(engine, ROWS)
    config = _table_config()
    try:
        plain_select(engine), real_path(config)  # warm-up, untimed
        plain, real = [], []
        for repeat in range(REPEATS):
            order = [("plain", plain), ("real", real)]
            for side, times in order if repeat % 2 == 0 else reversed(order):
                times.append(plain_select(engine) if side == "plain" else real_path(config))
    finally:
        engine.dispose()
    print(f"{ROWS:,} rows, 12 monthly windows, {REPEATS} alternating repeats after a warm-up")
    print(f"{'':<38}{'rows/s min':>12}{'rows/s med':>12}{'med s':>10}")
    print(_row("plain SELECT into Polars", plain))
    print(_row("backfill run (check, Parquet, audit)", real))
    ratio = statistics.median(plain) / statistics.median(real)
    print(f"ratio backfill/plain (medians): {ratio:.2f} (target >= 0.7)")


if __name__ == "__main__":
    main()
