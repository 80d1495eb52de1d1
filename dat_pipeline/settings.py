"""Environment variables and their defaults, read in one place.

`get_settings()` reads the environment once per process; tests that change the environment call
`get_settings.cache_clear()` (the `data_root` fixture does).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    data_root: Path
    store_url: str
    encryption_key: str | None
    preview_row_limit: int
    sync_max_bytes: int
    sync_max_rows: int
    stream_threshold_bytes: int
    dagster_home: Path
    # Largest file the HTTP API accepts as an upload (refused with 413 while streaming).
    upload_max_bytes: int = 1024 * 1024 * 1024
    # A YAML stage graph replacing the default one (DAT_STAGE_GRAPH), for every front-end.
    stage_graph: Path | None = None

    @property
    def warehouse_path(self) -> Path:
        return self.data_root / "warehouse.duckdb"


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise ValueError(
            f"{name}={raw!r} is not a whole number; unset it or give e.g. {default}"
        ) from None
    if value <= 0:
        raise ValueError(f"{name}={raw!r} must be positive")
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the `DAT_*` environment once; relative paths resolve against the working directory."""
    data_root = Path(os.environ.get("DAT_DATA_ROOT") or "data").expanduser().resolve()
    store_url = os.environ.get("DAT_STORE_URL") or f"sqlite:///{data_root / 'control.db'}"
    dagster_home = Path(os.environ.get("DAGSTER_HOME") or ".dagster_home").expanduser().resolve()
    stage_graph = os.environ.get("DAT_STAGE_GRAPH") or None
    return Settings(
        data_root=data_root,
        store_url=store_url,
        encryption_key=os.environ.get("DAT_ENCRYPTION_KEY") or None,
        preview_row_limit=_int_env("DAT_PREVIEW_ROW_LIMIT", 50),
        sync_max_bytes=_int_env("DAT_SYNC_MAX_BYTES", 5 * 1024 * 1024),
        sync_max_rows=_int_env("DAT_SYNC_MAX_ROWS", 10_000),
        stream_threshold_bytes=_int_env("DAT_STREAM_THRESHOLD_BYTES", 10 * 1024 * 1024),
        dagster_home=dagster_home,
        upload_max_bytes=_int_env("DAT_UPLOAD_MAX_BYTES", 1024 * 1024 * 1024),
        stage_graph=Path(stage_graph).expanduser().resolve() if stage_graph else None,
    )
