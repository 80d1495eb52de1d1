"""What the API tests share: the real app over a temp data root, called with a token per project."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import Api
from fastapi.testclient import TestClient

from dat_pipeline.api import create_app


@pytest.fixture
def api(data_root: Path) -> Iterator[Api]:
    with TestClient(create_app()) as client:
        yield Api(client)
