"""The real Dagster webserver serves the code location's asset graph (what `make ui` shows)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
QUERY = "{ assetNodes { assetKey { path } groupName partitionDefinition { name } } }"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post_graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_webserver_serves_the_dat_asset_graph_on_loopback(data_root: Path):
    port = free_port()
    webserver = Path(sys.executable).with_name("dagster-webserver")
    server = subprocess.Popen(
        [str(webserver), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"webserver did not start: {server.stderr.read()[-2000:]}")
                time.sleep(0.5)
        nodes = post_graphql(port, QUERY)["data"]["assetNodes"]
        dat_nodes = {tuple(n["assetKey"]["path"]): n for n in nodes if n["groupName"] == "dat"}
        assert ("dat", "discovery") in dat_nodes and ("dat", "export") in dat_nodes
        assert {n["partitionDefinition"]["name"] for n in dat_nodes.values()} == {"dat_runs"}
    finally:
        server.terminate()
        server.wait(timeout=20)
