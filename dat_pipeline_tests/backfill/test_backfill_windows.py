"""Windowed extraction on real PostgreSQL, MariaDB, SQLite and DuckDB: 30 daily windows hold
exactly the table's rows in range (count and checksum), re-runs replace, empty windows are empty
files, NULL and mixed-offset times land right, plans use one grouped query."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import sqlalchemy as sa

from dat_pipeline.backfill import BackfillTable, BackfillTableConfig, windows_between
from dat_pipeline.backfill.demo import generate_trades, load_trades, trades_config
from dat_pipeline.backfill.windows import window_for_key
from dat_pipeline.reverse_etl import ReverseEtlError, UnknownIdentifierError
from dat_pipeline.store import ControlStore

JAN = datetime(2024, 1, 1, tzinfo=UTC)


def trades_frame() -> pl.DataFrame:
    """Rows around January 2024, with rows exactly on the range's edges."""
    frame = generate_trades(1500, start=JAN - timedelta(days=2), end=JAN + timedelta(days=33))
    edges = pl.DataFrame(
        {
            "id": [900_001, 900_002, 900_003],
            "ticker": ["AAPL", "MSFT", "V"],
            "side": ["BUY", "SELL", "BUY"],
            "qty": [1, 2, 3],
            "ts": [JAN, JAN + timedelta(days=30), JAN + timedelta(days=30, microseconds=-1)],
        }
    ).with_columns(
        pl.Series("price", ["1.0000", "2.0000", "3.0000"]).cast(pl.Decimal(12, 4)),
        pl.col("ts").cast(pl.Datetime("us", "UTC")),
    )
    return pl.concat([frame, edges.select(frame.columns)])


def fingerprint(frame: pl.DataFrame) -> tuple[int, str]:
    """Row count and a checksum over (id, ticker, side, qty, price, ts as UTC microseconds)."""
    ts = pl.col("ts")
    if frame.schema["ts"].time_zone is None:
        ts = ts.dt.replace_time_zone("UTC")
    canonical = frame.select(
        "id", "ticker", "side", "qty", pl.col("price").cast(pl.String), ts.dt.epoch("us")
    ).sort("id")
    return canonical.height, hashlib.sha256(canonical.write_csv().encode()).hexdigest()


def table_config(**overrides: object) -> BackfillTableConfig:
    fields = {"constraints": ["ticker:valid_ticker", "qty:positive"], "chunk_rows": 40}
    return trades_config("unused", **{**fields, **overrides})


def window_union(data_root: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted((data_root / "backfill" / "trades").glob("*.parquet")))


def test_thirty_daily_windows_hold_exactly_the_rows_in_range(db_url: str, tmp_path: Path) -> None:
    source = trades_frame()
    engine = sa.create_engine(db_url)
    load_trades(engine, source)
    store = ControlStore(f"sqlite:///{tmp_path / 'store.db'}")
    table = BackfillTable(table_config(), engine, tmp_path / "data", store=store)
    windows = table.windows("2024-01-01", "2024-01-31")
    assert len(windows) == 30

    for window in windows:
        assert table.validate_sample(window).score == 1.0
        table.extract(window)
    expected = source.filter((pl.col("ts") >= JAN) & (pl.col("ts") < JAN + timedelta(days=30)))
    assert fingerprint(window_union(tmp_path / "data")) == fingerprint(expected)

    first_files = {
        p.name: p.stat().st_mtime_ns for p in (tmp_path / "data/backfill/trades").glob("*")
    }
    for window in windows[10:15]:
        table.extract(window)
    assert fingerprint(window_union(tmp_path / "data")) == fingerprint(expected)
    assert sorted(first_files) == sorted(
        p.name for p in (tmp_path / "data/backfill/trades").glob("*")
    )

    status = table.status("2024-01-01", "2024-01-31")
    assert (status["done"], status["failed"], status["missing"]) == (30, 0, 0)
    records = [
        r
        for r in table.plan
        and __import__("dat_pipeline.backfill.manifest").backfill.manifest.records(store, "trades")
    ]
    assert len(records) == 35 and {r.status for r in records} == {"SUCCESS"}
    assert all(len(r.checksum) == 64 and r.code_version for r in records)
    engine.dispose()
    store.dispose()


