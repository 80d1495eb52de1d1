"""The control store on PostgreSQL where it matters: migrations from empty and from every earlier
version, the lock sensor following the log while four processes commit, tokens stored hashed."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from dat_pipeline.cli import app
from dat_pipeline.definitions import RESOURCES
from dat_pipeline.defs import dat as dat_defs
from dat_pipeline.settings import get_settings
from dat_pipeline.store import ControlStore, schema

WRITER = Path(__file__).with_name("lock_writer.py")
WRITERS, RUNS_EACH = 4, 40


@pytest.mark.services
@pytest.mark.parametrize("version", range(schema.SCHEMA_VERSION))
def test_postgres_store_migrates_from_each_earlier_version_keeping_its_rows(
    pg_url: str, version: int
):
    engine = sa.create_engine(pg_url)
    with engine.begin() as connection:  # a store left by the release at `version` (0: empty)
        if version:
            schema.meta.create(connection)
            for step in range(1, version + 1):
                schema.MIGRATIONS[step](connection)
            connection.execute(sa.insert(schema.meta).values(key="schema_version", value=version))
            connection.execute(sa.insert(schema.meta).values(key="kept", value="yes"))

    store = ControlStore(pg_url)
    assert store.schema_version() == schema.SCHEMA_VERSION
    tables = set(sa.inspect(engine).get_table_names())
    assert tables == set(schema.metadata.tables)
    for name, table in schema.metadata.tables.items():
        columns = {c["name"] for c in sa.inspect(engine).get_columns(name)}
        assert columns == {c.name for c in table.columns}, name
    with engine.connect() as connection:
        kept = connection.execute(
            sa.select(schema.meta.c.value).where(schema.meta.c.key == "kept")
        ).scalar()
    assert kept == ("yes" if version else None)
    ControlStore(pg_url).dispose()  # opening it again changes nothing
    assert store.schema_version() == schema.SCHEMA_VERSION
    store.dispose()
    engine.dispose()


def evaluate(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"dat": RESOURCES["dat"]}
    )
    return dat_defs.dat_lock_sensor(context)


@pytest.mark.services
def test_lock_sensor_on_postgres_requests_each_lock_once_while_four_writers_commit(
    data_root: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("DAT_STORE_URL", pg_url)
    get_settings.cache_clear()
    ControlStore(pg_url).dispose()  # migrated before the writers race to open it
    start = str(time.time() + 2)
    writers = [
        subprocess.Popen(
            [sys.executable, str(WRITER), pg_url, str(data_root), f"w{n}", str(RUNS_EACH), start],
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(WRITERS)
    ]
    requested: Counter[tuple] = Counter()
    ticks_during_writes = 0
    with dg.instance_for_test() as instance:
        cursor = None
        while True:
            writing = any(w.poll() is None for w in writers)
            result = evaluate(instance, cursor)
            cursor = result.cursor
            for request in result.run_requests:
                requested[(request.partition_key, tuple(request.asset_selection or ()))] += 1
            if result.run_requests and writing:
                ticks_during_writes += 1
            if not writing and not result.run_requests:
                break
    for writer in writers:
        assert writer.wait() == 0, writer.stderr.read() if writer.stderr else ""

    store = ControlStore(pg_url)
    locks = [e for e in store.events_after(0, limit=10_000) if e.kind == "lock"]
    assert len(locks) == WRITERS * RUNS_EACH
    expected = Counter((e.run_id, (dat_defs.stage_key(e.stage),)) for e in locks)
    assert ticks_during_writes > 1, "the sensor never read while the writers committed"
    assert requested == expected  # none skipped, none twice
    store.dispose()


@pytest.mark.services
def test_api_tokens_are_stored_as_salted_hashes_on_postgres(
    data_root: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("DAT_STORE_URL", pg_url)
    get_settings.cache_clear()
    cli = CliRunner()
    tokens = [cli.invoke(app, ["tokens", "create", "--project", "sales"]) for _ in range(2)]
    assert all(t.exit_code == 0 for t in tokens), [t.stderr for t in tokens]
    created = [t.stdout.splitlines()[0].strip().split("_", 2) for t in tokens]
    assert all(prefix == "dat" for prefix, _, _ in created)
    secrets = {token_id: secret for _, token_id, secret in created}

    engine = sa.create_engine(pg_url)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(schema.api_tokens)).mappings().all()
    engine.dispose()
    assert sorted(row["token_id"] for row in rows) == sorted(secrets)
    assert rows[0]["salt"] != rows[1]["salt"]
    for row in rows:
        assert all(secrets[row["token_id"]] not in str(value) for value in row.values())
        assert len(bytes.fromhex(row["hash"])) >= 32 and len(bytes.fromhex(row["salt"])) >= 16
    shown = cli.invoke(app, ["tokens", "list"]).stdout
    assert all(secret not in shown for secret in secrets.values())
