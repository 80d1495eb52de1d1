"""The registry: content beats extension, bad files are described not raised, probes are cut off."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from dat_pipeline.adapters import (
    AdapterError,
    ProbeResult,
    adapter_for,
    detect,
    get_adapter,
    probe_table,
    registered_adapters,
)
from dat_pipeline.adapters import registry as registry_module


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_every_format_has_one_registered_adapter():
    names = [adapter.name for adapter in registered_adapters()]

    assert sorted(names) == ["csv", "docx", "excel", "json", "ndjson", "parquet", "pdf"]
    assert get_adapter("parquet").formats == ("parquet",)
    with pytest.raises(AdapterError, match="no adapter named 'xls'"):
        get_adapter("xls")


def test_each_format_is_detected_from_its_content(tmp_path):
    workbook = openpyxl.Workbook()
    workbook.active.append(["a"])
    workbook.save(tmp_path / "book.xlsm")
    pl.DataFrame({"a": [1]}).write_parquet(tmp_path / "table.parquet")
    write(tmp_path / "doc.json", b'{"rows": [{"a": 1}]}')
    write(tmp_path / "lines.ndjson", b'{"a": 1}\n{"a": 2}\n')
    write(tmp_path / "plain.tsv", b"a\tb\n1\t2\n")

    found = {name: detect(tmp_path / name) for name in sorted(p.name for p in tmp_path.iterdir())}

    assert {name: (d.format, d.adapter) for name, d in found.items()} == {
        "book.xlsm": ("xlsm", "excel"),
        "doc.json": ("json", "json"),
        "lines.ndjson": ("ndjson", "ndjson"),
        "plain.tsv": ("tsv", "csv"),
        "table.parquet": ("parquet", "parquet"),
    }
    assert all(d.readable and d.reason is None for d in found.values())


def test_an_xlsx_that_is_really_csv_is_read_as_csv_with_the_mismatch_noted(tmp_path):
    path = write(tmp_path / "sales.xlsx", b"region,amount\nnorth,10\nsouth,20\n")

    detection = detect(path)

    assert detection.readable
    assert (detection.format, detection.adapter) == ("csv", "csv")
    assert "sales.xlsx" in detection.reason and "extension says xlsx" in detection.reason
    assert adapter_for(path).read(path, "sales")["amount"].sum() == 30


def test_json_lines_named_json_are_read_as_ndjson(tmp_path):
    path = write(tmp_path / "feed.json", b'{"a": 1}\n{"a": 2}\n')

    detection = detect(path)

    assert (detection.format, detection.adapter, detection.readable) == ("ndjson", "ndjson", True)
    assert "content is ndjson" in detection.reason


def test_binary_junk_named_csv_is_not_readable(tmp_path):
    path = write(tmp_path / "junk.csv", bytes(range(256)) * 64)

    detection = detect(path)

    assert not detection.readable and detection.adapter is None
    assert "junk.csv" in detection.reason and "binary" in detection.reason
    with pytest.raises(AdapterError, match=r"junk\.csv"):
        adapter_for(path)


def test_empty_and_missing_files_are_described_not_raised(tmp_path):
    empty = detect(write(tmp_path / "empty.csv", b""))
    missing = detect(tmp_path / "gone.parquet")
    folder = detect(tmp_path)

    assert (empty.readable, empty.format) == (False, "csv")
    assert "empty" in empty.reason
    assert not missing.readable and "file not found" in missing.reason
    assert not folder.readable and "not a regular file" in folder.reason
    assert probe_table(tmp_path / "gone.parquet", "gone").status == "missing"


def test_detection_reads_only_the_head_of_a_big_file(tmp_path, monkeypatch):
    path = write(tmp_path / "big.csv", b"a,b\n" + b"1,2\n" * 500_000)
    sizes = []
    real_read_head = registry_module.read_head

    def spy(path, size=8192):
        sizes.append(size)
        return real_read_head(path, size)

    monkeypatch.setattr(registry_module, "read_head", spy)

    assert detect(path).adapter == "csv"
    assert sizes == [8192]


def test_a_slow_probe_is_cut_off_with_probe_timeout_and_left_running(tmp_path, monkeypatch):
    path = write(tmp_path / "slow.csv", b"a\n1\n")
    adapter = get_adapter("csv")
    entered, release = threading.Event(), threading.Event()

    def slow_probe(path: Path, table: str, sample_rows: int = 1000) -> ProbeResult:
        entered.set()
        release.wait(60)
        raise AssertionError("an abandoned probe must not be waited for")

    monkeypatch.setattr(adapter, "probe_schema", slow_probe)
    try:
        probe = probe_table(path, "slow", timeout_s=0.2)
        # the result came back while the probe still blocks: it was abandoned, not awaited
        assert entered.is_set() and not release.is_set()
        assert any(t.name == "probe slow.csv:slow" for t in threading.enumerate())
    finally:
        release.set()

    assert probe.status == "error"
    assert probe.error.startswith("probe timeout")
    assert "slow.csv" in probe.error and "took over 0.2 s" in probe.error


def test_an_unexpected_probe_failure_becomes_an_error_status(tmp_path, monkeypatch):
    path = write(tmp_path / "odd.csv", b"a\n1\n")

    def broken(path: Path, table: str, sample_rows: int = 1000) -> ProbeResult:
        raise RuntimeError("boom")

    monkeypatch.setattr(get_adapter("csv"), "probe_schema", broken)

    probe = probe_table(path, "odd")

    assert probe.status == "error"
    assert "odd.csv" in probe.error and "RuntimeError: boom" in probe.error


def test_probe_table_reports_time_and_results_of_a_good_probe(tmp_path):
    path = write(tmp_path / "doc.json", json.dumps([{"a": 1}, {"a": 2}]).encode())

    probe = probe_table(path, "data")

    assert probe.status == "available" and probe.row_estimate == 2
    assert probe.probe_seconds > 0
