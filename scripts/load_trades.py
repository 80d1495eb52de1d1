"""Load the demo `trades` table (ticker, side, qty, price, ts over 2024) for backfill.yaml.

Always writes a DuckDB file under the data root (`demo/trades.duckdb`, what backfill.yaml uses out
of the box); also loads the local PostgreSQL and MariaDB when they answer, and registers them as
sources `trades_pg` and `trades_mariadb` (point a backfill.yaml entry's `source` at one to use it).

    python scripts/load_trades.py [--rows 200000] [--no-servers]
"""

from __future__ import annotations

import argparse
import socket

import sqlalchemy as sa

from dat_pipeline.backfill.demo import generate_trades, load_trades
from dat_pipeline.settings import get_settings
from dat_pipeline.sources import add_database_source, engine_for, make_source
from dat_pipeline.store import open_store

SERVERS = {
    "trades_pg": {"kind": "postgresql", "host": "127.0.0.1", "port": 5432, "user": "postgres"},
    "trades_mariadb": {"kind": "mysql", "host": "127.0.0.1", "port": 3306, "user": "root"},
}


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--database", default="test", help="server database (default: test)")
    parser.add_argument("--no-servers", action="store_true", help="only write the DuckDB file")
    args = parser.parse_args()

    frame = generate_trades(args.rows)
    store = open_store(get_settings().store_url)
    duck = make_source(name="trades_duckdb", kind="duckdb", database="demo/trades.duckdb")
    add_database_source(store, duck, None, replace=True)
    targets = [duck]
    if not args.no_servers:
        for name, fields in SERVERS.items():
            if _reachable(fields["host"], fields["port"]):
                source = make_source(name=name, database=args.database, **fields)
                add_database_source(store, source, None, replace=True)
                targets.append(source)
    for source in targets:
        engine = engine_for(store, source)
        try:
            load_trades(engine, frame)
            with engine.connect() as connection:
                count = connection.execute(sa.text("SELECT count(*) FROM trades")).scalar_one()
        finally:
            engine.dispose()
        print(f"{source.label()}: trades has {count} rows")


if __name__ == "__main__":
    main()
