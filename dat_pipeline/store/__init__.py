"""The control store (locks, events, kept configs, runs): SQLite by default or PostgreSQL.

`open_store` gives the full store (SQLAlchemy, migrations, writes); `open_reader` a store for
reads only, which on an existing SQLite store needs no SQLAlchemy (`dat status` starts fast).
SQLAlchemy is imported on the first `open_store` or `ControlStore`, not by this package.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from dat_pipeline.settings import get_settings
from dat_pipeline.store.reads import (
    Event,
    RunRecord,
    SqliteReader,
    StageStatus,
    StoreError,
    StoreReads,
    utc_now,
)

if TYPE_CHECKING:
    from dat_pipeline.store.control import ControlStore

_STORES: dict[tuple[str, int], ControlStore] = {}


def open_store(url: str | None = None) -> ControlStore:
    """The store at `url` (default: `DAT_STORE_URL` or `data/control.db`), one per process."""
    from dat_pipeline.store.control import ControlStore

    resolved = url or get_settings().store_url
    key = (resolved, os.getpid())
    if key not in _STORES:
        _STORES[key] = ControlStore(resolved)
    return _STORES[key]


def open_reader(url: str | None = None) -> StoreReads:
    """A store to read runs, statuses and events from: the full store when this process has
    opened it (or must: not SQLite, not created yet, an old schema), else a `SqliteReader`."""
    resolved = url or get_settings().store_url
    opened = _STORES.get((resolved, os.getpid()))
    return opened or SqliteReader.open(resolved) or open_store(resolved)


def __getattr__(name: str) -> Any:
    if name == "ControlStore":  # imports SQLAlchemy: only when asked for
        from dat_pipeline.store.control import ControlStore

        return ControlStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ControlStore",
    "Event",
    "RunRecord",
    "StageStatus",
    "StoreError",
    "StoreReads",
    "open_reader",
    "open_store",
    "utc_now",
]
