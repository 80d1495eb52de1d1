"""Backfill fixtures: a SQLite trades table with one day whose sample the model refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import execute, write_trades


@pytest.fixture
def trades_with_a_bad_day(data_root: Path) -> str:
    """600 trades over Jan 1-10 2024 in `db/trades.sqlite` (returned relative to the data root);
    every trade of Jan 5 has a ticker that `valid_ticker` refuses."""
    path = data_root / "db" / "trades.sqlite"
    write_trades(path, 600, 10)
    execute(
        f"sqlite:///{path}",
        "UPDATE trades SET ticker = 'bad'"
        " WHERE ts >= '2024-01-05 00:00:00' AND ts < '2024-01-06 00:00:00'",
    )
    return "db/trades.sqlite"
