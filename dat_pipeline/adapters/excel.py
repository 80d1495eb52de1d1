"""XLSX and XLSM through fastexcel (calamine): every sheet is a table.

The zip central directory is checked before anything is inflated, so a zip bomb dressed as a
workbook is refused from its declared sizes alone. Calamine parses a whole sheet at once, so `stream`
slices the loaded sheet up to `STREAM_SHEET_BYTES` of sheet XML; a larger sheet is streamed row by
row from its XML (`xlsx_sample.XlsxWorkbook.stream`), so memory stays bounded for any size.
For the same reason `probe_schema` does not use calamine: `xlsx_sample` streams the sheet XML and
stops after the sample, so a probe takes the same time on a 50 MB workbook as on a small one.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import fastexcel
import polars as pl

from dat_pipeline.adapters import xlsx_sample
from dat_pipeline.adapters.base import (
    Adapter,
    AdapterError,
    HeaderRows,
    ProbeResult,
    columns_of,
    file_label,
    missing_table,
    reader_errors,
    slices,
)

ZIP_MAGIC = b"PK\x03\x04"
# Sheets are streamed above STREAM_SHEET_BYTES, so size alone costs time, not memory; the ratio
# check below is what stops a zip bomb.
MAX_UNCOMPRESSED_BYTES = 16 << 30
# A sheet whose XML inflates beyond this is streamed row by row instead of loaded by calamine.
# Calamine is ~13x faster than streaming but peaks at ~2.5x the sheet XML (667 MB for the 269 MiB
# sheet of `bench dat`'s 50 MB workbook): below this it stays under the 1 GB memory bound.
STREAM_SHEET_BYTES = 320 << 20
MAX_COMPRESSION_RATIO = 100
# Small members (shared strings of a tiny workbook) can compress very well without harm.
RATIO_CHECK_MIN_BYTES = 16 << 20
_FIX = "Open and re-save the workbook in Excel or LibreOffice, or export the sheet as CSV."


def workbook_members(path: Path) -> list[zipfile.ZipInfo]:
    """The zip directory of `path`, read without inflating anything; raises if it is not a zip."""
    with zipfile.ZipFile(path) as archive:
        return archive.infolist()


class ExcelAdapter(Adapter):
    name = "excel"
    formats = ("xlsx", "xlsm")

    def can_handle(self, path: Path, head: bytes) -> bool:
        if not head.startswith(ZIP_MAGIC):
            return False
        try:
            return any(info.filename == "xl/workbook.xml" for info in workbook_members(path))
        except (zipfile.BadZipFile, OSError):
            return False

    def validate(self, path: Path) -> None:
        label = file_label(path)
        try:
            members = workbook_members(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise AdapterError(f"{label}: not a readable workbook ({exc}). {_FIX}") from exc
        if not any(info.filename == "xl/workbook.xml" for info in members):
            raise AdapterError(
                f"{label}: a zip archive without xl/workbook.xml, so not an Excel workbook; "
                "check the file type (DOCX and other zips share the .zip layout)."
            )
        total = sum(info.file_size for info in members)
        if total > MAX_UNCOMPRESSED_BYTES:
            raise AdapterError(
                f"{label}: refused, it would inflate to {total:,} bytes, over the "
                f"{MAX_UNCOMPRESSED_BYTES:,}-byte limit for a workbook (possible zip bomb). "
                "Export the sheets as CSV or Parquet instead."
            )
        for info in members:
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size >= RATIO_CHECK_MIN_BYTES and ratio > MAX_COMPRESSION_RATIO:
                raise AdapterError(
                    f"{label}: refused, member {info.filename} compresses {ratio:,.0f}:1, over the "
                    f"{MAX_COMPRESSION_RATIO}:1 limit (possible zip bomb). "
                    "Export the sheets as CSV or Parquet instead."
                )

    def _reader(self, path: Path) -> fastexcel.ExcelReader:
        self.validate(path)
        with reader_errors(path, None, _FIX):
            return fastexcel.read_excel(path)

    def list_tables(self, path: Path) -> list[str]:
        """The sheets, from the workbook part alone (calamine would read every shared string)."""
        self.validate(path)
        with reader_errors(path, None, _FIX), zipfile.ZipFile(path) as archive:
            return xlsx_sample.XlsxWorkbook(archive).sheets

    def probe_schema(self, path: Path, table: str, sample_rows: int = 1000) -> ProbeResult:
        start = time.perf_counter()
        self.validate(path)
        with reader_errors(path, table, _FIX), zipfile.ZipFile(path) as archive:
            workbook = xlsx_sample.XlsxWorkbook(archive)
            if table not in workbook.sheet_parts:
                raise missing_table(path, table, workbook.sheets)
            sample = workbook.sample(table, sample_rows)
        header = HeaderRows(sample.header_row) if sample.header_row else None
        titled = sample.titled
        return ProbeResult(
            table=table,
            status="partial" if titled else ("available" if sample.rows else "empty"),
            columns=columns_of(sample.frame.schema),
            row_estimate=sample.rows,
            row_estimate_exact=sample.rows_exact,
            error=(
                f"{file_label(path)} table {table!r}: the header is on row {sample.header_row}; "
                "the title rows above it are skipped. Set header_rows in table_selection if the "
                "header is elsewhere"
                if titled
                else None
            ),
            probe_seconds=time.perf_counter() - start,
            header=header,
        )

    def _header(self, path: Path, table: str) -> HeaderRows | None:
        """Where the probe finds the header, when title rows sit above it (else None)."""
        with zipfile.ZipFile(path) as archive:
            sample = xlsx_sample.XlsxWorkbook(archive).sample(table, 20)
        return HeaderRows(sample.header_row) if sample.titled and sample.header_row else None

    def _streamed(self, path: Path, table: str) -> bool:
        with zipfile.ZipFile(path) as archive:
            workbook = xlsx_sample.XlsxWorkbook(archive)
            if table not in workbook.sheet_parts:
                raise missing_table(path, table, workbook.sheets)
            with reader_errors(path, table, _FIX):
                return workbook.sheet_info(table).file_size > STREAM_SHEET_BYTES

    def read(self, path: Path, table: str, header: HeaderRows | None = None) -> pl.DataFrame:
        self.validate(path)
        if self._streamed(path, table):
            chunks = list(self._stream_sheet(path, table, 100_000, header))
            return pl.concat(chunks) if chunks else pl.DataFrame()
        reader = self._reader(path)
        if table not in reader.sheet_names:
            raise missing_table(path, table, list(reader.sheet_names))
        with reader_errors(path, table, _FIX):
            header = header or self._header(path, table)
            # calamine counts rows from the sheet's first row, from 0.
            options = (
                {"header_row": header.header_row - 1, "skip_rows": header.skip_rows or None}
                if header
                else {}
            )
            # Eager loading goes straight to Arrow: a little faster than the lazy sheet.
            return cast(pl.DataFrame, pl.from_arrow(reader.load_sheet_eager(table, **options)))

    def stream(
        self,
        path: Path,
        table: str,
        chunk_rows: int = 100_000,
        header: HeaderRows | None = None,
    ) -> Iterator[pl.DataFrame]:
        self.validate(path)
        if self._streamed(path, table):
            yield from self._stream_sheet(path, table, chunk_rows, header)
        else:
            yield from slices(self.read(path, table, header), chunk_rows)

    def _stream_sheet(
        self, path: Path, table: str, chunk_rows: int, header: HeaderRows | None
    ) -> Iterator[pl.DataFrame]:
        """A large sheet row by row from its XML (bounded memory), see `xlsx_sample`."""
        with zipfile.ZipFile(path) as archive, reader_errors(path, table, _FIX):
            workbook = xlsx_sample.XlsxWorkbook(archive)
            if header is None:
                yield from workbook.stream(table, chunk_rows)
            else:
                yield from workbook.stream(table, chunk_rows, header.header_row, header.skip_rows)
