"""Fixtures of the DAT stage tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.store import ControlStore


@pytest.fixture
def flow(data_root: Path, tmp_path: Path) -> Iterator[DatWorkflow]:
    """A SQLite-backed workflow: these tests exercise the stages, not the store backends."""
    store = ControlStore(f"sqlite:///{tmp_path / 'c.db'}")
    yield DatWorkflow(store, data_root)
    store.dispose()
