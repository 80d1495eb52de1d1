"""Shared fixtures: a temp data root with the sample files, real stores, a real Dagster home."""

from __future__ import annotations

import multiprocessing.forkserver
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import scratch
from services import MARIADB_ADMIN_URL, PG_ADMIN_URL, REQUIRE_SERVICES, REQUIRE_SERVICES_NOTE

from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.orchestration import record
from dat_pipeline.settings import get_settings
from dat_pipeline.store import ControlStore

PROJECT = Path(__file__).resolve().parent.parent
SAMPLE = PROJECT / "data" / "sample"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Under DAT_REQUIRE_SERVICES=1 (CI) a skipped test is a failed one: nothing skips silently."""
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_SERVICES and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under {REQUIRE_SERVICES_NOTE}: {skip_reason(report)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    """The same for a module that skips itself while it is collected."""
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_SERVICES and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped under {REQUIRE_SERVICES_NOTE}: {skip_reason(report)}"


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    return str(longrepr[2] if isinstance(longrepr, tuple) else longrepr)


@pytest.fixture(autouse=True)
def fresh_forkserver() -> Iterator[None]:
    """Each test gets its own forkserver: analysis steps fork from it, and it keeps the
    environment (data root, store, Dagster home) of when it started."""
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
    record.settle()  # the Dagster runs handed to detached processes, before the root goes away
    get_settings.cache_clear()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    schema = f"dat_test_{uuid.uuid4().hex[:10]}"
    create, drop = f'CREATE SCHEMA "{schema}"', f'DROP SCHEMA "{schema}" CASCADE'
    with scratch(PG_ADMIN_URL, "PostgreSQL", 5432, create, drop):
        yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """A MariaDB URL of a fresh database, dropped afterwards."""
    database = f"dat_test_{uuid.uuid4().hex[:10]}"
    create = f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4"
    with scratch(
        MARIADB_ADMIN_URL, "MariaDB", 3306, create, f"DROP DATABASE IF EXISTS `{database}`"
    ):
        yield MARIADB_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}?charset=utf8mb4"


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
