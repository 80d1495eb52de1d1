"""The local servers the tests use (README; `.ci/run services` starts them), one home for their
URLs and the check that a test needs one."""

from __future__ import annotations

import os
import socket

import pytest

PG_ADMIN_URL = os.environ.get(
    "DAT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MARIADB_ADMIN_URL = os.environ.get(
    "DAT_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)
# A MariaDB user with a real password, created by `.ci/run services` (same values there).
MARIADB_CRED_URL = os.environ.get(
    "DAT_TEST_MARIADB_CRED_URL", "mysql+pymysql://dat_cred:dat-cred-7Qm2xV9pLk@127.0.0.1:3306"
)
REQUIRE_SERVICES = os.environ.get("DAT_REQUIRE_SERVICES") == "1"
REQUIRE_SERVICES_NOTE = "DAT_REQUIRE_SERVICES=1, where every test must run"


def listening(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def require_service(name: str, port: int) -> None:
    """Skip when a local server is down (the root conftest turns the skip into a failure under
    DAT_REQUIRE_SERVICES=1)."""
    if not listening(port):
        pytest.skip(f"{name} is not reachable on 127.0.0.1:{port}; start it (.ci/run services)")
