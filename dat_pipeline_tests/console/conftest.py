"""Fixtures of the console's browser tests: one `dat serve` (a real uvicorn subprocess on a free
loopback port over a temp data root, store and DAGSTER_HOME), tokens of two projects, and
Debian's chromium driven by Playwright (no browser download)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_support import CHROMIUM, CHROMIUM_ARGS, PROJECT, SCREENSHOTS, Console
from cryptography.fernet import Fernet

from dat_pipeline.services import access
from dat_pipeline.store import open_store


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen, grace_s: float = 3.0) -> None:
    """SIGTERM may be ignored here (SPEC 8): ask, wait a grace period, then SIGKILL the group."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    base = tmp_path_factory.mktemp("console")
    home = base / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT / "dagster.yaml", home / "dagster.yaml")
    data_root = base / "data"
    shutil.copytree(PROJECT / "data" / "sample", data_root / "sample")
    store_url = f"sqlite:///{base / 'control.db'}"
    store = open_store(store_url)
    tokens = {p: access.create_token(store, [p])[1] for p in ("analysts", "finance")}
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAT_DATA_ROOT": str(data_root),
        "DAT_STORE_URL": store_url,
        "DAT_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    log = base / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "dat"), "serve", "--port", str(port)],
            env=env,
            cwd=base,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/login", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"dat serve did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield Console(url, data_root, store_url, tokens, log)
    finally:
        _stop(process)


# Module scope: an open `sync_playwright()` keeps its event loop running on this thread, so a
# later test elsewhere that starts Playwright would fail ("Sync API inside the asyncio loop").
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)  # the machine is shared: 5 s is too short under load

    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install -y chromium"
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # type: ignore[no-untyped-def]
    report = yield
    if report.when == "call":
        item.failed_call = report.failed  # type: ignore[attr-defined]
    return report


@pytest.fixture
def page(browser, console: Console, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A fresh browser context; on failure its screen goes to the screenshots folder and the
    server log's tail to the test output."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    if getattr(request.node, "failed_call", False):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"failed-{request.node.name}.png"), full_page=True)
        print(console.tail())
    context.close()
