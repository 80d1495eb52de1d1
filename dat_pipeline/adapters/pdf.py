"""PDF tables through pdfplumber: every table pdfplumber detects is a table named `pN_tM`.

A PDF with no text layer (a scan) has nothing to extract: that is a clear error asking for OCR.
Pages are read one at a time and released (`page.close()`): listing the tables keeps their names
only, and reading a table opens its own page, so memory stays one page whatever the length.
"""

from __future__ import annotations

import re
from pathlib import Path

from dat_pipeline.adapters.base import AdapterError, file_label, missing_table
from dat_pipeline.adapters.document_tables import DocumentTablesAdapter, guarded

MAGIC = b"%PDF-"
_FIX = "Export the table from its source application as CSV or XLSX instead."
_SCANNED = (
    "has no text layer (a scanned image?), so no table can be read; run OCR on it first "
    "(e.g. ocrmypdf) or get the original document"
)
_NAME = re.compile(r"p(\d+)_t(\d+)")


def _page_tables(page) -> dict[int, list[list[object]]]:  # type: ignore[no-untyped-def]
    """The tables of one page that hold a value, by their number on the page (from 1)."""
    return {
        number: rows
        for number, rows in enumerate(page.extract_tables(), start=1)
        if rows and any(any(cell for cell in row) for row in rows)
    }


class PdfAdapter(DocumentTablesAdapter):
    name = "pdf"
    formats = ("pdf",)
    _fix = _FIX

    def can_handle(self, path: Path, head: bytes) -> bool:
        return head.lstrip()[:5] == MAGIC

    def validate(self, path: Path) -> None:
        self._tables(path)

    def extract(self, path: Path) -> dict[str, list[list[object]]]:
        """Table name -> None for every table (names only: rows are read page by page)."""

        def work() -> dict[str, list[list[object]]]:
            import pdfplumber  # imported on use: keeps loading the code location fast

            names: dict[str, list[list[object]]] = {}
            has_text = False
            with pdfplumber.open(path) as pdf:
                for page_number, page in enumerate(pdf.pages, start=1):
                    has_text = has_text or bool(page.chars)
                    for table_number in _page_tables(page):
                        names[f"p{page_number}_t{table_number}"] = []
                    page.close()
            if not has_text:
                raise AdapterError(f"{file_label(path)}: {_SCANNED}")
            return names

        return guarded(path, _FIX, work)

    def _rows(self, path: Path, table: str) -> list[list[object]]:
        names = self._tables(path)
        if not names:
            raise AdapterError(f"{file_label(path)}: no tables found in the document. {_FIX}")
        match = _NAME.fullmatch(table)
        if table not in names or match is None:
            raise missing_table(path, table, list(names))
        page_number, table_number = int(match.group(1)), int(match.group(2))

        def work() -> dict[str, list[list[object]]]:
            import pdfplumber

            with pdfplumber.open(path, pages=[page_number]) as pdf:
                page = pdf.pages[0]
                rows = _page_tables(page).get(table_number, [])
                page.close()
            return {table: rows}

        return guarded(path, _FIX, work)[table]
