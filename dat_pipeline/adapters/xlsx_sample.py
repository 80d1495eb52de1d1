"""A bounded sample of one XLSX/XLSM sheet, read by streaming its XML instead of loading the sheet.

Calamine parses a whole worksheet even when asked for a few rows, so a probe of a 50 MB workbook took
seconds. This module reads only what a probe needs, and stops early:

- `xl/workbook.xml` and `xl/_rels/workbook.xml.rels` map sheet names to worksheet parts;
- the worksheet XML is streamed with `iterparse` up to the header row plus `sample_rows` rows;
- the row count is the `<dimension ref="A1:J780001">` of the sheet (taken as exact), or, when the
  sheet has none, extrapolated from the inflated bytes the sample used (an estimate);
- `xl/sharedStrings.xml` is streamed only up to the highest index the sample refers to;
- `xl/styles.xml` tells which number cells are dates, times or durations.

The result mimics what `fastexcel` (calamine) returns for the same rows, so a probe agrees with `read`:
the range starts at the first row and column holding a value, the first row is the header (blank
header cells become `__UNNAMED__{i}`, repeated names get `_1`, `_2`...), numbers are Float64,
booleans Boolean, number cells whose style is a date format (built-in ids 14-22, 45, 47, or a custom
format with d/m/y/h/s outside quotes and brackets) are Datetime(ms), the built-in `[h]:mm:ss` (46)
and custom `[h]`/`[m]`/`[s]` formats are Duration(ms), error cells are null, a column mixing numbers
and booleans is Float64, any other mix or an all-blank column is String. Known difference: the
column span is taken from the sampled rows, so a column holding values only past the sample is not
listed (calamine would list it as `__UNNAMED__{i}`).

`XlsxWorkbook.stream` reads a whole sheet the same way, chunk by chunk, for sheets too large for
calamine's in-memory load: the types come from the first `SCHEMA_ROWS` rows (as calamine infers
them) and later cells of another kind are coerced (text of a number, null for text in a number
column); memory holds one chunk plus the shared strings.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import sys
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import polars as pl

WORKBOOK_PART = "xl/workbook.xml"
_REL_NS = {
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "http://purl.oclc.org/ooxml/officeDocument/relationships",
}
_CELL_REF = re.compile(r"([A-Z]+)(\d+)")
_DIMENSION = re.compile(r"^\$?[A-Z]+\$?(\d+)(?::\$?[A-Z]+\$?(\d+))?$")
# Built-in number formats calamine reads as dates/times (ids 14-22, 45, 47) and as durations (46).
_BUILTIN_DATE_FORMATS = frozenset({14, 15, 16, 17, 18, 19, 20, 21, 22, 45, 47})
_BUILTIN_DURATION_FORMATS = frozenset({46})
_EPOCH_1900 = dt.datetime(1899, 12, 30)
_EPOCH_1904 = dt.datetime(1904, 1, 1)

# Rows the column types are inferred from (fastexcel's schema_sample_rows).
SCHEMA_ROWS = 1000
# Rows turned into a typed frame at a time while streaming a sheet.
BUILD_ROWS = 5000
# Cell kinds, named after the fastexcel dtype they lead to.
FLOAT, BOOL, STRING, DATETIME, DURATION = "float", "bool", "string", "datetime", "duration"


@dataclass(frozen=True)
class SheetSample:
    """The header and first rows of a sheet as a typed frame, and the sheet's data row count."""

    frame: pl.DataFrame
    rows: int
    rows_exact: bool
    # The sheet row (from 1) of the header, below any title rows, and the first row with a value.
    header_row: int | None = None
    first_row: int | None = None
    first_col: int = 0

    @property
    def titled(self) -> bool:
        """Whether title rows sit above the header."""
        return bool(self.header_row and self.first_row and self.header_row > self.first_row)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _namespace(tag: str) -> str:
    return tag[: tag.index("}") + 1] if tag.startswith("{") else ""


