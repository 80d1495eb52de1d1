"""PDF tables through pdfplumber: every table pdfplumber detects is a table named `pN_tM`.

A PDF with no text layer (a scan) has nothing to extract: that is a clear error asking for OCR.
"""

from __future__ import annotations

from pathlib import Path

from dat_pipeline.adapters.base import AdapterError, file_label
from dat_pipeline.adapters.document_tables import DocumentTablesAdapter, guarded

MAGIC = b"%PDF-"
_FIX = "Export the table from its source application as CSV or XLSX instead."
_SCANNED = (
    "has no text layer (a scanned image?), so no table can be read; run OCR on it first "
    "(e.g. ocrmypdf) or get the original document"
)


class PdfAdapter(DocumentTablesAdapter):
    name = "pdf"
    formats = ("pdf",)
    _fix = _FIX

    def can_handle(self, path: Path, head: bytes) -> bool:
        return head.lstrip()[:5] == MAGIC

    def validate(self, path: Path) -> None:
        self._tables(path)

    def extract(self, path: Path) -> dict[str, list[list[object]]]:
        def work() -> dict[str, list[list[object]]]:
            import pdfplumber  # imported on use: keeps loading the code location fast

            tables: dict[str, list[list[object]]] = {}
            has_text = False
            with pdfplumber.open(path) as pdf:
                for page_number, page in enumerate(pdf.pages, start=1):
                    has_text = has_text or bool(page.chars)
                    for table_number, rows in enumerate(page.extract_tables(), start=1):
                        if rows and any(any(cell for cell in row) for row in rows):
                            tables[f"p{page_number}_t{table_number}"] = rows
            if not has_text:
                raise AdapterError(f"{file_label(path)}: {_SCANNED}")
            return tables

        return guarded(path, _FIX, work)
