"""The SQLite reader of the read commands reads what the full store reads, and falls back to it
where it cannot (not SQLite, no file yet, an old schema)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.store import ControlStore, SqliteReader, open_reader
from dat_pipeline.store.reads import READABLE_FROM_VERSION


def test_the_reader_reads_runs_statuses_and_events_as_the_store_does(
    tmp_path: Path, data_root: Path
):
    url = f"sqlite:///{tmp_path / 'reads.db'}"
    store = ControlStore(url)
    flow = DatWorkflow(store, data_root)
    run = flow.create_run(name="read me", follow=True).run_id
    flow.create_run(name="other")
    flow.lock(run, "discovery", {"root": "sample"})
    flow.materialize(run, "discovery")
    flow.lock(run, "selection", {"files": ["sample/stores.tsv"]})

    reader = SqliteReader.open(url)
    assert reader is not None
    assert reader.list_runs() == store.list_runs()
    assert reader.get_run(run) == store.get_run(run) and reader.get_run(run).follow is True
    assert reader.get_run("nope") is None
    assert reader.statuses(run) == store.statuses(run)
    assert reader.statuses(run)["discovery"].config["root"] == "sample"
    assert reader.statuses(run)["discovery"].completed is True
    assert reader.run_events(run) == store.run_events(run)
    assert [s.state for s in DatWorkflow(reader, data_root).status(run)] == [  # type: ignore[arg-type]
        s.state for s in flow.status(run)
    ]
    assert not hasattr(reader, "write")
    reader.dispose()
    store.dispose()


def test_the_full_store_opens_where_the_reader_cannot(tmp_path: Path):
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    assert SqliteReader.open(missing) is None
    assert not (tmp_path / "none.db").exists()  # reading never creates the store
    assert SqliteReader.open("postgresql://localhost/test") is None
    assert SqliteReader.open("sqlite://") is None

    old = tmp_path / "old.db"
    with sqlite3.connect(old) as connection:
        connection.execute("CREATE TABLE dat_meta (key TEXT PRIMARY KEY, value TEXT)")
        connection.execute(
            "INSERT INTO dat_meta VALUES ('schema_version', ?)", (READABLE_FROM_VERSION - 1,)
        )
    connection.close()
    assert SqliteReader.open(f"sqlite:///{old}") is None
    assert isinstance(open_reader(missing), ControlStore)  # created, migrated: then readable
    assert isinstance(SqliteReader.open(missing), SqliteReader)
