"""A real database of each kind this folder's tests run against (PostgreSQL and MariaDB get a
fresh schema/database from the shared fixtures)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "duckdb", "postgresql", "mariadb"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'source.sqlite'}"
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'source.duckdb'}"
    return request.getfixturevalue("pg_url" if request.param == "postgresql" else "mariadb_url")
