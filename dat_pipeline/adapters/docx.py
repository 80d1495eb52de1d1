"""Word (DOCX) tables through python-docx: every table in the body is a table named `tableN`.

Merged cells: python-docx repeats a merged cell's text in every grid cell it covers (across a
horizontal span, and down a vertical merge), so each row keeps the full width and the value.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from dat_pipeline.adapters.document_tables import DocumentTablesAdapter, guarded
from dat_pipeline.adapters.excel import ZIP_MAGIC

_FIX = "Open and re-save it in Word or LibreOffice, or copy the table into a spreadsheet."


class DocxAdapter(DocumentTablesAdapter):
    name = "docx"
    formats = ("docx",)
    _fix = _FIX

    def can_handle(self, path: Path, head: bytes) -> bool:
        if not head.startswith(ZIP_MAGIC):
            return False
        try:
            with zipfile.ZipFile(path) as archive:
                return "word/document.xml" in archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return False

    def validate(self, path: Path) -> None:
        self._tables(path)

    def extract(self, path: Path) -> dict[str, list[list[object]]]:
        def work() -> dict[str, list[list[object]]]:
            import docx  # imported on use: keeps loading the code location fast

            document = docx.Document(str(path))
            return {
                f"table{number}": [[cell.text for cell in row.cells] for row in table.rows]
                for number, table in enumerate(document.tables, start=1)
            }

        return guarded(path, _FIX, work)
