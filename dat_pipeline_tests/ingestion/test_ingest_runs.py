"""Uploads, preview, sync and queued ingestion runs, jobs, and the drop-folder sensor."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from dat_pipeline.cli import app
from dat_pipeline.defs.ingestion import inbox_sensor
from dat_pipeline.defs.resources import DatResource
from dat_pipeline.ingestion import jobs
from dat_pipeline.ingestion.runs import IngestRequest, preview, run_ingestion
from dat_pipeline.ingestion.uploads import IngestError, upload_file
from dat_pipeline.settings import get_settings
from dat_pipeline.store import ControlStore

CSV = (
    "id,name,city,units,price,code\n"
    "1, Ann ,Bern,5,10.5,A-1\n"
    "2,Bob,bern,,3.0,B-2\n"
    "3,Cy,Zürich,500,abc,bad\n"
    "1, Ann ,Bern,5,10.5,A-1\n"
    "4,,Genève,-1,2.5,C-3\n"
)
RULE_TYPES = {
    "NOT_NULL": {"type": "NOT_NULL", "column": "units"},
    "RANGE": {"type": "RANGE", "column": "units", "min": 0, "max": 100},
    "REGEX": {"type": "REGEX", "column": "code", "pattern": "^[A-Z]-[0-9]$"},
    "DEDUPE": {"type": "DEDUPE", "keys": ["id", "name"]},
    "ALLOWED_VALUES": {"type": "ALLOWED_VALUES", "column": "city", "values": ["Bern", "Zürich"]},
    "TRIM": {"type": "TRIM", "column": "name"},
    "CASE": {"type": "CASE", "column": "city", "mode": "lower"},
    "FILL_NULL": {"type": "FILL_NULL", "column": "name", "value": "unknown"},
    "CAST": {"type": "CAST", "column": "price", "to": "float"},
}


def _invoke(cli: CliRunner, *args: str) -> dict | list:
    result = cli.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def sales_csv(tmp_path: Path) -> Path:
    path = tmp_path / "incoming" / "orders.csv"
    path.parent.mkdir()
    path.write_text(CSV, encoding="utf-8")
    return path


def test_upload_keeps_raw_file_with_checksum_and_recognises_it_again(
    control: ControlStore, ingest_env: Path, cli: CliRunner
) -> None:
    sample = ingest_env / "sample" / "sales_2024_q1.csv"
    first = _invoke(cli, "ingest", "upload", str(sample), "--project", "sales")
    assert first["path"] == "uploads/sales/raw/sales_2024_q1.csv"
    assert (ingest_env / first["path"]).read_bytes() == sample.read_bytes()
    assert first["format"] == "csv" and first["row_count"] == 125 and not first["duplicate"]
    assert first["size_bytes"] == sample.stat().st_size and len(first["sha256"]) == 64
    again = _invoke(cli, "ingest", "upload", str(sample), "--project", "sales")
    assert again["duplicate"] and again["upload_id"] == first["upload_id"]
    assert len(list((ingest_env / "uploads" / "sales" / "raw").iterdir())) == 1


@pytest.mark.parametrize("rule_type", sorted(RULE_TYPES))
def test_rows_in_equal_kept_plus_rejected_for_every_rule_type(
    rule_type: str, control: ControlStore, ingest_env: Path, sales_csv: Path, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump([RULE_TYPES[rule_type]]), encoding="utf-8")
    runner = CliRunner()
    result = _invoke(
        runner, "ingest", "run", str(sales_csv), "--project", "p", "--rules", str(rules)
    )
    assert result["mode"] == "sync" and result["status"] == "COMPLETED"
    kept = pl.read_parquet(ingest_env / result["outputs"]["clean"])
    rejects = pl.read_parquet(ingest_env / result["outputs"]["rejects"])
    assert result["rows_in"] == 5 == kept.height + rejects.height
    assert (result["rows_kept"], result["rows_rejected"]) == (kept.height, rejects.height)
    assert sorted([*kept["_row_number"], *rejects["_row_number"]]) == [0, 1, 2, 3, 4]
    if rule_type in ("NOT_NULL", "RANGE", "REGEX", "DEDUPE", "ALLOWED_VALUES", "CAST"):
        assert rejects.height > 0
        assert all(rule_type in labels[0] for labels in rejects["_reject_rules"].to_list())
    else:
        assert rejects.height == 0


def test_preview_shows_each_rules_verdict_without_writing(
    control: ControlStore, ingest_env: Path, sales_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAT_PREVIEW_ROW_LIMIT", "3")
    get_settings.cache_clear()
    rules = yaml.safe_dump([RULE_TYPES["NOT_NULL"], RULE_TYPES["REGEX"]])
    shown = preview(control, ingest_env, str(sales_csv), rules, limit=50)
    assert shown["rows_shown"] == 3 and len(shown["rules"]) == 2
    verdicts = [list(row["verdicts"].values()) for row in shown["rows"]]
    assert verdicts == [[True, True], [False, True], [True, False]]
    assert [row["kept"] for row in shown["rows"]] == [True, False, False]
    assert not (ingest_env / "uploads").exists()


def test_bad_rule_or_file_is_a_clear_error_and_the_job_is_failed(
    control: ControlStore, ingest_env: Path, sales_csv: Path
) -> None:
    upload = upload_file(control, sales_csv, "p", ingest_env)
    request = IngestRequest(
        "p", "file", upload.upload_id, rules_yaml="- {type: NOT_NULL, column: nope}"
    )
    jobs.create_job(control, "job-1", "sync", "p", upload.upload_id, request.to_dict())
    with pytest.raises(IngestError, match="column 'nope' is not in the data"):
        run_ingestion(control, ingest_env, "job-1", request)
    assert jobs.get_job(control, "job-1").status == "FAILED"
    binary = sales_csv.with_name("junk.csv")
    binary.write_bytes(b"\x00\xff\x00\xfe" * 100)
    with pytest.raises(IngestError, match=r"junk\.csv"):
        upload_file(control, binary, "p", ingest_env)


def test_large_ingestion_is_queued_as_dagster_run_with_monotone_progress(
    control: ControlStore, ingest_env: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAT_SYNC_MAX_ROWS", "100")
    get_settings.cache_clear()
    sample = ingest_env / "sample" / "sales_2024_q1.csv"  # 125 rows: above the threshold
    queued = _invoke(cli, "ingest", "run", str(sample), "--project", "sales")
    assert queued["mode"] == "queued" and queued["status"] == "PENDING"
    job_id = queued["job_id"]
    instance = dg.DagsterInstance.get()
    run = instance.get_run_by_id(job_id)
    assert run is not None and run.status == dg.DagsterRunStatus.QUEUED
    assert run.job_name == "ingestion_job"
    assert _invoke(cli, "jobs", "show", job_id)["status"] == "PENDING"

    instance.launch_run(job_id, workspace=None)  # what the daemon does when it dequeues the run

    assert instance.get_run_by_id(job_id).status == dg.DagsterRunStatus.SUCCESS
    shown = _invoke(cli, "jobs", "show", job_id)
    assert shown["status"] == "COMPLETED" and shown["progress"] == 100
    assert shown["rows_processed"] == 125
    assert shown["outputs"]["clean"] == "uploads/sales/clean/sales_2024_q1.parquet"
    logs = _invoke(cli, "jobs", "logs", job_id)
    steps = [
        int(line["message"].split()[1].rstrip("%"))
        for line in logs
        if "progress" in line["message"]
    ]
    assert steps == sorted(steps) and len(steps) >= 19
    assert all(b - a <= 5 for a, b in zip([0, *steps], [*steps, 100], strict=True))
    events = [r.user_message for r in instance.all_logs(job_id)]
    assert any("progress 50%" in message for message in events)
    assert pl.read_parquet(ingest_env / shown["outputs"]["clean"]).height == 125


def test_cancel_a_queued_job_cancels_its_dagster_run(
    control: ControlStore, ingest_env: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAT_SYNC_MAX_ROWS", "10")
    get_settings.cache_clear()
    sample = ingest_env / "sample" / "sales_2024_q1.csv"
    job_id = _invoke(cli, "ingest", "run", str(sample), "--project", "sales")["job_id"]
    cancelled = _invoke(cli, "jobs", "cancel", job_id)
    assert cancelled["status"] == "CANCELLED"
    assert dg.DagsterInstance.get().get_run_by_id(job_id).status == dg.DagsterRunStatus.CANCELED
    assert cli.invoke(app, ["jobs", "cancel", job_id]).exit_code == 1  # already ended
    listed = _invoke(cli, "jobs", "list", "--status", "cancelled")
    assert [job["job_id"] for job in listed] == [job_id]


def test_inbox_sensor_takes_complete_files_once_even_after_a_restart(
    control: ControlStore, ingest_env: Path
) -> None:
    inbox = ingest_env / "inbox" / "sales"
    inbox.mkdir(parents=True)
    dropped = inbox / "q1.csv"
    dropped.write_text((ingest_env / "sample" / "sales_2024_q1.csv").read_text("utf-8"), "utf-8")
    with dg.instance_for_test() as instance:

        def tick(cursor: str | None) -> dg.SensorResult:
            context = dg.build_sensor_context(
                instance=instance, cursor=cursor, resources={"dat": DatResource()}
            )
            return inbox_sensor(context)

        first = tick(None)  # first look: size not known to be stable yet
        assert first.run_requests == []
        with open(dropped, "a", encoding="utf-8") as handle:  # still being written
            handle.write("1125,2024-03-31,S01,Bern,P-100,1,1.0,1.0\n")
        growing = tick(first.cursor)
        assert growing.run_requests == []
        stable = tick(growing.cursor)
        assert len(stable.run_requests) == 1
        request = stable.run_requests[0]
        config = request.run_config["ops"]["ingested_table"]["config"]
        assert config["project"] == "sales" and config["kind"] == "file"
        assert (ingest_env / "uploads" / "sales" / "raw" / "q1.csv").is_file()

        restarted = tick(stable.cursor)  # the next tick (or a restarted sensor) with the cursor
        assert restarted.run_requests == [] and not dropped.exists()
        dropped.write_text((ingest_env / "uploads/sales/raw/q1.csv").read_text("utf-8"), "utf-8")
        again = tick(tick(restarted.cursor).cursor)
        assert [r.run_key for r in again.run_requests] == [request.run_key]  # Dagster dedupes