def test_plan_estimates_rows_per_window_with_one_grouped_query(db_url: str, tmp_path: Path) -> None:
    source = trades_frame()
    engine = sa.create_engine(db_url)
    load_trades(engine, source)
    table = BackfillTable(table_config(), engine, tmp_path / "data")
    assert table.info.primary_key == ("id",)  # introspect first: its queries are not the plan
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    counts = table.count_by_window(table.windows("2024-01-01", "2024-01-31"))
    grouped = [s for s in statements if "GROUP BY" in s.upper()]
    assert len(grouped) == 1 and len([s for s in statements if "count" in s.lower()]) == 1
    for key in ("2024-01-01", "2024-01-15", "2024-01-30"):
        window = window_for_key("daily", key)
        assert (
            counts[key]
            == source.filter((pl.col("ts") >= window.start) & (pl.col("ts") < window.end)).height
        )
    plan = table.plan("2024-01-01", "2024-01-31")
    assert plan["window_count"] == 30 and plan["runs"] == 5 and plan["suggested_parallelism"] == 4
    assert plan["estimated_rows"] == sum(counts.values())
    assert plan["throughput_basis"] == "sample" and plan["estimated_duration_s"] is not None
    engine.dispose()


def test_empty_window_is_an_empty_file_and_nulls_and_offsets_land_by_utc_instant(
    pg_url: str, tmp_path: Path
) -> None:
    engine = sa.create_engine(pg_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text("CREATE TABLE events (id INTEGER PRIMARY KEY, ts TIMESTAMPTZ, note TEXT)")
        )
        connection.execute(
            sa.text(
                "INSERT INTO events VALUES (1, '2024-01-02 01:30:00+02:00', 'a'), "
                "(2, '2024-01-01 23:30:00-05:00', 'b'), (3, '2024-01-01T12:00:00Z', 'c'), "
                "(4, NULL, 'd'), (5, NULL, 'e')"
            )
        )
    config = table_config(table="events", name="events", constraints=[])
    table = BackfillTable(config, engine, tmp_path / "data")
    day1, day2, day3 = (table.extract(w) for w in table.windows("2024-01-01", "2024-01-04"))
    # 01:30+02:00 is 2024-01-01 23:30 UTC; 23:30-05:00 is 2024-01-02 04:30 UTC.
    assert sorted(pl.read_parquet(day1.path)["id"]) == [1, 3]
    assert sorted(pl.read_parquet(day2.path)["id"]) == [2]
    empty = pl.read_parquet(day3.path)
    assert empty.height == 0 and empty.schema["ts"] == pl.Datetime("us", "UTC")
    assert table.plan("2024-01-01", "2024-01-04")["rows_without_time"] == 2
    engine.dispose()


def test_bad_tables_and_columns_are_clear_errors(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'bad.sqlite'}")
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE plain (id INTEGER PRIMARY KEY, name TEXT)"))
    load_trades(engine, generate_trades(20))
    cases = [
        ({"table": "plain", "time_column": "name"}, ReverseEtlError, "not a date or time column"),
        ({"table": "plain", "time_column": "ts"}, UnknownIdentifierError, "column 'ts' does not"),
        ({"table": "trades; DROP TABLE trades"}, UnknownIdentifierError, "does not exist"),
        ({"time_column": "ts) OR (1=1"}, UnknownIdentifierError, "does not exist"),
    ]
    for overrides, error, message in cases:
        table = BackfillTable(table_config(**overrides), engine, tmp_path / "data")
        with pytest.raises(error, match=message):
            table.extract(table.window("2024-01-02"))
    assert not (tmp_path / "data" / "backfill").exists()
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM trades")).scalar_one() == 20
    engine.dispose()


@pytest.mark.parametrize("granularity", ["hourly", "daily", "weekly", "monthly"])
def test_window_keys_match_dagster_partitions(granularity: str) -> None:
    definition = {
        "hourly": dg.HourlyPartitionsDefinition,
        "daily": dg.DailyPartitionsDefinition,
        "weekly": dg.WeeklyPartitionsDefinition,
        "monthly": dg.MonthlyPartitionsDefinition,
    }[granularity](
        start_date=datetime(2024, 1, 3, 5, tzinfo=UTC),
        end_date=datetime(2024, 4, 1, tzinfo=UTC),
        timezone="UTC",
    )
    ours = windows_between(granularity, "2024-01-03T05:00", "2024-04-01")
    keys = definition.get_partition_keys()
    assert [w.key for w in ours] == keys
    for window in ours[:3]:
        dagster_window = definition.time_window_for_partition_key(window.key)
        assert (dagster_window.start, dagster_window.end) == (window.start, window.end)
