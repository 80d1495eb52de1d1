"""Helpers of the console's browser tests: the served console, signing in, screenshots."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("DAT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
# Screenshots of every page; `DAT_CONSOLE_SCREENSHOTS=docs` refreshes the README's pictures.
SCREENSHOTS = Path(os.environ.get("DAT_CONSOLE_SCREENSHOTS", PROJECT / "bench/out/screenshots"))


@dataclass
class Console:
    url: str
    data_root: Path
    store_url: str
    tokens: dict[str, str]  # project -> token
    log: Path

    def tail(self) -> str:
        """The server log without the request lines (what explains a failure)."""
        lines = self.log.read_text(errors="replace").splitlines()
        noise = ("GET /", "POST /", "WebSocket /", "connection open", "connection closed")
        return "\n".join(line for line in lines if not any(n in line for n in noise))[-6000:]


def sign_in(page, console: Console, project: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{console.url}/login")
    page.get_by_label("Project token").fill(console.tokens[project])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{console.url}/")


def screenshot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"console-{name}.png"), full_page=True)


def api(page, console: Console, method: str, path: str, body: object = None) -> dict:  # type: ignore[no-untyped-def]
    """A call of the served API with the analysts' token (tests prepare runs with it: clicking
    every stage is what the workflow test does once)."""
    headers = {"Authorization": f"Bearer {console.tokens['analysts']}"}
    response = page.request.fetch(f"{console.url}{path}", method=method, headers=headers, data=body)
    assert response.ok, response.text()
    return response.json()


def run_up_to_parse(page, console: Console, root: str, files: list[str]) -> str:  # type: ignore[no-untyped-def]
    """A run with every stage before parse materialized (one job) over every table of `files`."""
    run_id = api(page, console, "POST", "/api/dat/runs", {"name": root})["run_id"]
    runs = f"/api/dat/runs/{run_id}"
    configs = {
        "discovery": {"root": root},
        "selection": {"files": files},
        "table_availability": {},
        "table_selection": {"tables": {path: ["*"] for path in files}},
    }
    for stage, config in configs.items():
        api(page, console, "POST", f"{runs}/stages/{stage}/lock", {"config": config})
        if stage == "selection":
            api(page, console, "POST", f"{runs}/stages/context/skip")
    done = api(page, console, "POST", f"{runs}/materialize?wait=true")
    assert done["job"]["status"] == "SUCCESS", done
    return run_id
