"""Text sniffing shared by the text formats: encoding, binary junk, bounded samples, delimiter, header.

Everything here reads a bounded number of bytes, so a 1 GB file or a 50 MB single line costs the
same as a small one. Non-UTF-8 files are transcoded to a temporary UTF-8 copy chunk by chunk, because
polars reads UTF-8 only.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HEAD_BYTES = 8 * 1024
SAMPLE_BYTES = 1 << 20
TRANSCODE_CHUNK_BYTES = 1 << 20
DELIMITERS = (",", ";", "\t", "|")
SNIFF_ROWS = 50

# Encoding names as reported in ProbeResult.encoding, and the Python codec that decodes them with
# the byte-order mark removed.
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_DECODERS = {
    "utf-8": "utf-8",
    "utf-8-sig": "utf-8-sig",
    "utf-16-le": "utf-16",
    "utf-16-be": "utf-16",
    "latin-1": "latin-1",
}
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_NUMBER = re.compile(r"^\s*[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?\s*$")


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def detect_encoding(head: bytes) -> str:
    """BOM first; else UTF-8 if the head decodes as UTF-8 (a cut multi-byte tail is fine); else Latin-1."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def decode(data: bytes, encoding: str, final: bool) -> str:
    """Decode `data` (a file prefix when not `final`), dropping the BOM and any cut trailing character."""
    decoder = codecs.getincrementaldecoder(_DECODERS[encoding])(errors="replace")
    return decoder.decode(data, final=final)


def head_text(head: bytes) -> str:
    """The head of a file as text, in its sniffed encoding."""
    return decode(head, detect_encoding(head), final=False)


def looks_like_text(head: bytes) -> bool:
    """Text has no NUL bytes (outside UTF-16) and almost no control characters; binary junk has both."""
    if not head.strip():
        return False
    encoding = detect_encoding(head)
    if not encoding.startswith("utf-16") and b"\x00" in head:
        return False
    text = decode(head, encoding, final=False)
    return len(_CONTROL.findall(text)) <= len(text) // 100


@dataclass(frozen=True)
class TextSample:
    """The complete lines at the start of a file, decoded, and how much of the file they cover."""

    text: str
    encoding: str
    complete: bool
    bytes_used: int
    file_size: int

    def estimate_rows(self, rows_in_sample: int) -> tuple[int, bool]:
        """Exact when the sample is the whole file; else scaled by bytes per row."""
        if self.complete or self.bytes_used == 0:
            return rows_in_sample, self.complete
        return round(rows_in_sample * self.file_size / self.bytes_used), False


def sample_text(path: Path, limit: int = SAMPLE_BYTES) -> TextSample:
    """Read at most `limit` bytes, sniff their encoding, keep whole lines only.

    The text is empty when line 1 is longer than `limit`: the caller decides what that means.
    """
    size = Path(path).stat().st_size
    with open(path, "rb") as handle:
        data = handle.read(limit)
    encoding = detect_encoding(data)
    complete = size <= limit
    text = decode(data, encoding, final=complete)
    if complete:
        return TextSample(text, encoding, True, size, size)
    text = text[: text.rfind("\n") + 1]
    used = len(codecs.encode(text, _DECODERS[encoding].replace("-sig", "")))
    return TextSample(text, encoding, False, used, size)


def parse_rows(text: str, delimiter: str, limit: int) -> list[tuple[int, list[str]]]:
    """Up to `limit` records as (line number where the record ends, fields), quotes respected."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows = []
    try:
        for fields in reader:
            if fields:
                rows.append((reader.line_num, fields))
            if len(rows) >= limit:
                break
    except csv.Error:
        pass  # a malformed quote late in the sample: sniff from the rows read so far
    return rows


def sniff_delimiter(text: str) -> str:
    """The candidate that splits the first lines into the same number (>1) of fields most often."""
    best, best_score = ",", (0.0, 0)
    for delimiter in DELIMITERS:
        counts = [len(fields) for _, fields in parse_rows(text, delimiter, SNIFF_ROWS)]
        if not counts:
            continue
        mode, hits = Counter(counts).most_common(1)[0]
        score = (hits / len(counts), mode)
        if mode > 1 and score > best_score:
            best, best_score = delimiter, score
    return best


def _is_number(value: str) -> bool:
    return bool(_NUMBER.match(value))


def sniff_header(rows: list[list[str]]) -> bool:
    """A first row is data, not a header, when it is numeric in every numeric column it fills.

    One row alone is taken as a header (a header-only file). A header made only of numbers over
    numeric data (years as column names) is read as data: pass the names by hand in that case.
    """
    if len(rows) < 2:
        return True
    first, data = rows[0], rows[1:]
    numeric_cells = [
        first[index]
        for index in range(len(first))
        if first[index].strip()
        and (values := [row[index] for row in data if index < len(row) and row[index].strip()])
        and all(_is_number(value) for value in values)
    ]
    return not numeric_cells or not all(_is_number(cell) for cell in numeric_cells)


@contextlib.contextmanager
def utf8_path(path: Path, encoding: str, bom_ok: bool = False) -> Iterator[Path]:
    """Yield a UTF-8 version of `path`: the file itself, or a temporary copy transcoded in chunks.

    `bom_ok` says the reader skips a UTF-8 BOM itself (polars' CSV reader does, its JSON one does not).
    """
    if encoding == "utf-8" or (bom_ok and encoding == "utf-8-sig"):
        yield Path(path)
        return
    decoder = codecs.getincrementaldecoder(_DECODERS[encoding])(errors="replace")
    with (
        tempfile.NamedTemporaryFile(prefix="dat-utf8-", suffix=Path(path).suffix) as target,
        open(path, "rb") as source,
    ):
        while chunk := source.read(TRANSCODE_CHUNK_BYTES):
            target.write(decoder.decode(chunk).encode("utf-8"))
        target.write(decoder.decode(b"", final=True).encode("utf-8"))
        target.flush()
        yield Path(target.name)
