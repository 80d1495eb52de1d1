"""Security: servers bind to loopback by default; a database password never reaches a log,
metadata, error or compute log; path traversal and SQL identifier injection through every CLI
entry that takes a path or a name end in one clear line and exit code 1."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest
from cryptography.fernet import Fernet
from helpers import execute
from ops_support import BIN, PROJECT, free_port, stop_group, wait_for_http
from services import require_service
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from dat_pipeline.cli import app
from dat_pipeline.definitions import RESOURCES
from dat_pipeline.defs.ingestion import ASSET_NAME, ingested_table
from dat_pipeline.settings import get_settings

cli = CliRunner()


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the listening TCP sockets on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if int(hex_port, 16) == port and state == "0A":  # LISTEN
                found.add(address)
    return found


def test_make_ui_binds_the_webserver_to_loopback():
    makefile = (PROJECT / "Makefile").read_text()
    recipe = makefile.split("\nui:", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"dagster dev .*-h 127\.0\.0\.1", recipe), recipe


def test_dat_serve_listens_on_loopback_only_by_default(data_root: Path):
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "dat"), "serve", "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/health"
        errors = process.stderr
        assert errors is not None
        wait_for_http(url, process, 60, "dat serve", lambda: errors.read().decode()[-2000:])
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and nothing else
    finally:
        stop_group(process)


# -- secrets ------------------------------------------------------------------------------
def _server(url: str) -> list[str]:
    parsed = make_url(url)
    return ["--host", str(parsed.host), "--port", str(parsed.port), "--user", str(parsed.username)]


def scan(folder: Path, secret: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.mark.services
def test_no_password_in_logs_metadata_errors_or_compute_logs_after_database_runs(
    data_root: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    require_service("MariaDB", 3306)
    password = f"S3cret-{time.time_ns()}"
    monkeypatch.setenv("DAT_ENCRYPTION_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("SOURCE_PW", password)
    get_settings.cache_clear()
    schema = pg_url.split("%3D")[-1]
    execute(
        pg_url,
        "CREATE TABLE orders (id INT, city TEXT)",
        "INSERT INTO orders SELECT n, 'Lyon' FROM generate_series(1, 40) n",
    )
    outputs = []
    for name, kind, server in (
        ("pg_orders", "postgresql", _server(pg_url)),  # trusts local users: the password is unused
        ("maria_bad", "mysql", ["--host", "127.0.0.1", "--port", "3306", "--user", "nobody_dat"]),
    ):
        added = cli.invoke(
            app,
            [
                *("sources", "add", name, "--kind", kind, *server, "--database", "test"),
                *("--password-env", "SOURCE_PW", "--project", "sec"),
            ],
        )
        outputs += [added.output, added.stderr]
        assert added.exit_code == 0, added.output + added.stderr

    instance = dg.DagsterInstance.get()
    results = {}
    for source, table in (("pg_orders", f"{schema}.orders"), ("maria_bad", "orders")):
        config = {"project": "sec", "kind": "database", "source": source, "table": table}
        results[source] = dg.materialize(
            [ingested_table],
            instance=instance,
            resources=RESOURCES,
            run_config={"ops": {ASSET_NAME: {"config": config}}},
            raise_on_error=False,
        )
    assert results["pg_orders"].success and not results["maria_bad"].success
    for source in ("maria_bad", "pg_orders"):  # errors and logs through the CLI too
        shown = cli.invoke(app, ["sources", "test", source])
        outputs += [shown.output, shown.stderr]
    failure = results["maria_bad"].get_step_failure_events()[0]
    error_text = str(failure.event_specific_data.error.to_string())
    assert "nobody_dat" in error_text or "Access denied" in error_text  # a real, clear error

    for result in results.values():
        for event in instance.all_logs(result.run_id):
            assert password not in str(event)
    assert not any(password in text_ for text_ in [*outputs, error_text])
    home = Path(get_settings().dagster_home)
    assert list(home.rglob("*")), "the Dagster home holds the runs' storage"
    assert scan(home, password) == []  # run/event storage, compute logs
    assert scan(data_root.parent, password) == []  # the store, uploads, outputs, everything


# -- bad paths and names through the CLI --------------------------------------------------
@pytest.fixture
def prepared(data_root: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A run with discovery materialized, a stored PostgreSQL source with one table."""
    monkeypatch.setenv("DAT_ENCRYPTION_KEY", Fernet.generate_key().decode())
    get_settings.cache_clear()
    schema = pg_url.split("%3D")[-1]
    engine = create_engine(pg_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE orders (id INT PRIMARY KEY)"))
    engine.dispose()
    parsed = make_url(pg_url)
    added = cli.invoke(
        app,
        [
            *("sources", "add", "shop", "--kind", "postgresql", *_server(pg_url)),
            *("--database", str(parsed.database), "--table", f"{schema}.orders"),
        ],
    )
    assert added.exit_code == 0, added.output + added.stderr
    created = cli.invoke(app, ["runs", "create", "--name", "sec", "--json"])
    run_id = json.loads(created.stdout)["run_id"]
    locked = cli.invoke(app, ["lock", run_id, "discovery", "--set", "root=sample", "--materialize"])
    assert locked.exit_code == 0, locked.output + locked.stderr
    return run_id


BAD_INPUTS = {
    "lock root ..": (["lock", "{run}", "discovery", "--set", "root=../.."], "leaves the data root"),
    "lock root absolute": (["lock", "{run}", "discovery", "--set", "root=/etc"], "absolute"),
    "lock root backslash": (["lock", "{run}", "discovery", "--set", r"root=..\..\etc"], "leaves"),
    "lock selection file": (
        ["lock", "{run}", "selection", "--set", "files=[../../etc/passwd]"],
        "",
    ),
    "lock config file": (["lock", "{run}", "discovery", "--config", "/nonexistent/x.yaml"], ""),
    "status run id": (["status", "../../etc"], "unknown run"),
    "show run id": (["show", "x;drop table runs", "discovery"], "unknown run"),
    "upload project ..": (["ingest", "upload", "{sample}", "--project", "../../tmp"], "project"),
    "preview table": (["ingest", "preview", "shop", "--table", "orders; DROP TABLE orders"], ""),
    "db analyze table": (["db", "analyze", "shop", "orders; DROP TABLE orders"], ""),
    "db analyze quote": (["db", "analyze", "shop", 'orders" ; DROP TABLE orders; --'], ""),
    "db analyze schema": (["db", "analyze", "shop", "orders", "--schema", "x; DROP"], ""),
    "db analyze source": (["db", "analyze", "../shop", "orders"], ""),
    "analysis from ..": (["analysis", "add-source", "up", "--from", "../.."], "leaves"),
    "analysis from abs": (["analysis", "add-source", "up", "--from", "/etc"], "absolute"),
    "analysis name": (["analysis", "add-source", "x; drop", "--from", "sample"], "not valid"),
    "analysis run name": (["analysis", "run", "../../x"], ""),
    "sources add name": (
        ["sources", "add", "x;drop", "--kind", "sqlite", "--database", "a.db"],
        "",
    ),
    "sources add sqlite ..": (
        ["sources", "add", "esc", "--kind", "sqlite", "--database", "../../etc/x.db"],
        "",
    ),
    "backfill table": (
        ["backfill", "plan", "x;drop", "--start", "2024-01-01", "--end", "2024-01-02"],
        "",
    ),
    "profiles root": (["profiles", "create", "--name", "p", "--root", "../.."], "leaves"),
}


@pytest.mark.services
def test_bad_paths_and_names_are_refused_with_one_line(prepared: str, data_root: Path, pg_url: str):
    """Every case in BAD_INPUTS on one prepared data root and store (one setup, not 21)."""
    sample = str(data_root / "sample" / "stores.tsv")
    outside = data_root.parent.parent
    before = set(outside.iterdir())
    problems, refusals = [], []
    for case, (args, expected) in BAD_INPUTS.items():
        argv = [a.replace("{run}", prepared).replace("{sample}", sample) for a in args]
        result = cli.invoke(app, argv)
        lines = result.stderr.strip().splitlines()
        if result.exit_code != 1:
            problems.append(f"{case}: exit {result.exit_code}: {result.output[-300:]}")
        elif len(lines) != 1 or not lines[0].startswith("error: "):
            problems.append(f"{case}: not one error line: {result.stderr[-300:]}")
        elif "Traceback" in result.output + result.stderr:
            problems.append(f"{case}: traceback")
        elif expected.lower() not in lines[0].lower():
            problems.append(f"{case}: {lines[0]!r} does not say {expected!r}")
        else:
            refusals.append(f"{case}: {lines[0]}")
    assert not problems, "\n".join(problems)
    assert set(outside.iterdir()) == before  # nothing written outside the test's folder
    engine = create_engine(pg_url)
    with engine.connect() as connection:  # the injection attempts dropped nothing
        assert connection.execute(text("SELECT count(*) FROM orders")).scalar_one() == 0
    engine.dispose()
    print("\n" + "\n".join(refusals))
