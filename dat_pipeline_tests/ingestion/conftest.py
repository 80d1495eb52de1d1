"""Fixtures of the ingestion tests: an encryption key, a Dagster home whose launcher runs a
dequeued run in this process, and a CLI runner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from dat_pipeline.settings import get_settings
from dat_pipeline.store import ControlStore

SYNC_LAUNCHER = """
run_launcher:
  module: dagster._core.launcher.sync_in_memory_run_launcher
  class: SyncInMemoryRunLauncher
"""


@pytest.fixture
def ingest_env(data_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The data root with DAT_ENCRYPTION_KEY set and a Dagster home (queued run coordinator, as
    shipped) whose launcher executes a dequeued run in process, as the daemon would in a worker."""
    monkeypatch.setenv("DAT_ENCRYPTION_KEY", Fernet.generate_key().decode())
    home = Path(get_settings().dagster_home)
    with open(home / "dagster.yaml", "a", encoding="utf-8") as handle:
        handle.write(SYNC_LAUNCHER)
    get_settings.cache_clear()
    yield data_root
    get_settings.cache_clear()


@pytest.fixture
def control(ingest_env: Path) -> Iterator[ControlStore]:
    from dat_pipeline.store import open_store

    yield open_store(get_settings().store_url)


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()
