"""`/docs` and `/redoc` work offline: their pages load Swagger UI and ReDoc from the installed
fastapi-offline package, and both render the API in Debian's chromium with every request to
another host refused."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import uvicorn
from fastapi.testclient import TestClient

from dat_pipeline.api import create_app

CHROMIUM = Path(os.environ.get("DAT_CHROMIUM", "/usr/bin/chromium"))
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_their_assets_from_this_server(data_root: Path, page: str):
    with TestClient(create_app()) as client:
        html = client.get(page).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets and all(a.startswith("/") for a in assets), assets
        assert "://" not in " ".join(re.findall(r"<script[^>]*>", html))
        for asset in assets:
            response = client.get(asset)
            assert response.status_code == 200 and len(response.content) > 1000, asset


@pytest.fixture
def server(data_root: Path) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not served.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    served.should_exit = True
    thread.join(10)


def test_swagger_ui_and_redoc_render_with_no_other_host_reachable(server: str):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install -y chromium"
    refused: list[tuple[str, str]] = []

    def only_this_server(route, request) -> None:  # type: ignore[no-untyped-def]
        if urlparse(request.url).netloc == urlparse(server).netloc:
            route.continue_()
        else:
            refused.append((request.resource_type, request.url))
            route.abort()

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("**/*", only_this_server)
        page.goto(f"{server}/docs")
        page.wait_for_selector(".opblock-summary", timeout=20_000)
        assert page.locator(".opblock-summary").count() > 30
        assert "Create a run" in page.content()
        if os.environ.get("DAT_DOCS_SCREENSHOTS"):
            page.screenshot(path=str(DOCS / "api-docs-offline.png"))
        page.goto(f"{server}/redoc")
        page.wait_for_selector("h2:has-text('Lock a stage')", timeout=20_000)
        if os.environ.get("DAT_DOCS_SCREENSHOTS"):
            page.screenshot(path=str(DOCS / "api-redoc-offline.png"))
        browser.close()
    # ReDoc's footer asks Redocly's host for its logo image; the page needs nothing else.
    assert [url for kind, url in refused if kind != "image"] == []
