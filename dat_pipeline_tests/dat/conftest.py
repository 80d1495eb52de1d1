"""Fixtures of the DAT stage tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.settings import get_settings
from dat_pipeline.store import ControlStore


@pytest.fixture
def flow(data_root: Path) -> Iterator[DatWorkflow]:
    """A workflow on the data root's SQLite store: these tests exercise the stages, not the store
    backends."""
    store = ControlStore(get_settings().store_url)
    yield DatWorkflow(store, data_root)
    store.dispose()
