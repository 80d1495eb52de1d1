"""A stage graph from DAT_STAGE_GRAPH is honoured by every front-end, not only by the Dagster
resource: here `context` is made mandatory, and both the CLI and the API refuse to skip it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from dat_pipeline.api import create_app
from dat_pipeline.cli import app as cli_app
from dat_pipeline.dat.graph import DEFAULT_GRAPH
from dat_pipeline.services.access import create_token
from dat_pipeline.settings import get_settings
from dat_pipeline.store import open_store


@pytest.fixture
def mandatory_context(data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    graph = DEFAULT_GRAPH.model_dump(mode="json")
    for stage in graph["stages"]:
        if stage["name"] == "context":
            stage["optional"] = False
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump(graph), encoding="utf-8")
    monkeypatch.setenv("DAT_STAGE_GRAPH", str(path))
    get_settings.cache_clear()
    return path


def test_the_cli_and_the_api_follow_the_graph_file(mandatory_context: Path):
    runner = CliRunner()
    run_id = json.loads(runner.invoke(cli_app, ["runs", "create", "--json"]).stdout)["run_id"]
    assert (
        runner.invoke(cli_app, ["lock", run_id, "discovery", "--set", "root=sample"]).exit_code == 0
    )
    skipped = runner.invoke(cli_app, ["skip", run_id, "context"])
    assert skipped.exit_code == 1 and "context: it is not optional" in skipped.stderr

    _record, token = create_token(open_store(), ["default"])
    with TestClient(create_app()) as client:
        answer = client.post(
            f"/api/dat/runs/{run_id}/stages/context/skip",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 409
        assert answer.json()["error"]["details"]["reason"] == "is not optional"
        stages = client.get("/api/dat/stages", headers={"Authorization": f"Bearer {token}"})
        by_name = {s["stage"]: s for s in stages.json()["stages"]}
        assert by_name["context"]["optional"] is False
