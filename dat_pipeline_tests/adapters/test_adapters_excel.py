"""XLSX/XLSM: every sheet a table, read with calamine; corrupt workbooks and zip bombs refused."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dat_pipeline.adapters import AdapterError, detect, probe_table
from dat_pipeline.adapters import excel as excel_module
from dat_pipeline.adapters.excel import ExcelAdapter

EXCEL = ExcelAdapter()


def build_workbook(path: Path, data_rows: int = 5) -> Path:
    workbook = openpyxl.Workbook()
    orders = workbook.active
    orders.title = "orders"
    orders.append(["order_id", "customer", "total"])
    for i in range(data_rows):
        orders.append([i, f"customer-{i}", i * 1.5])
    workbook.create_sheet("blank")
    workbook.create_sheet("headers").append(["sku", "qty"])
    workbook.save(path)
    return path


def zip_bomb(path: Path, member_bytes: int) -> Path:
    """A workbook-shaped zip whose sheet inflates to `member_bytes` of zeros."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as member:
            block = bytes(1 << 20)
            for _ in range(member_bytes >> 20):
                member.write(block)
    return path


def test_every_sheet_is_a_table(tmp_path):
    path = build_workbook(tmp_path / "book.xlsx")

    assert EXCEL.list_tables(path) == ["orders", "blank", "headers"]


def test_probe_reports_columns_types_and_exact_rows_per_sheet(tmp_path):
    path = build_workbook(tmp_path / "book.xlsx", data_rows=1_500)

    orders = probe_table(path, "orders")
    blank = probe_table(path, "blank")
    headers = probe_table(path, "headers")

    assert orders.status == "available"
    assert [(c.name, c.dtype) for c in orders.columns] == [
        ("order_id", "Float64"),
        ("customer", "String"),
        ("total", "Float64"),
    ]
    assert orders.row_estimate == 1_500 and orders.row_estimate_exact
    assert blank.status == "empty" and blank.columns == [] and blank.row_estimate == 0
    assert headers.status == "empty" and [c.name for c in headers.columns] == ["sku", "qty"]


def test_read_and_stream_return_the_same_sheet(tmp_path):
    path = build_workbook(tmp_path / "book.xlsm", data_rows=250)

    frame = EXCEL.read(path, "orders")
    chunks = list(EXCEL.stream(path, "orders", chunk_rows=100))

    assert frame.height == 250
    assert frame["customer"][249] == "customer-249"
    assert [chunk.height for chunk in chunks] == [100, 100, 50]
    assert_frame_equal(pl.concat(chunks), frame)


def test_an_unknown_sheet_is_missing(tmp_path):
    path = build_workbook(tmp_path / "book.xlsx")

    probe = probe_table(path, "Sheet9")

    assert probe.status == "missing"
    assert "'Sheet9'" in probe.error and "orders" in probe.error


def test_a_corrupt_workbook_gets_a_clear_error(tmp_path):
    good = build_workbook(tmp_path / "good.xlsx").read_bytes()
    path = tmp_path / "broken.xlsx"
    path.write_bytes(good[: len(good) // 2])

    with pytest.raises(AdapterError, match=r"broken\.xlsx: not a readable workbook"):
        EXCEL.validate(path)
    assert not detect(path).readable
    assert "broken.xlsx" in detect(path).reason


def test_a_workbook_with_damaged_xml_gets_a_clear_error(tmp_path):
    path = tmp_path / "garbled.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook><sheets><sheet name=")

    EXCEL.validate(path)  # the zip layout is fine; the damage is inside
    probe = probe_table(path, "Sheet1")
    with pytest.raises(AdapterError, match=r"garbled\.xlsx: .*re-save the workbook"):
        EXCEL.list_tables(path)
    assert probe.status == "error" and "garbled.xlsx" in probe.error


def test_a_zip_that_is_not_a_workbook_is_refused(tmp_path):
    path = tmp_path / "report.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", "<document/>")

    with pytest.raises(AdapterError, match=r"report\.xlsx: a zip archive without xl/workbook\.xml"):
        EXCEL.validate(path)


def test_a_zip_bomb_is_refused_by_ratio_before_anything_is_inflated(tmp_path, monkeypatch):
    path = zip_bomb(tmp_path / "bomb.xlsx", member_bytes=32 << 20)
    assert path.stat().st_size < 1 << 20

    def never(*_args, **_kwargs):
        raise AssertionError("the workbook was opened by calamine")

    monkeypatch.setattr(excel_module.fastexcel, "read_excel", never)
    monkeypatch.setattr(zipfile.ZipFile, "open", never)
    start = time.perf_counter()
    with pytest.raises(AdapterError, match=r"bomb\.xlsx: refused.*100:1 limit"):
        EXCEL.list_tables(path)
    assert time.perf_counter() - start < 0.5
    assert detect(path).adapter == "excel"


def test_a_workbook_declaring_too_many_inflated_bytes_is_refused(tmp_path, monkeypatch):
    path = zip_bomb(tmp_path / "huge.xlsx", member_bytes=2 << 20)
    monkeypatch.setattr(excel_module, "MAX_UNCOMPRESSED_BYTES", 1 << 20)

    probe = probe_table(path, "Sheet1")

    assert probe.status == "error"
    assert "huge.xlsx" in probe.error and "1,048,576-byte limit" in probe.error


def test_an_ordinary_workbook_passes_the_bomb_checks(tmp_path):
    path = build_workbook(tmp_path / "book.xlsx", data_rows=2_000)

    EXCEL.validate(path)
