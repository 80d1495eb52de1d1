"""A real password: the MariaDB user `dat_cred` (created by `.ci/run services`) authenticates only
with its password. A source holding it encrypted connects and ingests, and afterwards the password
is nowhere: CLI output, logs, the store, the Dagster home, the data root."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from services import MARIADB_CRED_URL
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from dat_pipeline.cli import app
from dat_pipeline.settings import get_settings


@pytest.mark.services
def test_a_mariadb_password_authenticates_after_decryption_and_is_found_nowhere(
    ingest_env: Path,
    mariadb_url: str,
    cli: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    user = make_url(MARIADB_CRED_URL)
    password = str(user.password)
    database = str(make_url(mariadb_url).database)
    engine = create_engine(mariadb_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE orders (id INT, city VARCHAR(20))"))
        connection.execute(text("INSERT INTO orders VALUES (1, 'Zürich'), (2, 'Basel')"))
    engine.dispose()
    server = ["--kind", "mysql", "--host", str(user.host), "--port", str(user.port or 3306),
              "--database", database, "--user", str(user.username), "--table", "orders"]  # fmt: skip
    monkeypatch.setenv("GOOD_PW", password)
    monkeypatch.setenv("BAD_PW", password[::-1])
    outputs: list[str] = []

    def dat(*args: str, code: int = 0) -> str:
        result = cli.invoke(app, list(args))
        outputs.extend([result.stdout, result.stderr, repr(result.exception)])
        assert result.exit_code == code, (args, result.stdout, result.stderr)
        return result.stdout + result.stderr

    dat("sources", "add", "crm", *server, "--password-env", "GOOD_PW", "--project", "crm")
    dat("sources", "add", "wrong", *server, "--password-env", "BAD_PW")
    assert "connected" in dat("sources", "test", "crm")
    assert "authentication failed" in dat("sources", "test", "wrong", code=1)
    synced = json.loads(dat("ingest", "run", "crm", "--json"))
    assert synced["rows_in"] == 2

    assert all(password not in output for output in outputs)
    assert all(password not in record.getMessage() for record in caplog.records)
    store = Path(get_settings().store_url.removeprefix("sqlite:///"))
    written = [store, *Path(get_settings().dagster_home).rglob("*"), *ingest_env.rglob("*")]
    files = [path for path in written if path.is_file()]
    assert store in files and len(files) > 3
    assert [path for path in files if password.encode() in path.read_bytes()] == []
