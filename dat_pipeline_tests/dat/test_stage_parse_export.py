"""parse and export on real files: per-table Parquet, checkpoints that survive a kill, the DataSet,
its manifest and lineage, and the DuckDB view."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import openpyxl
import polars as pl
import pytest
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.test_utils import create_run_for_test
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from helpers import lock_through_table_selection
from polars.testing import assert_frame_equal
from typer import Typer
from typer.testing import CliRunner

from dat_pipeline.cli.cancel_command import cancel
from dat_pipeline.dat.stages import parse as parse_module
from dat_pipeline.dat.stages.base import StageCancelledError
from dat_pipeline.dat.stages.parse import (
    DATASET_TABLE,
    SOURCE_FILE,
    SOURCE_TABLE,
    failed_tables,
    write_dataset,
)
from dat_pipeline.dat.warehouse import view_name
from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.errors import DatError, StageConfigError
from dat_pipeline.orchestration.launch import cancel_dagster_runs
from dat_pipeline.settings import get_settings

HERE = Path(__file__).resolve().parent
Q2 = "sample/sales_2024_q2_semicolon.csv"
PRODUCTS = "sample/products.xlsx"
CUSTOMERS = "sample/customers.parquet"
EVENTS = "sample/web_events.ndjson"
FOUR_TABLES = {
    Q2: ["sales_2024_q2_semicolon"],
    PRODUCTS: ["products"],
    CUSTOMERS: ["customers"],
    EVENTS: ["web_events"],
}
# Rejects 5 Q2 orders of one item and the 8 web events without a value.
RULES = [
    {"type": "RANGE", "column": "quantity", "min": 2},
    {"type": "NOT_NULL", "column": "value"},
]
EXPECTED_ROWS = {Q2: 123 - 5, PRODUCTS: 6, CUSTOMERS: 40, EVENTS: 50 - 8}
EXPECTED_REJECTS = {Q2: 5, PRODUCTS: 0, CUSTOMERS: 0, EVENTS: 8}


def parse_rows(flow: DatWorkflow, run: str) -> dict[str, dict]:
    artifact = flow.load_artifact(run, "parse")
    return {row["path"] or row["table"]: row for row in artifact.iter_rows(named=True)}


def parsed(flow: DatWorkflow, run: str, config: dict | None = None) -> dict[str, dict]:
    flow.lock(run, "parse", config or {})
    flow.materialize(run, "parse")
    return parse_rows(flow, run)


def visible_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def test_parse_writes_one_parquet_per_table_and_a_combined_dataset(flow: DatWorkflow):
    run = lock_through_table_selection(
        flow, FOUR_TABLES, rules=RULES, column_mappings={"ts": "event_time"}
    )
    rows = parsed(flow, run)

    root = flow.data_root
    for path, expected in EXPECTED_ROWS.items():
        row = rows[path]
        assert row["status"] == "done" and row["error"] is None
        table = pl.read_parquet(root / row["output"])
        assert table.height == row["rows"] == expected, path
        assert table.columns[:2] == [SOURCE_FILE, SOURCE_TABLE]
        assert table[SOURCE_FILE].unique().to_list() == [path]
        assert row["rows_rejected"] == EXPECTED_REJECTS[path]
        assert row["source_sha256"] == hashlib.sha256((root / path).read_bytes()).hexdigest()
        if EXPECTED_REJECTS[path]:
            assert pl.read_parquet(root / row["rejects"]).height == EXPECTED_REJECTS[path]
        else:
            assert row["rejects"] is None
    q2 = pl.read_parquet(root / rows[Q2]["output"])
    assert q2["quantity"].min() == 2 and "Île-de-France" in q2["region"].to_list()
    events = pl.read_parquet(root / rows[EVENTS]["output"])
    assert "event_time" in events.columns and "ts" not in events.columns
    rejects = pl.read_parquet(root / rows[EVENTS]["rejects"])
    assert rejects["_reject_rules"].to_list()[0] == ["1:NOT_NULL(value)"]

    dataset = pl.read_parquet(root / rows[DATASET_TABLE]["output"])
    assert dataset.columns[:2] == [SOURCE_FILE, SOURCE_TABLE]
    assert dataset.height == rows[DATASET_TABLE]["rows"] == sum(EXPECTED_ROWS.values())
    per_file = dict(dataset.group_by(SOURCE_FILE).len().iter_rows())
    assert per_file == EXPECTED_ROWS
    assert set(dataset.filter(pl.col(SOURCE_FILE) == PRODUCTS)[SOURCE_TABLE]) == {"products"}
    assert flow.stage_status(run, "parse").completed


def test_one_table_dataset_is_the_table_file_not_a_second_copy(
    flow: DatWorkflow, monkeypatch: pytest.MonkeyPatch
):
    run = lock_through_table_selection(flow, {Q2: ["sales_2024_q2_semicolon"]})
    rows = parsed(flow, run)
    root = flow.data_root
    table, dataset = root / rows[Q2]["output"], root / rows[DATASET_TABLE]["output"]
    assert os.path.samefile(table, dataset)  # a hard link: the rows are written once
    frame = pl.read_parquet(dataset)
    assert frame.columns[:2] == [SOURCE_FILE, SOURCE_TABLE]
    assert frame.height == rows[DATASET_TABLE]["rows"] == rows[Q2]["rows"] == 123
    assert set(frame[SOURCE_FILE]) == {Q2}
    assert set(frame[SOURCE_TABLE]) == {"sales_2024_q2_semicolon"}

    def cross_device(*_: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    copied = parsed(flow, run, {"chunk_rows": 50})  # another stage id: extracted again
    table, dataset = root / copied[Q2]["output"], root / copied[DATASET_TABLE]["output"]
    assert not os.path.samefile(table, dataset)
    assert pl.read_parquet(dataset).equals(pl.read_parquet(table))
    assert pl.read_parquet(dataset).equals(frame)


def test_dataset_adds_the_source_columns_to_table_files_without_them(tmp_path: Path):
    old = tmp_path / "old.parquet"  # a table file written before tables carried the columns
    pl.DataFrame({"id": [1, 2]}).write_parquet(old)
    rows = write_dataset(tmp_path / "dataset.parquet", [("a.csv", "a", old)])
    dataset = pl.read_parquet(tmp_path / "dataset.parquet")
    assert rows == 2 and dataset.columns == [SOURCE_FILE, SOURCE_TABLE, "id"]
    assert dataset[SOURCE_FILE].to_list() == ["a.csv", "a.csv"]
    assert pl.read_parquet(old).columns == ["id"]


def test_streamed_parse_equals_the_whole_read(flow: DatWorkflow, monkeypatch: pytest.MonkeyPatch):
    tables = {Q2: ["sales_2024_q2_semicolon"], EVENTS: ["web_events"], CUSTOMERS: ["customers"]}
    # DEDUPE must remember keys across chunk boundaries for the results to agree.
    rules = [*RULES, {"type": "DEDUPE", "keys": ["store_id", "product_id"]}]
    run = lock_through_table_selection(flow, tables, rules=rules)
    whole = parsed(flow, run, {"chunk_rows": 100_000})

    monkeypatch.setenv("DAT_STREAM_THRESHOLD_BYTES", "1")
    monkeypatch.setattr(parse_module, "PROGRESS_INTERVAL_S", 0.0)  # report every chunk
    get_settings.cache_clear()
    messages: list[str] = []
    flow.lock(run, "parse", {"chunk_rows": 7})
    flow.materialize(run, "parse", log=messages.append)
    streamed = parse_rows(flow, run)

    root = flow.data_root
    assert sum("rows of ~123" in m for m in messages) == -(-123 // 7)  # one log per chunk
    assert any("%" in m and "tables 1/3 done" in m for m in messages)
    for path in tables:
        assert streamed[path]["rows"] == whole[path]["rows"]
        assert streamed[path]["rows_rejected"] == whole[path]["rows_rejected"]
        assert pl.read_parquet(root / streamed[path]["output"]).equals(
            pl.read_parquet(root / whole[path]["output"])
        ), path
    assert whole[Q2]["rows_rejected"] > 5  # the dedupe rejected rows too
    assert pl.read_parquet(root / streamed[DATASET_TABLE]["output"]).equals(
        pl.read_parquet(root / whole[DATASET_TABLE]["output"])
    )


def test_parse_progress_is_throttled_and_each_finished_table_reports(
    flow: DatWorkflow, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("DAT_STREAM_THRESHOLD_BYTES", "1")
    monkeypatch.setattr(parse_module, "PROGRESS_INTERVAL_S", 3600.0)  # nothing is ever due
    get_settings.cache_clear()
    run = lock_through_table_selection(
        flow, {Q2: ["sales_2024_q2_semicolon"], EVENTS: ["web_events"]}
    )
    messages: list[str] = []
    cancel_checks: list[str] = []
    has_event_after = flow.store.has_event_after

    def counted(run_id: str, kind: str, *args: object) -> bool:
        cancel_checks.append(kind)
        return has_event_after(run_id, kind, *args)

    monkeypatch.setattr(flow.store, "has_event_after", counted)
    flow.lock(run, "parse", {"chunk_rows": 7})
    flow.materialize(run, "parse", log=messages.append)

    chunk_reports = [m for m in messages if " rows of ~" in m]
    assert len(chunk_reports) == 1  # the first chunk; the other 24 chunks fall in the interval
    finished = [m for m in messages if "extracted," in m]
    assert len(finished) == 2 and any("tables 2/2 done, 100%" in m for m in finished)
    # A cancel is looked for (a store query) when progress reports and after each table, not
    # after each of the 25 chunks.
    assert cancel_checks == ["cancel"] * 3


def test_a_failed_table_completes_parse_with_the_others_and_marks_it(flow: DatWorkflow):
    run = lock_through_table_selection(
        flow, {Q2: ["sales_2024_q2_semicolon"], CUSTOMERS: ["customers"]}
    )
    (flow.data_root / CUSTOMERS).unlink()
    messages: list[str] = []
    flow.lock(run, "parse", {})
    flow.materialize(run, "parse", log=messages.append)

    assert flow.stage_status(run, "parse").completed
    rows = parse_rows(flow, run)
    assert rows[Q2]["status"] == "done" and rows[Q2]["rows"] == 123
    assert rows[CUSTOMERS]["status"] == "error" and rows[CUSTOMERS]["output"] is None
    assert "sample/customers.parquet is no longer in the data root" in rows[CUSTOMERS]["error"]
    assert "1 of 2 tables failed" in rows[DATASET_TABLE]["error"]
    assert pl.read_parquet(flow.data_root / rows[DATASET_TABLE]["output"]).height == 123
    assert any("left out" in m and "customers.parquet" in m for m in messages)
    assert failed_tables(flow.load_artifact(run, "parse")) == [
        {"path": CUSTOMERS, "table": "customers", "error": rows[CUSTOMERS]["error"]}
    ]


def test_strict_parse_fails_on_a_failed_table_and_a_rerun_resumes_the_others(flow: DatWorkflow):
    run = lock_through_table_selection(
        flow, {Q2: ["sales_2024_q2_semicolon"], CUSTOMERS: ["customers"]}
    )
    moved = flow.data_root / "customers.parquet.moved"
    (flow.data_root / CUSTOMERS).rename(moved)
    flow.lock(run, "parse", {"strict": True})
    with pytest.raises(
        DatError, match=r"strict parse.*1 of 2 tables failed .*sample/customers.parquet"
    ):
        flow.materialize(run, "parse")
    status = flow.stage_status(run, "parse")
    assert not status.completed and "customers.parquet" in status.error
    tables_dir = flow.artifacts.work_dir(run, "parse", status.stage_id) / "tables"
    [q2_file] = visible_files(tables_dir)
    before = q2_file.stat()

    moved.rename(flow.data_root / CUSTOMERS)
    flow.materialize(run, "parse")
    rows = parse_rows(flow, run)
    assert rows[Q2]["status"] == "resumed" and rows[CUSTOMERS]["status"] == "done"
    assert rows[Q2]["rows"] == 123
    assert (
        rows[Q2]["source_sha256"] == hashlib.sha256((flow.data_root / Q2).read_bytes()).hexdigest()
    )
    after = q2_file.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert flow.stage_status(run, "parse").completed


def test_cancel_stops_between_chunks_without_a_partial_file(
    flow: DatWorkflow, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("DAT_STREAM_THRESHOLD_BYTES", "1")
    monkeypatch.setattr(parse_module, "PROGRESS_INTERVAL_S", 0.0)  # report every chunk
    get_settings.cache_clear()
    run = lock_through_table_selection(
        flow, {CUSTOMERS: ["customers"], Q2: ["sales_2024_q2_semicolon"]}
    )
    flow.lock(run, "parse", {"chunk_rows": 10, "workers": 1})  # one table after the other

    def cancel_in_second_table(message: str) -> None:
        if "sales_2024_q2_semicolon" in message and "20 rows" in message:
            flow.cancel(run)

    with pytest.raises(StageCancelledError, match="was cancelled"):
        flow.materialize(run, "parse", log=cancel_in_second_table)
    stage_id = flow.stage_status(run, "parse").stage_id
    work = flow.artifacts.work_dir(run, "parse", stage_id)
    assert [p.name for p in (work / "tables").iterdir()] == [
        p.name for p in visible_files(work / "tables")
    ]  # the temp file of the cancelled table is gone
    [done] = visible_files(work / "tables")
    assert "customers" in done.name and pl.read_parquet(done).height == 40
    assert not (work / "dataset.parquet").exists()

    flow.materialize(run, "parse")
    rows = parse_rows(flow, run)
    assert rows[CUSTOMERS]["status"] == "resumed" and rows[Q2]["status"] == "done"


def test_killing_parse_leaves_only_complete_tables_and_a_rerun_resumes(
    flow: DatWorkflow, tmp_path: Path
):
    big = flow.data_root / "big"
    big.mkdir()
    n = 300_000
    sizes = {}
    for index in range(3):
        frame = pl.select(
            id=pl.int_range(n), part=pl.lit(f"part-{index}"), amount=pl.int_range(n) * 0.5
        )
        frame.write_csv(big / f"part_{index}.csv")
        sizes[f"big/part_{index}.csv"] = n
    tables = {path: [Path(path).stem] for path in sizes}
    run = lock_through_table_selection(flow, tables, root="big")
    status = flow.lock(run, "parse", {"chunk_rows": 5_000})
    tables_dir = flow.artifacts.work_dir(run, "parse", status.stage_id) / "tables"

    env = {**os.environ, "DAT_STREAM_THRESHOLD_BYTES": "1"}
    worker = subprocess.Popen(
        [sys.executable, str(HERE / "parse_kill_worker.py"), run],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    try:
        while not (tables_dir.is_dir() and visible_files(tables_dir)):
            assert worker.poll() is None, worker.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "parse wrote no table within 60 s"
            time.sleep(0.005)
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL

    outputs = visible_files(tables_dir)
    assert 1 <= len(outputs) < 3, "the kill came after parse finished: make the tables larger"
    for output in outputs:
        assert output.suffix == ".parquet"
        assert pl.read_parquet(output).height == n  # complete, never partial
    first = outputs[0].stat()
    assert not flow.stage_status(run, "parse").completed

    flow.materialize(run, "parse")
    rows = parse_rows(flow, run)
    statuses = sorted(rows[path]["status"] for path in sizes)
    assert statuses.count("resumed") == len(outputs) and statuses.count("done") == 3 - len(outputs)
    assert all(rows[path]["rows"] == n for path in sizes)
    assert rows[DATASET_TABLE]["rows"] == 3 * n
    assert (outputs[0].stat().st_ino, outputs[0].stat().st_mtime_ns) == (
        first.st_ino,
        first.st_mtime_ns,
    )
    assert len(visible_files(tables_dir)) == 3


@pytest.fixture
def parsed_run(flow: DatWorkflow) -> str:
    run = lock_through_table_selection(flow, FOUR_TABLES, rules=RULES)
    parsed(flow, run)
    return run


TABLE_NAMES = {
    Q2: "sales_2024_q2_semicolon",
    PRODUCTS: "products",
    CUSTOMERS: "customers",
    EVENTS: "web_events",
}


def test_export_writes_one_table_per_column_set_with_manifest_and_lineage(
    flow: DatWorkflow, parsed_run: str
):
    run = parsed_run
    flow.lock(run, "export", {"formats": ["json", "CSV", "excel"], "name": "q2 mix"})
    flow.materialize(run, "export")
    [row] = flow.load_artifact(run, "export").to_dicts()

    root = flow.data_root
    folder = root / "datasets" / row["dataset_id"]
    manifest = json.loads((root / row["manifest_path"]).read_text(encoding="utf-8"))
    # Four unrelated tables stay four tables: no wide, sparse union of unrelated columns.
    tables = {table["name"]: table for table in manifest["tables"]}
    assert sorted(tables) == sorted(TABLE_NAMES.values())
    assert manifest["row_count"] == row["row_count"] == sum(EXPECTED_ROWS.values())
    assert manifest["dataset_id"] == row["dataset_id"] and manifest["name"] == "q2 mix"
    assert manifest["created_by_tool"] == "dat" and manifest["aggregation_levels"] is None
    assert manifest["formats"] == json.loads(row["formats"]) == ["parquet", "csv", "excel", "json"]
    sheets = openpyxl.load_workbook(folder / "data.xlsx", read_only=True)
    for path, name in TABLE_NAMES.items():
        table = tables[name]
        data = pl.read_parquet(root / table["files"]["parquet"])
        assert table["row_count"] == data.height == EXPECTED_ROWS[path], name
        assert table["sources"] == [{"source_file": path, "table": FOUR_TABLES[path][0]}]
        assert [c["name"] for c in table["columns"]] == data.columns
        assert data.columns[:2] == [SOURCE_FILE, SOURCE_TABLE]
        assert pl.read_csv(root / table["files"]["csv"], infer_schema=False).height == data.height
        assert len(json.loads((root / table["files"]["json"]).read_text("utf-8"))) == data.height
        sheet = list(sheets[table["sheet"]].values)
        assert list(sheet[0]) == data.columns and len(sheet) == data.height + 1
        with duckdb.connect(str(get_settings().warehouse_path), read_only=True) as connection:
            [(count,)] = connection.execute(f"SELECT count(*) FROM {table['view']}").fetchall()
        assert table["view"] == view_name(row["dataset_id"], name) and count == data.height
    events = {c["name"]: c for c in tables["web_events"]["columns"]}
    assert events["value"] == {"name": "value", "dtype": "Float64", "nullable": False}
    assert "email" not in events  # a customers column does not leak into events

    locked = {s.stage: s.stage_id for s in flow.status(run) if s.locked}
    assert {"discovery", "selection", "table_availability", "table_selection", "parse"} <= set(
        locked
    )
    lineage = {entry["source_file"]: entry for entry in manifest["lineage"]}
    assert set(lineage) == set(FOUR_TABLES)
    for path, entry in lineage.items():
        assert entry["file_checksum"] == hashlib.sha256((root / path).read_bytes()).hexdigest()
        assert entry["table"] == FOUR_TABLES[path][0]
        assert entry["dataset_table"] == TABLE_NAMES[path]
        assert entry["stage_ids"] == locked

    files = json.loads(row["files"])
    assert files == manifest["files"] and files["excel"] == [
        f"datasets/{row['dataset_id']}/data.xlsx"
    ]
    assert all(len(files[fmt]) == 4 for fmt in ("parquet", "csv", "json"))
    assert all((root / relative).is_file() for paths in files.values() for relative in paths)


def test_export_of_one_table_keeps_the_data_files_and_one_view(flow: DatWorkflow):
    run = lock_through_table_selection(flow, {CUSTOMERS: ["customers"]})
    parsed(flow, run)
    flow.lock(run, "export", {"formats": ["csv", "excel"]})
    flow.materialize(run, "export")
    [row] = flow.load_artifact(run, "export").to_dicts()
    root = flow.data_root
    manifest = json.loads((root / row["manifest_path"]).read_text(encoding="utf-8"))
    folder = f"datasets/{row['dataset_id']}"
    assert json.loads(row["files"]) == {
        "parquet": f"{folder}/data.parquet",
        "csv": f"{folder}/data.csv",
        "excel": f"{folder}/data.xlsx",
    }
    [table] = manifest["tables"]
    assert table["name"] == "customers" and table["view"] == view_name(row["dataset_id"])
    assert table["row_count"] == manifest["row_count"] == 40
    assert manifest["columns"] == table["columns"]
    assert openpyxl.load_workbook(root / folder / "data.xlsx", read_only=True).sheetnames == [
        "data"
    ]


def test_export_with_aggregation_levels_groups_the_tables_that_have_them(flow: DatWorkflow):
    sales = {"sample/sales_2024_q1.csv": ["sales_2024_q1"], Q2: ["sales_2024_q2_semicolon"]}
    run = lock_through_table_selection(flow, {**sales, CUSTOMERS: ["customers"]})
    rows = parsed(flow, run)
    flow.lock(run, "export", {"aggregation_levels": ["region"]})
    flow.materialize(run, "export")
    [row] = flow.load_artifact(run, "export").to_dicts()
    manifest = json.loads((flow.data_root / row["manifest_path"]).read_text(encoding="utf-8"))
    tables = {table["name"]: table for table in manifest["tables"]}
    assert sorted(tables) == ["customers", "sales_2024"]  # Q1 and Q2 share their columns
    assert tables["sales_2024"]["aggregated"] and not tables["customers"]["aggregated"]
    data = pl.read_parquet(flow.data_root / tables["sales_2024"]["files"]["parquet"])

    union = pl.concat(
        [pl.read_parquet(flow.data_root / rows[path]["output"]) for path in sales],
        how="diagonal_relaxed",
    )
    expected = (
        union.group_by("region")
        .agg(
            pl.col("quantity").mean().alias("quantity_mean"),
            pl.col("quantity").std().alias("quantity_std"),
            pl.col("quantity").count().cast(pl.Int64).alias("quantity_count"),
        )
        .sort("region")
    )
    assert data.height == tables["sales_2024"]["row_count"] == union["region"].n_unique()
    assert_frame_equal(data.select(expected.columns), expected, check_exact=False)
    assert "order_id_mean" in data.columns and "region_mean" not in data.columns
    assert tables["customers"]["row_count"] == 40
    assert row["row_count"] == data.height + 40


def test_export_rejects_unknown_formats_and_aggregation_columns(flow: DatWorkflow, parsed_run: str):
    with pytest.raises(StageConfigError, match=r"'xml'.*valid formats: parquet, csv, excel, json"):
        flow.lock(parsed_run, "export", {"formats": ["csv", "xml"]})
    with pytest.raises(StageConfigError, match=r"no column 'regoin' in the parsed dataset"):
        flow.lock(parsed_run, "export", {"aggregation_levels": ["region", "regoin"]})


def test_same_export_inputs_give_the_same_dataset_id(flow: DatWorkflow, parsed_run: str):
    flow.lock(parsed_run, "export", {"formats": ["csv"]})
    flow.materialize(parsed_run, "export")
    first = flow.load_artifact(parsed_run, "export")["dataset_id"].item()
    flow.unlock(parsed_run, "export")
    flow.lock(parsed_run, "export", {"formats": ["csv", "parquet"]})  # same after normalising
    assert flow.load_artifact(parsed_run, "export")["dataset_id"].item() == first


def queued_run(instance: dg.DagsterInstance, dat_run: str) -> DagsterRun:
    """A Dagster run waiting in the queue, tagged like the runs of a DAT run."""
    origin = RemoteJobOrigin(
        repository_origin=RemoteRepositoryOrigin(
            code_location_origin=InProcessCodeLocationOrigin(
                loadable_target_origin=LoadableTargetOrigin(module_name="dat_pipeline.definitions")
            ),
            repository_name="__repository__",
        ),
        job_name="__ASSET_JOB",
    )
    return create_run_for_test(
        instance,
        job_name="__ASSET_JOB",
        status=dg.DagsterRunStatus.QUEUED,
        tags={"dat/run": dat_run},
        remote_job_origin=origin,
    )


def test_dat_cancel_records_the_event_and_cancels_queued_dagster_runs(
    flow: DatWorkflow, parsed_run: str
):
    with dg.DagsterInstance.get() as instance:
        mine = queued_run(instance, parsed_run)
        other = queued_run(instance, "another-run")
        app = Typer()
        app.command()(cancel)
        result = CliRunner().invoke(app, [parsed_run, "--json"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert [r["dagster_run_id"] for r in report["dagster_runs"]] == [mine.run_id]
        assert report["dagster_runs"][0]["terminated"] is True
        assert instance.get_run_by_id(mine.run_id).status == dg.DagsterRunStatus.CANCELED
        assert instance.get_run_by_id(other.run_id).status == dg.DagsterRunStatus.QUEUED
        assert cancel_dagster_runs(instance, parsed_run) == []
    kinds = [event.kind for event in flow.store.run_events(parsed_run)]
    assert kinds[-1] == "cancel"


def test_dat_cancel_of_an_unknown_run_fails_with_a_reason(flow: DatWorkflow):
    app = Typer()
    app.command()(cancel)
    result = CliRunner().invoke(app, ["no-such-run"])
    assert result.exit_code == 1 and "unknown run 'no-such-run'" in result.output
