"""The control store (locks, events, kept configs, runs): SQLite by default or PostgreSQL."""

from __future__ import annotations

import os

from dat_pipeline.settings import get_settings
from dat_pipeline.store.control import (
    ControlStore,
    Event,
    RunRecord,
    StageStatus,
    StoreError,
    utc_now,
)

_STORES: dict[tuple[str, int], ControlStore] = {}


def open_store(url: str | None = None) -> ControlStore:
    """The store at `url` (default: `DAT_STORE_URL` or `data/control.db`), one per process."""
    resolved = url or get_settings().store_url
    key = (resolved, os.getpid())
    if key not in _STORES:
        _STORES[key] = ControlStore(resolved)
    return _STORES[key]


__all__ = [
    "ControlStore",
    "Event",
    "RunRecord",
    "StageStatus",
    "StoreError",
    "open_store",
    "utc_now",
]
