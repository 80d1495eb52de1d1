"""XLSX/XLSM: every sheet a table, read with calamine; corrupt workbooks and zip bombs refused."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dat_pipeline.adapters import AdapterError, detect, probe_table
from dat_pipeline.adapters import excel as excel_module
from dat_pipeline.adapters.excel import ExcelAdapter
from dat_pipeline.adapters.xlsx_sample import XlsxWorkbook

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
    with pytest.raises(AdapterError, match=r"bomb\.xlsx: refused.*100:1 limit"):
        EXCEL.list_tables(path)
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


# ---- the bounded probe sampler agrees with calamine's full read -----------------------------------

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_NS = "http://schemas.openxmlformats.org/package/2006/relationships"


def typed_workbook(path: Path) -> Path:
    """Every cell type openpyxl writes, blanks, odd headers and a sheet that starts at C3."""
    workbook = openpyxl.Workbook()
    kinds = workbook.active
    kinds.title = "kinds"
    headers = [
        "text",
        "whole",
        "real",
        "day",
        "moment",
        "clock",
        "flag",
        "mixed",
        "sparse",
        "blank",
    ]
    kinds.append([*headers, None, "text", 2024])
    for i in range(30):
        kinds.append(
            [
                f"row {i}",
                i,
                i / 4,
                dt.date(2024, 1, 1) + dt.timedelta(days=i),
                dt.datetime(2024, 5, 1, 8, 30) + dt.timedelta(hours=i),
                dt.time(i % 24, 15),
                i % 3 == 0,
                i if i % 2 else f"m{i}",
                i * 10 if i % 5 == 0 else None,
                None,
                i,
                True if i % 2 else 1.5,
                "x",
            ]
        )
    offset = workbook.create_sheet("offset")
    offset["C3"], offset["D3"] = "left", "right"
    offset["C4"], offset["D6"] = 1, dt.datetime(2024, 2, 29, 12)
    workbook.save(path)
    return path


def raw_workbook(path: Path, sheet_xml: str, shared: list[str], styles_xml: str = "") -> Path:
    """A one-sheet workbook written as SpreadsheetML by hand, for what openpyxl never writes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/data.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
            "</Types>",
        )
        archive.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{PKG_NS}"><Relationship Id="rId1" Target="xl/workbook.xml" '
            f'Type="{REL_NS}/officeDocument"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><sheets>'
            '<sheet name="Data &amp; more" sheetId="1" r:id="rId7"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{PKG_NS}">'
            f'<Relationship Id="rId7" Type="{REL_NS}/worksheet" Target="/xl/worksheets/data.xml"/>'
            f'<Relationship Id="rId8" Type="{REL_NS}/styles" Target="styles.xml"/>'
            f'<Relationship Id="rId9" Type="{REL_NS}/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>",
        )
        archive.writestr(
            "xl/styles.xml",
            styles_xml
            or f'<styleSheet xmlns="{MAIN_NS}"><numFmts count="2">'
            '<numFmt numFmtId="164" formatCode="dd/mm/yyyy"/>'
            '<numFmt numFmtId="165" formatCode="&quot;day &quot;0.0;[Red]-0.0"/></numFmts>'
            '<cellXfs count="5"><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="165"/>'
            '<xf numFmtId="46"/><xf numFmtId="14"/></cellXfs></styleSheet>',
        )
        items = "".join(f"<si>{item}</si>" for item in shared)
        archive.writestr("xl/sharedStrings.xml", f'<sst xmlns="{MAIN_NS}">{items}</sst>')
        archive.writestr("xl/worksheets/data.xml", sheet_xml)
    return path


def sheet(rows: str, dimension: str | None = None, tail: str = "</sheetData></worksheet>") -> str:
    ref = f'<dimension ref="{dimension}"/>' if dimension else ""
    return f'<worksheet xmlns="{MAIN_NS}">{ref}<sheetData>{rows}{tail}'


def sample_of(path: Path, table: str, sample_rows: int = 1000) -> pl.DataFrame:
    with zipfile.ZipFile(path) as archive:
        return XlsxWorkbook(archive).sample(table, sample_rows).frame


@pytest.mark.parametrize("table", ["kinds", "offset"])
def test_the_probe_agrees_with_read_on_every_cell_type(tmp_path, table):
    path = typed_workbook(tmp_path / "typed.xlsx")

    probe = probe_table(path, table)
    frame = EXCEL.read(path, table)

    assert probe.status == "available", probe.error
    assert [(c.name, c.dtype) for c in probe.columns] == columns_of_frame(frame)
    assert probe.row_estimate == frame.height and probe.row_estimate_exact
    assert_frame_equal(sample_of(path, table), frame)


def columns_of_frame(frame: pl.DataFrame) -> list[tuple[str, str]]:
    return [(name, str(dtype)) for name, dtype in frame.schema.items()]


