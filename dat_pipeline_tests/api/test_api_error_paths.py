"""Error messages over the API never show where the server keeps its files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dat_pipeline.api import create_app
from dat_pipeline.api.errors import without_server_paths
from dat_pipeline.services.access import create_token
from dat_pipeline.store import open_store


@pytest.fixture
def client(data_root: Path) -> Iterator[TestClient]:
    _record, token = create_token(open_store(), ["alpha"])
    with TestClient(create_app(), headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def test_a_bad_discovery_root_is_named_without_the_server_path(client: TestClient, data_root: Path):
    run = client.post("/api/dat/runs", json={"name": "paths"}).json()["run_id"]
    locked = client.post(
        f"/api/dat/runs/{run}/stages/discovery/lock", json={"config": {"root": "nowhere"}}
    )
    assert locked.status_code == 422
    message = locked.json()["error"]["message"]
    assert "'nowhere'" in message and "<data root>" in message
    assert str(data_root.parent) not in locked.text


def test_error_bodies_keep_api_routes_and_hide_server_paths(data_root: Path):
    message = (
        f"cannot read {data_root}/sample/x.csv or /etc/dat/secret.yaml "
        "(list runs with: GET /api/dat/runs)"
    )
    assert without_server_paths(message) == (
        "cannot read sample/x.csv or <server path> (list runs with: GET /api/dat/runs)"
    )
    assert without_server_paths({"path": str(data_root)}) == {"path": "<data root>"}
