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
