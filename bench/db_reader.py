"""Database readers: the rows/s of each way to read one PostgreSQL table into Polars frames, in one
run with alternating repeats (issue 14 point 4: one reader, built on a library where it serves).

- `read_database`: `pl.read_database(sql, connection)`, the whole table at once (the baseline);
- `read_database_batches`: the same with `iter_batches=True` (bounded memory);
- `ingestion/dat`: `DatabaseAdapter.stream` (ingestion and the database tables of DAT runs);
- `backfill`: `reverse_etl.extract.stream_frames` (window extraction).

It also times the probe of the table as a DAT run's table_availability does it (`db://` path,
SPEC 1.4: under 1 s per table).

The trades table (DAT_BENCH_READER_ROWS rows, default 500,000) lives in schema
`dat_bench_reader` of DAT_BENCH_PG_URL and is reused when it holds the right rows.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

from bench.backfill import ensure_trades, schema_engine

ROWS = int(os.environ.get("DAT_BENCH_READER_ROWS", "500000"))
SCHEMA = "dat_bench_reader"
CHUNK = 50_000
REPEATS = 3


def _rows(frames: Iterator[pl.DataFrame]) -> int:
    return sum(frame.height for frame in frames)


def main() -> None:
    from dat_pipeline.adapters.database import DatabaseAdapter, probe_db_table
    from dat_pipeline.reverse_etl.extract import stream_frames
    from dat_pipeline.reverse_etl.introspect import analyze_table
    from dat_pipeline.settings import get_settings
    from dat_pipeline.sources import add_database_source, make_source
    from dat_pipeline.store import ControlStore

    engine = schema_engine(SCHEMA)
    ensure_trades(engine, ROWS)
    url = engine.url
    source = make_source(
        name="bench_reader",
        kind="postgresql",
        host=url.host,
        port=url.port,
        database=url.database,
        user=url.username,
    )
    with tempfile.TemporaryDirectory() as folder:
        os.environ["DAT_STORE_URL"] = f"sqlite:///{Path(folder) / 'store.db'}"
        get_settings.cache_clear()
        store = ControlStore(os.environ["DAT_STORE_URL"])
        add_database_source(store, source, None)
        adapter = DatabaseAdapter(store, source)
        probes = []
        for _ in range(5):
            probe = probe_db_table(f"db://{source.name}/{SCHEMA}.trades")
            assert probe.status == "available", probe.error
            probes.append(probe.probe_seconds)
        with engine.connect() as connection:
            info = analyze_table(connection, "trades")

        def plain() -> int:
            with engine.connect() as connection:
                return pl.read_database("SELECT * FROM trades", connection).height

        def batches() -> int:
            with engine.connect() as connection:
                return _rows(
                    pl.read_database(
                        "SELECT * FROM trades", connection, iter_batches=True, batch_size=CHUNK
                    )
                )

        def ingestion() -> int:
            return _rows(adapter.stream(f"{SCHEMA}.trades", chunk_rows=CHUNK))

        def backfill() -> int:
            with engine.connect() as connection:
                return _rows(stream_frames(connection, info, chunk_rows=CHUNK))

        readers: dict[str, Callable[[], int]] = {
            "read_database": plain,
            "read_database_batches": batches,
            "ingestion/dat": ingestion,
            "backfill": backfill,
        }
        seconds: dict[str, list[float]] = {name: [] for name in readers}
        for _ in range(REPEATS):
            for name, read in readers.items():
                started = time.perf_counter()
                rows = read()
                seconds[name].append(time.perf_counter() - started)
                assert rows == ROWS, f"{name} read {rows} rows, the table has {ROWS}"
        store.dispose()
    engine.dispose()
    base = min(seconds["read_database"])
    print(
        f"probe of db://{source.name}/{SCHEMA}.trades: best {min(probes):.3f} s, worst "
        f"{max(probes):.3f} s of 5 (limit 1 s)"
    )
    print(f"{ROWS:,} rows, chunks of {CHUNK:,}, best of {REPEATS} alternating repeats")
    print(f"{'reader':<24}{'seconds':>9}{'rows/s':>12}{'vs read_database':>18}")
    for name, runs in seconds.items():
        best = min(runs)
        print(f"{name:<24}{best:>9.2f}{ROWS / best:>12,.0f}{base / best:>18.2f}")


if __name__ == "__main__":
    main()
