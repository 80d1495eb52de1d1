"""Backfill fixtures: a SQLite trades table with one day whose sample the model refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from dat_pipeline.backfill.demo import generate_trades, load_trades

JAN = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def trades_with_a_bad_day(data_root: Path) -> str:
    """600 trades over Jan 1-10 2024 in `db/trades.sqlite` (returned relative to the data root);
    every trade of Jan 5 has a ticker that `valid_ticker` refuses."""
    path = data_root / "db" / "trades.sqlite"
    path.parent.mkdir(parents=True)
    engine = sa.create_engine(f"sqlite:///{path}")
    load_trades(engine, generate_trades(600, start=JAN, end=JAN + timedelta(days=10)))
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE trades SET ticker = 'bad' WHERE ts >= :a AND ts < :b"),
            {"a": "2024-01-05 00:00:00", "b": "2024-01-06 00:00:00"},
        )
    engine.dispose()
    return "db/trades.sqlite"
