"""Large documents stream with bounded memory (SPEC 6): a JSON document above the whole-parse
size is read record chunk by record chunk and agrees with the whole parse, its probe reads the
first records only; a sheet above the calamine size streams from its XML and agrees with calamine."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dat_pipeline.adapters import AdapterError, excel, get_adapter, json_document, probe_table

JSON = get_adapter("json")
EXCEL = get_adapter("excel")
RECORDS = [{"id": i, "name": f"n{i}", "amount": i / 4, "tags": ["a", "b"]} for i in range(3000)]


@pytest.fixture
def streamed(monkeypatch: pytest.MonkeyPatch):
    """Every JSON document above 1 KiB goes the streaming way."""
    monkeypatch.setattr(json_document, "WHOLE_BYTES", 1024)


def whole(path: Path, table: str, monkeypatch: pytest.MonkeyPatch) -> pl.DataFrame:
    with monkeypatch.context() as patch:
        patch.setattr(json_document, "WHOLE_BYTES", 1 << 40)
        return JSON.read(path, table)


def test_a_large_json_array_streams_in_chunks_equal_to_the_whole_parse(
    tmp_path: Path, streamed: None, monkeypatch: pytest.MonkeyPatch
):
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(RECORDS))
    chunks = list(JSON.stream(path, "data", chunk_rows=700))
    assert [c.height for c in chunks] == [700, 700, 700, 700, 200]
    assert_frame_equal(pl.concat(chunks), whole(path, "data", monkeypatch))


def test_a_large_object_document_lists_and_streams_each_table(
    tmp_path: Path, streamed: None, monkeypatch: pytest.MonkeyPatch
):
    path = tmp_path / "export.json"
    document = {"meta": {"version": 2}, "orders": RECORDS, "notes": [1, 2], "few": RECORDS[:3]}
    path.write_text(json.dumps(document))
    assert JSON.list_tables(path) == ["orders", "few"]
    assert_frame_equal(JSON.read(path, "orders"), whole(path, "orders", monkeypatch))
    assert JSON.read(path, "few").height == 3


def test_the_probe_of_a_large_document_reads_the_first_records_and_estimates(
    tmp_path: Path, streamed: None
):
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(RECORDS))
    probe = probe_table(path, "data")
    assert probe.status == "available" and not probe.row_estimate_exact
    assert [c.name for c in probe.columns] == ["id", "name", "amount", "tags"]
    assert 2000 < probe.row_estimate < 4500  # scaled from the bytes the first 1000 took


def test_a_large_document_that_is_not_tabular_says_so(tmp_path: Path, streamed: None):
    path = tmp_path / "numbers.json"
    path.write_text(json.dumps(list(range(2000))))
    with pytest.raises(AdapterError, match=r"numbers\.json: JSON is not tabular"):
        JSON.list_tables(path)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(RECORDS)[:-500])
    with pytest.raises(AdapterError, match=r"broken\.json table 'data'"):
        list(JSON.stream(broken, "data"))


def mixed_workbook(path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "mix"
    sheet.append(["id", "name", "price", "when", "flag", "late"])
    start = dt.datetime(2024, 1, 1)
    for i in range(2500):
        price = i * 1.5 if i % 11 else None
        late = f"late {i}" if i >= 1500 else None  # no value in the rows types come from
        sheet.append([i, f"n{i % 7}", price, start + dt.timedelta(days=i), i % 2 == 0, late])
    sheet.append([])  # a blank row inside the table
    sheet.append([9999, "after the blank row", 1.0, start, True, "x"])
    book.save(path)


def test_a_large_sheet_streams_row_by_row_equal_to_the_calamine_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = tmp_path / "mix.xlsx"
    mixed_workbook(path)
    whole = EXCEL.read(path, "mix")
    monkeypatch.setattr(excel, "STREAM_SHEET_BYTES", 0)  # every sheet is "large"
    chunks = list(EXCEL.stream(path, "mix", chunk_rows=1000))
    assert [c.height for c in chunks] == [1000, 1000, 502]
    assert_frame_equal(pl.concat(chunks), whole)
    assert_frame_equal(EXCEL.read(path, "mix"), whole)
