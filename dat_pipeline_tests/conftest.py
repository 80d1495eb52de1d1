"""Shared fixtures: a temp data root with the sample files, real stores, a real Dagster home."""

from __future__ import annotations

import multiprocessing.forkserver
import os
import shutil
import signal
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.settings import get_settings
from dat_pipeline.store import ControlStore

PROJECT = Path(__file__).resolve().parent.parent
SAMPLE = PROJECT / "data" / "sample"
PG_ADMIN_URL = os.environ.get(
    "DAT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MARIADB_ADMIN_URL = os.environ.get(
    "DAT_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)


def service_reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a local server is down, unless DAT_REQUIRE_SERVICES=1 (CI), where it fails."""
    if service_reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("DAT_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} and DAT_REQUIRE_SERVICES=1")
    pytest.skip(f"{message}; start it to run this test")


@pytest.fixture(autouse=True)
def clean_process_state() -> Iterator[None]:
    """Each test starts with the default SIGTERM (Dagster stops its log-tail children with it; see
    dat_pipeline/__init__.py) and gets its own forkserver: analysis steps fork from it, and it
    keeps the environment (data root, store, Dagster home) of when it started."""
    if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    multiprocessing.forkserver._forkserver._stop()


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A data root holding a copy of data/sample, with the store and Dagster home beside it."""
    root = tmp_path / "data"
    shutil.copytree(SAMPLE, root / "sample")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAT_DATA_ROOT", str(root))
    monkeypatch.setenv("DAT_STORE_URL", f"sqlite:///{tmp_path / 'control.db'}")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    get_settings.cache_clear()
    yield root
    get_settings.cache_clear()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    schema = f"dat_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """A MariaDB URL of a fresh database, dropped afterwards."""
    require_service("MariaDB", "127.0.0.1", 3306)
    database = f"dat_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(MARIADB_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4"))
    try:
        yield MARIADB_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}?charset=utf8mb4"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS `{database}`"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(store_url: str) -> Iterator[ControlStore]:
    control = ControlStore(store_url)
    yield control
    control.dispose()


@pytest.fixture
def workflow(data_root: Path, store: ControlStore) -> DatWorkflow:
    return DatWorkflow(store, data_root)


@pytest.fixture(params=["sqlite", "duckdb", "postgresql", "mariadb"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A real database of each kind (PostgreSQL and MariaDB get a fresh schema/database)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'source.sqlite'}"
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'source.duckdb'}"
    return request.getfixturevalue("pg_url" if request.param == "postgresql" else "mariadb_url")
