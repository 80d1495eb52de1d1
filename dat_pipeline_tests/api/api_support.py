"""Helpers of the API tests: the app called with a token per project."""

from __future__ import annotations

from fastapi.testclient import TestClient

from dat_pipeline.services.access import create_token
from dat_pipeline.store import open_store


class Api:
    """A TestClient and one token per project (or per comma-separated set of projects)."""

    def __init__(self, client: TestClient):
        self.client = client
        self.tokens: dict[str, str] = {}

    def token(self, *projects: str) -> str:
        key = ",".join(projects)
        if key not in self.tokens:
            _record, self.tokens[key] = create_token(open_store(), list(projects))
        return self.tokens[key]

    def call(self, method: str, url: str, project: str = "alpha", **kwargs):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {self.token(*project.split(','))}"}
        return self.client.request(method, url, headers=headers, **kwargs)

    def ok(self, method: str, url: str, expect: int = 200, **kwargs) -> dict:  # type: ignore[no-untyped-def]
        response = self.call(method, url, **kwargs)
        assert response.status_code == expect, response.text
        return response.json()

    def error(self, method: str, url: str, expect: int, **kwargs) -> dict:  # type: ignore[no-untyped-def]
        return self.ok(method, url, expect, **kwargs)["error"]
