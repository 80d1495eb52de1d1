"""Fixtures of the operations tests: a fresh PostgreSQL database holding the production Dagster
instance (deploy/dagster.postgres.yaml), the `e2e` marker."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import scratch
from ops_support import DEPLOY_INSTANCE, SAMPLE, ProductionHome
from services import PG_ADMIN_URL
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from dat_pipeline.settings import get_settings


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: drives the real webserver and daemon in a browser (Debian chromium)"
    )


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database (its name), dropped afterwards with whatever still uses it."""
    name = f"dat_ops_{uuid.uuid4().hex[:10]}"
    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    with scratch(PG_ADMIN_URL, "PostgreSQL", 5432, f'CREATE DATABASE "{name}"', drop):
        yield name


@pytest.fixture
def production_home(
    tmp_path: Path, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ProductionHome]:
    """DAGSTER_HOME = the deploy instance on `pg_database`; the DAT store is schema `dat_control`
    of the same database; data root with the sample files. Set in this process and returned as
    an environment for subprocesses."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(DEPLOY_INSTANCE, home / "dagster.yaml")
    data_root = tmp_path / "data"
    shutil.copytree(SAMPLE, data_root / "sample")
    admin = make_url(PG_ADMIN_URL)
    engine = create_engine(admin.set(database=pg_database), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text('CREATE SCHEMA "dat_control"'))
    engine.dispose()
    store_url = (
        admin.set(database=pg_database).render_as_string(hide_password=False)
        + "?options=-csearch_path%3Ddat_control"
    )
    env = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": str(admin.host or "127.0.0.1"),
        "DAGSTER_PG_PORT": str(admin.port or 5432),
        "DAGSTER_PG_DB": pg_database,
        "DAGSTER_PG_USER": str(admin.username or "postgres"),
        "DAGSTER_PG_PASSWORD": str(admin.password or ""),
        "DAT_DATA_ROOT": str(data_root),
        "DAT_STORE_URL": store_url,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield ProductionHome(home, data_root, pg_database, {**os.environ, **env}, store_url)
    get_settings.cache_clear()
