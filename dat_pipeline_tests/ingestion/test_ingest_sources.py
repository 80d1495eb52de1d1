"""Database sources: encrypted passwords that never show, clear key errors, `dat sources test`."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import dagster as dg
import pytest
from cryptography.fernet import Fernet
from helpers import execute
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from dat_pipeline.cli import app
from dat_pipeline.settings import get_settings
from dat_pipeline.sources import MASK, engine_for, redact
from dat_pipeline.store import ControlStore


def _run(cli: CliRunner, outputs: list[str], *args: str, code: int = 0) -> str:
    result = cli.invoke(app, list(args))
    outputs += [result.stdout, result.stderr, repr(result.exception)]
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result.stdout


def _server_args(url: str) -> list[str]:
    parsed = make_url(url)
    return [
        "--host", str(parsed.host), "--port", str(parsed.port),
        "--database", str(parsed.database), "--user", str(parsed.username),
    ]  # fmt: skip


@pytest.mark.services
def test_password_never_appears_in_outputs_logs_store_or_dagster(
    control: ControlStore,
    ingest_env: Path,
    pg_url: str,
    cli: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    password = f"Pw-{uuid.uuid4().hex}"  # PostgreSQL here trusts local users: any password works
    monkeypatch.setenv("SECRET_PW", password)
    schema = pg_url.split("%3D")[-1]
    execute(
        pg_url,
        "CREATE TABLE orders (id INT, city TEXT, units INT)",
        "INSERT INTO orders SELECT n, 'Zürich', n % 50 FROM generate_series(1, 300) n",
    )
    out: list[str] = []
    add = ["sources", "add", "crm", "--kind", "postgresql", *_server_args(pg_url)]
    _run(cli, out, *add, "--password-env", "SECRET_PW", "--table", f"{schema}.orders",
         "--project", "crm")  # fmt: skip
    _run(cli, out, *add, "--password-env", "SECRET_PW", code=1)  # exists already
    _run(cli, out, "sources", "add", "down", "--kind", "mysql", "--host", "127.0.0.1",
         "--port", "1", "--database", "x", "--user", "root", "--password-env", "SECRET_PW")  # fmt: skip
    shown = json.loads(_run(cli, out, "sources", "show", "crm", "--json", "--tables"))
    assert shown["password"] == MASK and isinstance(shown["tables"], list)
    assert json.loads(_run(cli, out, "sources", "list", "--json"))[0]["password"] == MASK
    _run(cli, out, "sources", "list")
    _run(cli, out, "sources", "show", "crm")
    assert "connected" in _run(cli, out, "sources", "test", "crm")
    _run(cli, out, "sources", "test", "down", code=1)
    _run(cli, out, "ingest", "preview", "crm", "--json")
    synced = json.loads(_run(cli, out, "ingest", "run", "crm", "--json"))
    assert synced["mode"] == "sync" and synced["rows_in"] == 300
    monkeypatch.setenv("DAT_SYNC_MAX_ROWS", "100")
    get_settings.cache_clear()
    queued = json.loads(_run(cli, out, "ingest", "run", "crm", "--json"))
    instance = dg.DagsterInstance.get()
    instance.launch_run(queued["job_id"], workspace=None)
    shown_job = json.loads(_run(cli, out, "jobs", "show", queued["job_id"], "--json"))
    assert shown_job["status"] == "COMPLETED" and shown_job["rows_processed"] == 300
    _run(cli, out, "jobs", "logs", queued["job_id"])
    _run(cli, out, "jobs", "list")

    with engine_for(control, "crm").connect() as connection:  # it really is stored, encrypted
        assert connection.engine.url.password == password
    assert password not in repr(engine_for(control, "crm"))
    assert redact(f"postgresql://u:{password}@h/db", []) == f"postgresql://u:{MASK}@h/db"

    assert all(password not in text_ for text_ in out)
    assert all(password not in record.getMessage() for record in caplog.records)
    store_files = [p for p in Path(ingest_env.parent).glob("control.db*") if p.is_file()]
    assert store_files and all(password.encode() not in p.read_bytes() for p in store_files)
    events = [str(record) for record in instance.all_logs(queued["job_id"])]
    assert events and all(password not in event for event in events)
    home = Path(get_settings().dagster_home)
    assert all(password.encode() not in p.read_bytes() for p in home.rglob("*") if p.is_file())


def test_missing_wrong_or_invalid_key_is_a_clear_error(
    control: ControlStore, ingest_env: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_PW", "hunter2-not-shown")
    args = ["sources", "add", "crm", "--kind", "mysql", "--host", "127.0.0.1", "--database",
            "test", "--user", "root", "--password-env", "SECRET_PW"]  # fmt: skip
    monkeypatch.delenv("DAT_ENCRYPTION_KEY")
    get_settings.cache_clear()
    missing = cli.invoke(app, args)
    assert missing.exit_code == 1
    assert "DAT_ENCRYPTION_KEY is not set" in missing.stderr
    assert "Fernet.generate_key()" in missing.stderr

    monkeypatch.setenv("DAT_ENCRYPTION_KEY", "not-a-key")
    get_settings.cache_clear()
    invalid = cli.invoke(app, args)
    assert invalid.exit_code == 1 and "not a valid Fernet key" in invalid.stderr

    monkeypatch.setenv("DAT_ENCRYPTION_KEY", Fernet.generate_key().decode())
    get_settings.cache_clear()
    assert cli.invoke(app, args).exit_code == 0
    monkeypatch.setenv("DAT_ENCRYPTION_KEY", Fernet.generate_key().decode())
    get_settings.cache_clear()
    wrong = cli.invoke(app, ["sources", "test", "crm"])
    assert wrong.exit_code == 1
    assert "not the key it was encrypted with" in wrong.stderr
    assert "hunter2" not in wrong.stdout + wrong.stderr


@pytest.mark.services
def test_sources_test_names_the_reason(
    control: ControlStore, ingest_env: Path, mariadb_url: str, pg_url: str, cli: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("WRONG_PW", "definitely-wrong")
    maria = _server_args(mariadb_url)
    execute(mariadb_url, "CREATE TABLE present (id INT)")
    cases = {
        "unreachable": (["--kind", "mysql", "--host", "127.0.0.1", "--port", "1", "--database",
                         "x", "--user", "root"], "cannot reach 127.0.0.1:1"),
        "badpassword": (["--kind", "mysql", *maria, "--password-env", "WRONG_PW"],
                        "authentication failed for user 'root'"),
        "nodatabase": (["--kind", "postgresql", "--host", "127.0.0.1", "--database",
                        f"missing_{uuid.uuid4().hex[:6]}", "--user", "postgres"],
                       "does not exist on 127.0.0.1:5432"),
        "notable": (["--kind", "mysql", *maria, "--table", "absent"],
                    "table 'absent' does not exist"),
        "badquery": (["--kind", "mysql", *maria, "--query", "SELEC 1"], "the query fails"),
        "good": (["--kind", "mysql", *maria, "--table", "present"], "connected"),
    }  # fmt: skip
    for name, (options, reason) in cases.items():
        assert cli.invoke(app, ["sources", "add", name, *options]).exit_code == 0
        result = cli.invoke(app, ["sources", "test", name, "--json"])
        report = json.loads(result.stdout)
        assert "definitely-wrong" not in result.stdout + result.stderr
        assert reason in report["message"], (name, report)
        assert report["ok"] is (name == "good") and result.exit_code == (0 if name == "good" else 1)