def test_the_typed_probe_names_odd_headers_like_calamine(tmp_path):
    path = typed_workbook(tmp_path / "typed.xlsx")

    names = [c.name for c in probe_table(path, "kinds").columns]
    dtypes = {c.name: c.dtype for c in probe_table(path, "kinds").columns}

    assert names[-3:] == ["__UNNAMED__10", "text_1", "2024"]
    assert dtypes["day"].startswith("Datetime") and dtypes["flag"] == "Boolean"
    assert dtypes["mixed"] == "String" and dtypes["blank"] == "String"
    assert dtypes["text_1"] == "Float64"  # numbers and booleans mix into floats


def test_shared_rich_and_inline_strings_sparse_cells_and_styles_match_read(tmp_path):
    shared = [
        "name",
        "<t>alpha</t>",
        "<r><t>be</t></r><r><rPr><b/></rPr><t>ta</t></r><rPh sb='0' eb='1'><t>ignored</t></rPh>",
        "<t xml:space='preserve'> spaced </t>",
        "when",
    ]
    shared = [item if item.startswith("<") else f"<t>{item}</t>" for item in shared]
    rows = (
        '<row r="2"><c r="B2" t="s"><v>0</v></c><c r="C2" t="inlineStr"><is><t>amount</t></is></c>'
        '<c r="D2" t="s"><v>4</v></c><c r="E2" t="str"><v>span</v></c>'
        '<c r="F2" t="inlineStr"><is><t>custom</t></is></c><c r="G2" t="str"><v>ok</v></c></row>'
        '<row r="3"><c r="B3" t="s"><v>1</v></c><c r="C3"><v>1.25</v></c>'
        '<c r="D3" s="1"><v>45351</v></c><c r="E3" s="3"><v>1.5</v></c><c r="F3" s="2"><v>3</v></c>'
        '<c r="G3" t="b"><v>1</v></c></row>'
        '<row r="4"><c r="B4" t="s"><v>2</v></c><c r="D4" s="4"><v>45352</v></c>'
        '<c r="G4" t="e"><v>#N/A</v></c></row>'
        '<row r="6"><c r="B6" t="s"><v>3</v></c><c r="C6" t="n"><v>-7</v></c>'
        '<c r="E6" s="3"><v>0.25</v></c><c r="F6" s="2"><v>4</v></c><c r="G6" t="b"><v>0</v></c></row>'
        '<row r="7"><c r="B7" s="1"/></row>'
    )
    path = raw_workbook(tmp_path / "raw.xlsx", sheet(rows, dimension="B2:G7"), shared)

    probe = probe_table(path, "Data & more")
    frame = EXCEL.read(path, "Data & more")

    assert probe.status == "available", probe.error
    assert [(c.name, c.dtype) for c in probe.columns] == columns_of_frame(frame)
    assert probe.row_estimate == frame.height == 4 and probe.row_estimate_exact
    assert frame["name"].to_list() == ["alpha", "beta", None, " spaced "]
    assert_frame_equal(sample_of(path, "Data & more"), frame)


def test_the_row_count_comes_from_the_dimension_and_is_estimated_without_it(tmp_path):
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(2, 5_002))
    header = '<row r="1"><c r="A1" t="inlineStr"><is><t>n</t></is></c></row>'
    with_dimension = raw_workbook(
        tmp_path / "dim.xlsx", sheet(header + rows, dimension="A1:A5001"), []
    )
    without = raw_workbook(tmp_path / "nodim.xlsx", sheet(header + rows), [])

    exact = probe_table(with_dimension, "Data & more")
    estimate = probe_table(without, "Data & more")

    assert exact.row_estimate == 5_000 and exact.row_estimate_exact
    assert not estimate.row_estimate_exact
    assert 4_000 <= estimate.row_estimate <= 6_000
    assert estimate.columns == exact.columns == probe_table(with_dimension, "Data & more").columns


def test_the_probe_reads_only_the_sample_not_the_rest_of_the_sheet(tmp_path, monkeypatch):
    """Past the sample the sheet and shared-string XML are garbage: only a bounded reader copes."""
    rows = "".join(
        f'<row r="{r}"><c r="A{r}" t="s"><v>{r - 2}</v></c><c r="B{r}"><v>{r}</v></c></row>'
        for r in range(2, 1_100)
    )
    header = (
        '<row r="1"><c r="A1" t="inlineStr"><is><t>code</t></is></c>'
        '<c r="B1" t="inlineStr"><is><t>n</t></is></c></row>'
    )
    shared = [f"<t>code {i}</t>" for i in range(1_000)] + ["<t>unclosed"]
    path = raw_workbook(
        tmp_path / "cut.xlsx",
        sheet(header + rows, dimension="A1:B780001", tail="<row r='9'><c><<<"),
        shared,
    )

    def never(*_args, **_kwargs):
        raise AssertionError("the probe loaded the sheet with calamine")

    monkeypatch.setattr(excel_module.fastexcel, "read_excel", never)
    probe = probe_table(path, "Data & more")

    assert probe.status == "available", probe.error
    assert [(c.name, c.dtype) for c in probe.columns] == [("code", "String"), ("n", "Float64")]
    assert probe.row_estimate == 780_000 and probe.row_estimate_exact
    assert sample_of(path, "Data & more", sample_rows=10)["code"][-1] == "code 9"
