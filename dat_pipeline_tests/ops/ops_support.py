"""Helpers of the operations tests: subprocesses stopped by process group, waits, ports, the
origins of a job of the code location (what the webserver attaches to a submitted run)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PROJECT = Path(__file__).resolve().parents[2]
SAMPLE = PROJECT / "data" / "sample"
DEPLOY_INSTANCE = PROJECT / "deploy" / "dagster.postgres.yaml"
BIN = Path(sys.executable).parent
LOCATION = "dat_pipeline"  # as in workspace.yaml
# What the UI sends to launch a run, and asks for its status (GraphQL).
LAUNCH_RUN = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
  }
}"""
RUN_STATUS = """
query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"""


@dataclass
class ProductionHome:
    """A DAGSTER_HOME holding the deploy instance file, and the environment that points at it."""

    home: Path
    data_root: Path
    database: str
    env: dict[str, str]
    store_url: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    predicate: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.25
) -> Any:
    """Poll `predicate` until it returns something truthy; fail naming `what` after timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def ignore_interrupts() -> None:
    """How a non-interactive shell starts a background job (`cmd &`): SIGINT and SIGTERM ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


@contextmanager
def background(
    args: list[str],
    env: dict[str, str],
    log: Path,
    cwd: Path = PROJECT,
    preexec_fn: Callable[[], None] | None = None,
) -> Iterator[subprocess.Popen]:
    """A subprocess in its own session (output to `log`); stopped with SIGTERM, then SIGKILL,
    by its process group id (only the processes this started)."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec_fn,
        )
    try:
        yield process
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen, grace_s: float = 15) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    # children the group leader left behind (run workers, gRPC servers)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def wait_for_http(
    url: str, process: subprocess.Popen, timeout_s: float, what: str, output: Callable[[], str]
) -> None:
    """Wait until `url` answers; fail with `output()` as soon as `process` has exited."""

    def up() -> bool:
        assert process.poll() is None, f"{what} exited:\n{output()}"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            return False

    wait_until(up, timeout_s, what)


@contextmanager
def dagster_ui(env: dict[str, str], logs: Path, timeout_s: float = 180) -> Iterator[int]:
    """dagster-webserver on a free loopback port and dagster-daemon over `env`, logging to
    `logs`/webserver.log and daemon.log; yields the port once the webserver answers. The
    instance's storage is created first: two processes creating it at once can both stamp its
    schema (alembic "more than one head") and the code location then fails to load."""
    import dagster as dg

    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        instance.get_runs(limit=1)
    port = free_port()
    web_log = logs / "webserver.log"
    webserver = [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1"]
    daemon = [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]
    with (
        background([*webserver, "-p", str(port)], env, web_log) as server,
        background(daemon, env, logs / "daemon.log"),
    ):
        url = f"http://127.0.0.1:{port}/server_info"
        wait_for_http(url, server, timeout_s, "the webserver", lambda: tail(web_log))
        yield port


def session_commands(session: int) -> list[str]:
    """The command lines of the live processes of `session` (a `background` process's pid)."""
    commands = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session and fields[0] != "Z":
                commands.append((stat.parent / "cmdline").read_text().replace("\0", " ").strip())
    return commands


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    """Send `query` to the webserver on `port` as the UI does; fail on GraphQL errors."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body["errors"]
    return body["data"]


def tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def job_origins(job_name: str) -> tuple[Any, Any]:
    """Where the daemon finds `job_name` (the workspace's code location) and how a run worker
    re-imports it: what the webserver attaches to a run it submits."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.remote_origin import (
        ManagedGrpcPythonEnvCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    module = "dat_pipeline.definitions"
    target = LoadableTargetOrigin(
        executable_path=sys.executable, module_name=module, working_directory=str(PROJECT)
    )
    location = ManagedGrpcPythonEnvCodeLocationOrigin(target, LOCATION)
    remote = RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), job_name)
    python = (
        ReconstructableRepository.for_module(module, "defs", str(PROJECT))
        .get_reconstructable_job(job_name)
        .get_python_origin()
    )
    return remote, python
