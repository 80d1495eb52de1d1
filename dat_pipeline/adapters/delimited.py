"""CSV, TSV and TXT: one table per file, delimiter, header and encoding sniffed from a bounded sample.

Ragged rows are read leniently (`truncate_ragged_lines`: extra fields dropped, missing ones null);
the probe reports them as status `partial` naming the first ragged line it saw, so nobody is surprised.
The same goes for a repeated column name (the repeats are read as `name_2`, `name_3`...) and for a
byte that is not UTF-8 (read as Latin-1, see `text.MIXED_ERRORS`). Gzip-compressed files and old
Mac line endings (CR only) are read as they are.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from dat_pipeline.adapters.base import (
    INFER_ROWS,
    AdapterError,
    HeaderRows,
    ProbeResult,
    ScannedAdapter,
    columns_of,
    file_label,
    reader_errors,
    unique_names,
)
from dat_pipeline.adapters.text import (
    SAMPLE_BYTES,
    SNIFF_ROWS,
    TextSample,
    looks_like_text,
    parse_rows,
    read_head,
    sample_text,
    sniff_delimiter,
    sniff_header,
    utf8_path,
)

_FIX = "Check the delimiter and quoting, or re-save the file as UTF-8 CSV."


@dataclass(frozen=True)
class Dialect:
    encoding: str
    separator: str
    has_header: bool
    decimal_comma: bool = False
    eol: str = "\n"
    # The header as written, when it repeats a name: the reader renames the repeats.
    header: tuple[str, ...] | None = None
    # Lines above the header (a `#` preamble, title rows) and data lines skipped below it.
    skip_lines: int = 0
    skip_after_header: int = 0

    def names(self, columns: list[str]) -> list[str]:
        """Column names as this adapter gives them: repeats suffixed `_2`, `_3`..."""
        if self.header is None or len(self.header) != len(columns):
            return columns
        return unique_names(list(self.header))


_COMMA_DECIMAL = re.compile(r"^-?\d{1,3}(\.\d{3})*,\d+$|^-?\d+,\d+$")
_POINT_DECIMAL = re.compile(r"^-?\d+\.\d+$")


def sniff_decimal_comma(rows: list[list[str]], separator: str) -> bool:
    """European exports (`;`-separated, `12,5`) use a comma as the decimal mark: read them as
    numbers. Only when no field in the sample uses a decimal point, so nothing is misread."""
    if separator == ",":
        return False
    fields = [field.strip() for row in rows for field in row]
    comma = sum(1 for f in fields if _COMMA_DECIMAL.match(f))
    point = sum(1 for f in fields if _POINT_DECIMAL.match(f))
    return comma > 0 and point == 0


class DelimitedAdapter(ScannedAdapter):
    name = "csv"
    formats = ("csv", "tsv", "txt")
    fix = _FIX
    utf8_fallback = True

    def can_handle(self, path: Path, head: bytes) -> bool:
        return looks_like_text(head)

    def validate(self, path: Path) -> None:
        head = read_head(path)
        if not head.strip():
            raise AdapterError(
                f"{file_label(path)}: the file is empty; re-export it with a header row and data."
            )
        if not looks_like_text(head):
            raise AdapterError(
                f"{file_label(path)}: the content is binary, not delimited text; "
                "check the file is the one you meant and re-export it as CSV."
            )

    def sniff(self, path: Path, header: HeaderRows | None = None) -> tuple[Dialect, TextSample]:
        """Encoding, delimiter, the header's line and whether there is one, from the first MiB of
        whole lines; `header` (table_selection's `header_rows`) overrides where the header is."""
        self.validate(path)
        sample = sample_text(path)
        if not sample.text:
            raise AdapterError(
                f"{file_label(path)}: line 1 is longer than {SAMPLE_BYTES >> 20} MiB with no "
                "line break; this is not a delimited table. Check the file and its line endings."
            )
        lines = sample.text[: 256 * 1024].split(sample.eol)
        preamble = 0 if header else _preamble_lines(lines)
        separator = sniff_delimiter(sample.eol.join(lines[preamble:])[: 64 * 1024])
        skip = header.header_row - 1 if header else preamble
        parsed = parse_rows(sample.eol.join(lines[skip:]), separator, SNIFF_ROWS)
        if header is None:
            titles = _title_rows([fields for _, fields in parsed])
            if titles:  # skip to the header's line (a header is one line)
                skip += parsed[titles][0] - 1
                parsed = parse_rows(sample.eol.join(lines[skip:]), separator, SNIFF_ROWS)
        after = header.skip_rows if header else 0
        rows = [fields for _, fields in parsed]
        rows = rows[:1] + rows[1 + after :]
        has_header = header is not None or sniff_header(rows)
        decimal_comma = sniff_decimal_comma(rows[1:] if has_header else rows, separator)
        names = rows[0] if has_header and rows else []
        repeated = len(set(names)) != len(names)
        dialect = Dialect(
            sample.encoding,
            separator,
            has_header,
            decimal_comma,
            sample.eol,
            tuple(names) if repeated else None,
            skip,
            after,
        )
        return dialect, sample

    def probe_schema(self, path: Path, table: str, sample_rows: int = 1000) -> ProbeResult:
        start = time.perf_counter()
        self.check_table(path, table)
        if not read_head(path).strip():
            return ProbeResult(
                table, "empty", [], 0, True, probe_seconds=time.perf_counter() - start
            )
        dialect, sample = self.sniff(path)
        body = sample.eol.join(sample.text.split(sample.eol)[dialect.skip_lines :])
        data = body.encode("utf-8")
        options = {
            "separator": dialect.separator,
            "has_header": dialect.has_header,
            "eol_char": dialect.eol,
            "truncate_ragged_lines": True,
            "raise_if_empty": False,
        }
        with reader_errors(path, table, _FIX):
            head = pl.read_csv(
                data,
                n_rows=sample_rows,
                infer_schema_length=sample_rows,
                decimal_comma=dialect.decimal_comma,
                with_column_names=dialect.names,
                **options,
            )
            rows = pl.read_csv(data, infer_schema=False, **options).height
        estimate, exact = sample.estimate_rows(rows)
        problem = _first_ragged_line(body, dialect, len(head.columns), sample_rows)
        problem = problem or _repeated_names(dialect, head.columns) or sample.problem
        if dialect.skip_lines and not problem:
            problem = (
                f"the header is on line {dialect.skip_lines + 1}; the {dialect.skip_lines} "
                "line(s) above it (a '#' preamble or title rows) are skipped. Set header_rows in "
                "table_selection if the header is elsewhere"
            )
        if not rows and not sample.complete:
            problem = (
                f"no complete data row in the first {SAMPLE_BYTES >> 20} MiB (line 2 is longer); "
                "columns come from the header alone, types are unknown until read."
            )
        status = "partial" if problem else ("available" if rows else "empty")
        error = f"{file_label(path)} table {table!r}: {problem}" if problem else None
        return ProbeResult(
            table=table,
            status=status,
            columns=columns_of(head.schema),
            row_estimate=estimate,
            row_estimate_exact=exact,
            error=error,
            encoding=dialect.encoding,
            probe_seconds=time.perf_counter() - start,
            header=HeaderRows(dialect.skip_lines + 1, 0) if dialect.has_header else None,
        )

    def _scan(self, source: Path, dialect: Dialect, infer: bool = True) -> pl.LazyFrame:
        return pl.scan_csv(
            source,
            separator=dialect.separator,
            has_header=dialect.has_header,
            infer_schema=infer,
            infer_schema_length=INFER_ROWS,
            decimal_comma=dialect.decimal_comma,
            eol_char=dialect.eol,
            truncate_ragged_lines=True,
            raise_if_empty=False,
            with_column_names=dialect.names,
            skip_lines=dialect.skip_lines,
            skip_rows_after_header=dialect.skip_after_header,
        )

    @contextlib.contextmanager
    def scan(
        self, path: Path, table: str, header: HeaderRows | None, repair: bool, infer: bool = True
    ) -> Iterator[pl.LazyFrame]:
        """With `infer` false every column is text exactly as written (`007`, `1,50`), read with
        the same dialect (`read(..., infer=False)`: the analysis leaves typing to its own phase)."""
        dialect, _ = self.sniff(path, header)
        with utf8_path(path, dialect.encoding, bom_ok=True, repair=repair) as source:
            yield self._scan(source, dialect, infer)


def _preamble_lines(lines: list[str]) -> int:
    """Leading `#` comment lines and blank lines (what legacy tools write above the header)."""
    count = 0
    for line in lines[:-1]:
        if line.strip() and not line.lstrip().startswith("#"):
            break
        count += 1
    return count


def _filled(fields: list[str]) -> int:
    return sum(1 for field in fields if field.strip())


def _is_title(fields: list[str]) -> bool:
    """A title row fills its first cell alone (an unnamed index column fills another one)."""
    return all(not field.strip() for field in fields[1:])


def _title_rows(rows: list[list[str]]) -> int:
    """How many leading records are titles above the header: a title fills its first cell alone
    where the table's rows fill at least two cells (and half of its width)."""
    if len(rows) < 3:
        return 0
    width = Counter(_filled(fields) for fields in rows[1:]).most_common(1)[0][0]
    if width < 2:
        return 0
    for index, fields in enumerate(rows[:10]):
        if _filled(fields) >= max(2, (width + 1) // 2):
            return index
        if not _is_title(fields):
            return 0
    return 0


def _repeated_names(dialect: Dialect, columns: list[str]) -> str | None:
    if dialect.header is None:
        return None
    renamed = [f"{new!r}" for old, new in zip(dialect.header, columns, strict=False) if old != new]
    return (
        f"the header repeats column names; the repeats are read as {', '.join(renamed)}. "
        "Rename them in the file or with column_mappings"
    )


def _first_ragged_line(text: str, dialect: Dialect, width: int, limit: int) -> str | None:
    """Describe the first sampled record whose field count differs from the header's."""
    for line, fields in parse_rows(text, dialect.separator, limit + 1):
        if len(fields) != width:
            return (
                f"line {line} has {len(fields)} fields but the table has {width}; extra fields "
                "are dropped and missing ones read as null. Fix the line to keep all values."
            )
    return None
