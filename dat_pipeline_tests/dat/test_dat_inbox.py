"""The DAT drop folder (SPEC 5, issue 18): files dropped in inbox/dat/<run or profile>/ start a
run or refresh it, through the real sensor on a real instance; the ingestion inbox ignores them."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from dat_pipeline.dat.profiles import create_profile, parse_profile
from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.defs.dat_inbox import dat_inbox_sensor
from dat_pipeline.defs.resources import DatResource
from dat_pipeline.ingestion.inbox import scan_inbox


def drop(data_root: Path, name: str, *files: str) -> None:
    folder = data_root / "inbox" / "dat" / name
    folder.mkdir(parents=True, exist_ok=True)
    for file in files:
        (folder / file).write_bytes((data_root / "sample" / file).read_bytes())


def ticks(instance: dg.DagsterInstance, cursor: str | None, count: int = 2) -> str | None:
    """`count` sensor evaluations, each with the cursor of the one before."""
    for _ in range(count):
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, resources={"dat": DatResource()}
        )
        cursor = dat_inbox_sensor(context).cursor
    return cursor


def catalog(flow: DatWorkflow, run: str) -> list[str]:
    flow.materialize(run, "discovery")
    return sorted(flow.load_artifact(run, "discovery")["path"])


def test_dropped_files_start_a_named_run_and_more_files_refresh_it(
    flow: DatWorkflow, data_root: Path
):
    drop(data_root, "q-sales", "sales_2024_q1.csv")
    with dg.instance_for_test() as instance:
        cursor = ticks(instance, None, count=1)
        assert flow.store.get_run("q-sales") is None  # one look: the file may still grow
        cursor = ticks(instance, cursor, count=1)
        first = flow.stage_status("q-sales", "discovery")
        assert first.locked and first.config["root"] == "drop/q-sales"
        assert catalog(flow, "q-sales") == ["drop/q-sales/sales_2024_q1.csv"]
        assert not any((data_root / "inbox" / "dat" / "q-sales").iterdir())

        drop(data_root, "q-sales", "sales_2024_q2_semicolon.csv")
        ticks(instance, cursor)
    second = flow.stage_status("q-sales", "discovery")
    assert second.stage_id != first.stage_id  # the new file is a new catalog
    assert catalog(flow, "q-sales") == [
        "drop/q-sales/sales_2024_q1.csv",
        "drop/q-sales/sales_2024_q2_semicolon.csv",
    ]


def test_files_dropped_for_a_profile_start_a_following_run_from_it(
    flow: DatWorkflow, data_root: Path
):
    record = create_profile(
        flow.store,
        parse_profile({"name": "stores", "root": "sample", "include": ["*.tsv"]}),
    )
    drop(data_root, record.profile_id, "stores.tsv", "customers.parquet")
    with dg.instance_for_test() as instance:
        ticks(instance, None)
    [run] = flow.store.list_runs()
    assert run.profile_id == record.profile_id and run.follow
    status = flow.stage_status(run.run_id, "discovery")
    assert status.config["root"] == f"drop/{record.profile_id}"
    assert status.config["include"] == ["*.tsv"]  # the profile's patterns still apply
    assert catalog(flow, run.run_id) == [f"drop/{record.profile_id}/stores.tsv"]


def test_the_ingestion_inbox_leaves_the_dat_drop_folder_alone(flow: DatWorkflow, data_root: Path):
    drop(data_root, "some-run", "stores.tsv")
    (data_root / "inbox" / "dat" / "stray.csv").write_text("a,b\n1,2\n")
    first = scan_inbox(flow.store, data_root, None)
    second = scan_inbox(flow.store, data_root, first.cursor.dump())
    assert first.waiting == second.waiting == [] and second.ready == []
