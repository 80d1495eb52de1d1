"""Killing a backfill mid-window (SIGKILL) leaves every finished window readable and no partial
one; running again yields exactly the table's rows. From SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from dat_pipeline.backfill.demo import generate_trades, load_trades
from dat_pipeline.backfill.manifest import latest_by_window
from dat_pipeline.store import ControlStore

WORKER = Path(__file__).with_name("backfill_kill_worker.py")
JAN = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def source_and_store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """The source database of each kind; the store is SQLite beside SQLite, else PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'source.sqlite'}", f"sqlite:///{tmp_path / 'store.db'}"
    store_url = request.getfixturevalue("pg_url")
    if request.param == "postgresql":
        return store_url, store_url
    return request.getfixturevalue("mariadb_url"), store_url


def test_killed_run_leaves_no_partial_window_and_a_rerun_is_exact(
    tmp_path: Path, source_and_store: tuple[str, str]
) -> None:
    url, store_url = source_and_store
    source = generate_trades(1800, start=JAN, end=JAN + timedelta(days=30))
    engine = sa.create_engine(url)
    load_trades(engine, source)
    engine.dispose()
    data = tmp_path / "data"
    command = [sys.executable, str(WORKER), url, str(data), store_url]

    worker = subprocess.Popen([*command, "slow"], stdout=subprocess.PIPE, text=True)
    current, chunks = None, 0
    for line in worker.stdout:
        if line.startswith("window"):
            current, chunks = line.split()[1], 0
        elif line.startswith("chunk") and current == "2024-01-08":
            chunks += 1
            if chunks == 3:
                os.kill(worker.pid, signal.SIGKILL)
                break
    worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL

    folder = data / "backfill" / "trades"
    finished = sorted(p.stem for p in folder.glob("*.parquet"))
    assert finished == [f"2024-01-{day:02d}" for day in range(1, 8)]
    assert pl.read_parquet(sorted(folder.glob("*.parquet"))).height > 0
    assert "2024-01-08" not in latest_by_window(ControlStore(store_url), "trades")

    done = subprocess.run(
        [*command, "fast"], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.rstrip().endswith("finished")
    union = pl.read_parquet(sorted(folder.glob("*.parquet")))
    assert union.height == source.height
    assert union["id"].sort().to_list() == source["id"].to_list()