def _resolve(base_part: str, target: str) -> str:
    """A relationship target as a zip member name (targets are relative to the part's folder)."""
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(base_part), target))


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - 64
    return index - 1


def number_format_kind(format_id: int, format_code: str | None) -> str:
    """FLOAT, DATETIME or DURATION: how calamine reads a number cell with this number format."""
    if format_id in _BUILTIN_DATE_FORMATS:
        return DATETIME
    if format_id in _BUILTIN_DURATION_FORMATS:
        return DURATION
    if format_code is None:
        return FLOAT
    # Only the first section counts; quoted text, escaped characters and [Red]-like brackets are
    # not date tokens, but an elapsed-time bracket ([h], [mm], [ss]) makes a duration.
    section = format_code.split(";", 1)[0]
    section = re.sub(r'"[^"]*"|\\.|_.', "", section)
    if re.search(r"\[(h+|m+|s+)\]", section, flags=re.IGNORECASE):
        return DURATION
    section = re.sub(r"\[[^\]]*\]", "", section)
    return DATETIME if re.search(r"[dmyhs]", section, flags=re.IGNORECASE) else FLOAT


class _CountingReader:
    """A read-only stream that counts the bytes handed to the parser (for the row estimate)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.consumed = 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.consumed += len(data)
        return data


class _EnoughStrings(Exception):
    """Raised by `_SharedStrings` to stop the parser once the sample's strings are read."""


class _SharedStrings:
    """An expat target collecting `<si>` texts: no tree is built, so memory is the strings alone.

    Faster than `iterparse` here, where a sample may need the first hundred thousand strings.
    """

    def __init__(self, up_to: int) -> None:
        self.up_to = up_to
        self.strings: list[str] = []
        self._parts: list[str] = []
        self._in_text = False
        self._phonetic_depth = 0  # <rPh> runs hold a reading guide, not part of the value
        self._item_tag = self._text_tag = self._phonetic_tag = ""

    def start(self, tag: str, _attributes: dict[str, str]) -> None:
        if tag == self._text_tag:
            self._in_text = not self._phonetic_depth
        elif tag == self._phonetic_tag:
            self._phonetic_depth += 1
        elif not self._item_tag:  # the root <sst>: its namespace qualifies the tags compared
            ns = _namespace(tag)
            self._item_tag, self._text_tag, self._phonetic_tag = f"{ns}si", f"{ns}t", f"{ns}rPh"

    def end(self, tag: str) -> None:
        if tag == self._item_tag:
            self.strings.append("".join(self._parts))
            self._parts = []
            if len(self.strings) > self.up_to:
                raise _EnoughStrings
        elif tag == self._text_tag:
            self._in_text = False
        elif tag == self._phonetic_tag:
            self._phonetic_depth -= 1

    def data(self, text: str) -> None:
        if self._in_text:
            self._parts.append(text)

    def close(self) -> list[str]:
        return self.strings


