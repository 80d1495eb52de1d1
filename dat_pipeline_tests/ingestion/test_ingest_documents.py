"""PDF and Word tables as adapters, on documents the tests generate."""

from __future__ import annotations

from pathlib import Path

import docx
import pytest
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.pdfgen import canvas
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Table, TableStyle

from dat_pipeline.adapters import AdapterError, MissingTableError, adapter_for, detect


def _pdf(path: Path, tables: list[list[list[str]]]) -> Path:
    story: list = [Paragraph("Quarterly report", getSampleStyleSheet()["Title"])]
    for index, rows in enumerate(tables):
        table = Table(rows)
        table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black)]))
        story += [table, PageBreak()] if index < len(tables) - 1 else [table]
    SimpleDocTemplate(str(path), pagesize=A4).build(story)
    return path


def test_each_pdf_table_is_a_table(tmp_path: Path) -> None:
    path = _pdf(
        tmp_path / "report.pdf",
        [
            [["city", "amount"], ["Zürich", "12.5"], ["Paris", "7"]],
            [["sku", "units", "note"], ["P-1", "3", ""], ["P-2", "4", "late"]],
        ],
    )
    assert detect(path).adapter == "pdf"
    adapter = adapter_for(path)
    assert adapter.list_tables(path) == ["p1_t1", "p2_t1"]
    first = adapter.read(path, "p1_t1")
    assert first.columns == ["city", "amount"] and first["city"].to_list() == ["Zürich", "Paris"]
    second = adapter.read(path, "p2_t1")
    assert second["note"].to_list() == [None, "late"]
    assert adapter.probe_schema(path, "p2_t1").row_estimate == 2
    with pytest.raises(MissingTableError):
        adapter.read(path, "p9_t1")


def test_scanned_pdf_without_text_layer_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    page = canvas.Canvas(str(path))
    page.rect(72, 72, 300, 400, fill=1)  # an image-like page: shapes, no text
    page.save()
    adapter = adapter_for(path)
    with pytest.raises(AdapterError, match=r"no text layer.*OCR"):
        adapter.list_tables(path)


def test_docx_tables_with_merged_cells(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_paragraph("Sales by city")
    table = document.add_table(rows=4, cols=3)
    values = [["city", "q1", ""], ["Zürich", "1", "2"], ["Bern", "3", "4"], ["", "5", "6"]]
    for r, row in enumerate(values):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    table.cell(0, 1).merge(table.cell(0, 2))  # header spans two columns
    table.cell(2, 0).merge(table.cell(3, 0))  # "Bern" spans two rows
    document.add_table(rows=2, cols=1).cell(0, 0).text = "only"
    path = tmp_path / "sales.docx"
    document.save(str(path))

    assert detect(path).adapter == "docx"
    adapter = adapter_for(path)
    assert adapter.list_tables(path) == ["table1", "table2"]
    frame = adapter.read(path, "table1")
    assert frame.columns == ["city", "q1", "q1_2"]
    assert frame["city"].to_list() == ["Zürich", "Bern", "Bern"]
    assert frame["q1_2"].to_list() == ["2", "4", "6"]


def test_docx_without_tables_is_a_clear_error_and_other_files_still_read(tmp_path: Path) -> None:
    empty = docx.Document()
    empty.add_paragraph("Minutes of the meeting, no tables here.")
    empty.save(str(tmp_path / "minutes.docx"))
    good = _pdf(tmp_path / "ok.pdf", [[["a", "b"], ["1", "2"]]])

    adapter = adapter_for(tmp_path / "minutes.docx")
    assert adapter.list_tables(tmp_path / "minutes.docx") == []
    with pytest.raises(AdapterError, match=r"minutes\.docx: no tables found"):
        adapter.read(tmp_path / "minutes.docx", "table1")
    assert adapter_for(good).read(good, "p1_t1").height == 1