class XlsxWorkbook:
    """The sheet map, styles and shared strings of an open workbook, each read only when needed."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        root = ET.fromstring(archive.read(WORKBOOK_PART))
        ns = _namespace(root.tag)
        properties = root.find(f"{ns}workbookPr")
        self.date1904 = properties is not None and properties.get("date1904") in ("1", "true")
        relations = self._relations(WORKBOOK_PART)
        self.sheet_parts: dict[str, str | None] = {}
        for sheet in root.iter(f"{ns}sheet"):
            rid = next((v for k, v in sheet.attrib.items() if _namespace(k)[1:-1] in _REL_NS), None)
            target = relations.get(rid or "")
            self.sheet_parts[sheet.get("name", "")] = (
                target[1] if target and target[0] == "worksheet" else None
            )
        self._shared_part = next(
            (part for kind, part in relations.values() if kind == "sharedStrings"), None
        )
        self._styles_part = next(
            (part for kind, part in relations.values() if kind == "styles"), None
        )
        self._style_kinds: list[str] | None = None

    @property
    def sheets(self) -> list[str]:
        return list(self.sheet_parts)

    def _relations(self, part: str) -> dict[str, tuple[str, str]]:
        """Relationship id -> (type's last word, member name) for `part`."""
        rels = posixpath.join(posixpath.dirname(part), "_rels", posixpath.basename(part) + ".rels")
        if rels not in self.archive.NameToInfo:
            return {}
        root = ET.fromstring(self.archive.read(rels))
        return {
            rel.get("Id", ""): (
                rel.get("Type", "").rpartition("/")[2],
                _resolve(part, rel.get("Target", "")),
            )
            for rel in root
            if _local(rel.tag) == "Relationship" and rel.get("TargetMode") != "External"
        }

    def style_kinds(self) -> list[str]:
        """For each cell style index (`s` attribute), how a number in it reads: FLOAT/DATETIME/DURATION."""
        if self._style_kinds is None:
            self._style_kinds = []
            if self._styles_part and self._styles_part in self.archive.NameToInfo:
                root = ET.fromstring(self.archive.read(self._styles_part))
                ns = _namespace(root.tag)
                codes = {
                    int(fmt.get("numFmtId", "-1")): fmt.get("formatCode", "")
                    for fmt in root.iterfind(f"{ns}numFmts/{ns}numFmt")
                }
                for xf in root.iterfind(f"{ns}cellXfs/{ns}xf"):
                    format_id = int(xf.get("numFmtId", "0"))
                    self._style_kinds.append(number_format_kind(format_id, codes.get(format_id)))
        return self._style_kinds

    def shared_strings(self, up_to: int | None) -> list[str]:
        """Shared strings 0..`up_to` (None: all), streamed: the rest is never inflated."""
        if up_to is None:
            if not self._shared_part or self._shared_part not in self.archive.NameToInfo:
                return []
            up_to = sys.maxsize
        elif up_to < 0:
            return []
        if not self._shared_part or self._shared_part not in self.archive.NameToInfo:
            raise ValueError(
                "cells refer to shared strings but the workbook has no shared-string table"
            )
        collector = _SharedStrings(up_to)
        parser = ET.XMLParser(target=collector)
        with self.archive.open(self._shared_part) as stream:
            try:
                while chunk := stream.read(1 << 16):
                    parser.feed(chunk)
            except _EnoughStrings:
                pass
        strings = collector.strings
        if len(strings) <= up_to < sys.maxsize:
            raise ValueError(
                f"a cell refers to shared string {up_to}, but the table holds {len(strings)}"
            )
        return strings

    def sheet_info(self, sheet: str) -> zipfile.ZipInfo:
        """The zip member of a worksheet (its `file_size` is the inflated XML)."""
        part = self.sheet_parts[sheet]
        if part is None or part not in self.archive.NameToInfo:
            raise ValueError(
                f"sheet {sheet!r} is not a worksheet (a chart sheet, or its part is missing)"
            )
        return self.archive.getinfo(part)

    def sample(
        self, sheet: str, sample_rows: int, header_row: int | None = None, skip_rows: int = 0
    ) -> SheetSample:
        """The header and the first `sample_rows` rows of `sheet` (which must be in `sheets`);
        `header_row` and `skip_rows` say where the header is instead of the guess."""
        info = self.sheet_info(sheet)
        with self.archive.open(info) as raw:
            stream = _CountingReader(raw)
            scan = _scan_rows(stream, sample_rows + (header_row or 0) + skip_rows)
        if header_row is None:
            header_row = _header_below_titles(scan)
        last_row = scan.last_row
        if header_row is None:
            return SheetSample(frame=pl.DataFrame(), rows=0, rows_exact=True)
        if scan.complete:
            rows, exact = last_row - header_row, True
        elif scan.dimension_last_row is not None and scan.dimension_last_row >= last_row:
            rows, exact = scan.dimension_last_row - header_row, True
        else:
            # No usable dimension: scale the rows sampled by the share of the sheet XML they used.
            sampled = max(last_row - header_row, 1)
            rows = max(round(sampled * info.file_size / max(stream.consumed, 1)), sampled)
            exact = False
        end_row = min(last_row, header_row + skip_rows + sample_rows)
        frame = self._frame(scan, header_row, end_row, skip_rows)
        return SheetSample(frame, rows, exact, header_row, scan.header_row, scan.first_col)

    def stream(
        self, sheet: str, chunk_rows: int, header_row: int | None = None, skip_rows: int = 0
    ) -> Iterator[pl.DataFrame]:
        """Every data row of `sheet`, `chunk_rows` rows per frame (see the module docstring)."""
        sample = self.sample(sheet, SCHEMA_ROWS, header_row, skip_rows)
        if sample.header_row is None:
            return
        schema = sample.frame.schema
        columns = range(sample.first_col, sample.first_col + len(schema))
        shared = self.shared_strings(None)
        styles = self.style_kinds()
        epoch = _EPOCH_1904 if self.date1904 else _EPOCH_1900
        first_data = sample.header_row + skip_rows + 1
        # Cells as Python objects cost ~200 bytes each: typed frames are built every `build` rows
        # and joined into chunks, so the Python side holds a few thousand rows at most.
        build = min(chunk_rows, BUILD_ROWS)
        pending: list[dict[int, tuple[str, str, int]]] = []
        frames: list[pl.DataFrame] = []
        held, previous = 0, first_data - 1
        with self.archive.open(self.sheet_info(sheet)) as raw:
            for number, cells in _rows(raw):
                if number < first_data:
                    continue
                pending += [{}] * (number - previous - 1)  # blank rows inside the range
                pending.append(cells)
                previous = number
                if len(pending) < build:
                    continue
                frames.append(_chunk_frame(pending, schema, columns, shared, styles, epoch))
                held, pending = held + len(pending), []
                if held >= chunk_rows:
                    rest = pl.concat(frames)
                    while rest.height >= chunk_rows:
                        yield rest.slice(0, chunk_rows)
                        rest = rest.slice(chunk_rows)
                    frames, held = [rest], rest.height
        if pending:
            frames.append(_chunk_frame(pending, schema, columns, shared, styles, epoch))
        rest = pl.concat(frames) if frames else pl.DataFrame(schema=schema)
        for offset in range(0, rest.height, chunk_rows):
            yield rest.slice(offset, chunk_rows)

    def _frame(
        self, scan: _Scan, header_row: int, end_row: int, skip_rows: int = 0
    ) -> pl.DataFrame:
        shared_needed = [
            int(value)
            for cells in scan.rows.values()
            for kind, value, _ in cells.values()
            if kind == "s"
        ]
        shared = self.shared_strings(max(shared_needed, default=-1))
        styles = self.style_kinds()
        epoch = _EPOCH_1904 if self.date1904 else _EPOCH_1900
        first_col, last_col = scan.first_col, scan.last_col
        header = scan.rows.get(header_row, {})
        names: list[str] = []
        for position, col in enumerate(range(first_col, last_col + 1)):
            kind, value = _typed(header.get(col), shared, styles, epoch)
            if kind == STRING and value:
                name = str(value)
            elif kind == FLOAT:
                name = _float_text(value)
            else:
                name = f"__UNNAMED__{position}"
            candidate, suffix = name, 1
            while candidate in names:
                candidate, suffix = f"{name}_{suffix}", suffix + 1
            names.append(candidate)
        columns: list[pl.Series] = []
        for name, col in zip(names, range(first_col, last_col + 1), strict=True):
            cells = [
                _typed(scan.rows.get(row, {}).get(col), shared, styles, epoch)
                for row in range(header_row + 1 + skip_rows, end_row + 1)
            ]
            columns.append(_column(name, cells))
        return pl.DataFrame(columns)


@dataclass
class _Scan:
    rows: dict[int, dict[int, tuple[str, str, int]]]  # row -> column -> (t, raw value, style)
    header_row: int | None
    last_row: int
    first_col: int
    last_col: int
    complete: bool
    dimension_last_row: int | None


def _scan_rows(stream: _CountingReader, sample_rows: int) -> _Scan:
    """Read cells up to the header row plus `sample_rows` rows; note the dimension if present."""
    rows: dict[int, dict[int, tuple[str, str, int]]] = {}
    header_row: int | None = None
    last_row, first_col, last_col = 0, 1 << 30, -1
    dimension_last_row: int | None = None
    complete = True
    row_number = 0
    events = ET.iterparse(stream, events=("start", "end"))
    _event, root = next(events)
    ns = _namespace(root.tag)
    row_tag, dimension_tag = f"{ns}row", f"{ns}dimension"
    for event, element in events:
        if event != "end":
            continue
        if element.tag == dimension_tag:
            match = _DIMENSION.match(element.get("ref", "").upper())
            if match:
                dimension_last_row = int(match.group(2) or match.group(1))
        elif element.tag == row_tag:
            row_number = int(element.get("r") or row_number + 1)
            if header_row is not None and row_number > header_row + sample_rows:
                complete = False
                break
            cells = dict(_cells(element, ns))
            element.clear()
            if not cells:
                continue
            if header_row is None:
                header_row = row_number
            rows[row_number] = cells
            last_row = row_number
            first_col, last_col = min(first_col, min(cells)), max(last_col, max(cells))
    root.clear()
    return _Scan(rows, header_row, last_row, first_col, last_col, complete, dimension_last_row)


def _rows(raw: IO[bytes]) -> Iterator[tuple[int, dict[int, tuple[str, str, int]]]]:
    """(row number, cells) of every row holding a value, streamed from the sheet XML."""
    events = ET.iterparse(raw, events=("start", "end"))
    _event, root = next(events)
    ns = _namespace(root.tag)
    row_tag, data_tag = f"{ns}row", f"{ns}sheetData"
    parent = root
    row_number = 0
    for event, element in events:
        if event == "start":
            if element.tag == data_tag:
                parent = element
        elif element.tag == row_tag:
            row_number = int(element.get("r") or row_number + 1)
            cells = dict(_cells(element, ns))
            parent.clear()  # drop the finished rows from the tree: memory stays one row
            if cells:
                yield row_number, cells


def _chunk_frame(
    rows: list[dict[int, tuple[str, str, int]]],
    schema: pl.Schema,
    columns: range,
    shared: list[str],
    styles: list[str],
    epoch: dt.datetime,
) -> pl.DataFrame:
    """Rows of cells as a frame of `schema`, each cell coerced to its column's type."""
    series = []
    for (name, dtype), col in zip(schema.items(), columns, strict=True):
        cells = [_typed(row.get(col), shared, styles, epoch) for row in rows]
        series.append(pl.Series(name, _coerced(cells, dtype), dtype=dtype))
    return pl.DataFrame(series)


def _coerced(cells: list[tuple[str | None, object]], dtype: pl.DataType) -> list[object]:
    if dtype == pl.String:
        return [_as_text(kind, value) for kind, value in cells]
    if dtype == pl.Float64:
        return [float(v) if k in (FLOAT, BOOL) else None for k, v in cells]  # type: ignore[arg-type]
    if dtype == pl.Boolean:
        kind = BOOL
    elif isinstance(dtype, pl.Datetime):
        kind = DATETIME
    else:
        kind = DURATION if isinstance(dtype, pl.Duration) else None
    return [value if k == kind else None for k, value in cells]


def _header_below_titles(scan: _Scan) -> int | None:
    """The header row: the first row with values, unless it is a title (one cell, in the first
    column) above rows that fill at least two cells, then the first row filling half of them."""
    numbers = sorted(scan.rows)
    if len(numbers) < 3:
        return scan.header_row
    widths = [len(scan.rows[n]) for n in numbers[1:]]
    width = max(set(widths), key=widths.count)
    if width < 2:
        return scan.header_row
    for number in numbers[:10]:
        cells = scan.rows[number]
        if len(cells) >= max(2, (width + 1) // 2):
            return number
        if min(cells) != scan.first_col:
            break
    return scan.header_row


def _cells(row: ET.Element, ns: str) -> Iterator[tuple[int, tuple[str, str, int]]]:
    """(column index, (type, raw value, style)) of each cell of `row` that holds a value."""
    column = -1
    value_tag, inline_tag = f"{ns}v", f"{ns}is"
    for cell in row:
        if cell.tag != f"{ns}c":
            continue
        ref = cell.get("r")
        match = _CELL_REF.match(ref) if ref else None
        column = _column_index(match.group(1)) if match else column + 1
        kind = cell.get("t", "n")
        if kind == "inlineStr":
            inline = cell.find(inline_tag)
            if inline is None:
                continue
            yield column, ("str", _text(inline, ns), 0)
            continue
        value = cell.find(value_tag)
        if value is None or value.text is None or kind == "e":
            continue
        yield column, (kind, value.text, int(cell.get("s") or 0))


def _text(element: ET.Element, ns: str) -> str:
    """The text of a string item (`<si>` or `<is>`): plain `<t>` or rich-text runs, no phonetics."""
    parts = []
    for child in element:
        if child.tag == f"{ns}t":
            parts.append(child.text or "")
        elif child.tag == f"{ns}r":
            parts.extend(t.text or "" for t in child.iter(f"{ns}t"))
    return "".join(parts)


def _typed(
    cell: tuple[str, str, int] | None, shared: list[str], styles: list[str], epoch: dt.datetime
) -> tuple[str | None, object]:
    """(kind, Python value) of a scanned cell; (None, None) for a blank one."""
    if cell is None:
        return None, None
    kind, raw, style = cell
    if kind == "s":
        return STRING, shared[int(raw)]
    if kind == "str":
        return STRING, raw
    if kind == "b":
        return BOOL, raw.strip() in ("1", "true")
    if kind == "d":
        return DATETIME, dt.datetime.fromisoformat(raw.strip().rstrip("Z"))
    number = float(raw)
    number_kind = styles[style] if style < len(styles) else FLOAT
    if number_kind == DATETIME:
        # Excel's serial 60 is the 29 Feb 1900 that never was; calamine shifts earlier serials.
        days = number if epoch is _EPOCH_1904 or number >= 60 else number + 1
        return DATETIME, epoch + dt.timedelta(milliseconds=round(days * 86_400_000))
    if number_kind == DURATION:
        return DURATION, dt.timedelta(milliseconds=round(number * 86_400_000))
    return FLOAT, number


def _float_text(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    return str(int(number)) if number.is_integer() else repr(number)


def _column(name: str, cells: list[tuple[str | None, object]]) -> pl.Series:
    """A column typed the way fastexcel infers it from the same cells."""
    kinds = {kind for kind, _ in cells if kind is not None}
    values = [value for _, value in cells]
    if len(kinds) == 1 and STRING not in kinds:
        dtype = {
            FLOAT: pl.Float64,
            BOOL: pl.Boolean,
            DATETIME: pl.Datetime("ms"),
            DURATION: pl.Duration("ms"),
        }[kinds.pop()]
        return pl.Series(name, values, dtype=dtype)
    if kinds and kinds <= {FLOAT, BOOL}:
        return pl.Series(name, [None if v is None else float(v) for v in values], dtype=pl.Float64)
    return pl.Series(name, [_as_text(kind, v) for kind, v in cells], dtype=pl.String)


def _as_text(kind: str | None, value: object) -> str | None:
    if kind is None:
        return None
    if kind == FLOAT:
        return _float_text(value)
    if kind == BOOL:
        return "true" if value else "false"
    return str(value)
