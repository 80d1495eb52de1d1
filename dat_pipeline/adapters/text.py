"""Text sniffing shared by the text formats: encoding, binary junk, bounded samples, delimiter, header.

Everything here reads a bounded number of bytes, so a 1 GB file or a 50 MB single line costs the
same as a small one. Non-UTF-8 files are transcoded to a temporary UTF-8 copy chunk by chunk, because
polars reads UTF-8 only. Gzip-compressed text is read transparently (`open_source`), and a byte that
is not valid UTF-8 in a UTF-8 file is read as its Latin-1 character (`MIXED_ERRORS`) by the probe
and the parse alike, so both see the same values.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import re
import struct
import tempfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

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
GZIP_MAGIC = b"\x1f\x8b"
# Codec error handler: an undecodable byte becomes its Latin-1 character (exports that mix UTF-8
# and Latin-1 are common); registered once, by name, for every decoder here.
MIXED_ERRORS = "dat-latin1-fallback"


def _latin1_fallback(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error(MIXED_ERRORS, _latin1_fallback)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_NUMBER = re.compile(r"^\s*[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?\s*$")


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def open_source(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed on the fly when it is gzip (`.csv.gz` and the like)."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def content_size(path: Path) -> int:
    """Bytes of content: the file size, or for gzip the size its trailer records (mod 4 GiB)."""
    size = Path(path).stat().st_size
    if size < 18 or not is_gzip(path):
        return size
    with open(path, "rb") as handle:
        handle.seek(-4, 2)
        return max(struct.unpack("<I", handle.read(4))[0], 1)


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first `size` bytes of content (decompressed for gzip; a damaged gzip gives its raw head)."""
    try:
        with open_source(path) as handle:
            return handle.read(size)
    except (OSError, EOFError, zlib.error):
        with open(path, "rb") as handle:
            return handle.read(size)


# A well-formed multi-byte UTF-8 sequence: Latin-1 text almost never holds one (it would read "Ã©").
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def detect_encoding(head: bytes) -> str:
    """BOM first; else UTF-8 if the head decodes as UTF-8 (a cut multi-byte tail is fine), or if it
    mixes UTF-8 sequences with stray bytes (read as Latin-1, see `MIXED_ERRORS`); else Latin-1."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "utf-8" if _UTF8_MULTIBYTE.search(head) else "latin-1"
    return "utf-8"


def _errors(encoding: str) -> str:
    return MIXED_ERRORS if encoding.startswith("utf-8") else "replace"


def decode(data: bytes, encoding: str, final: bool) -> str:
    """Decode `data` (a file prefix when not `final`), dropping the BOM and any cut trailing character."""
    decoder = codecs.getincrementaldecoder(_DECODERS[encoding])(errors=_errors(encoding))
    return decoder.decode(data, final=final)


def first_invalid_byte(data: bytes, encoding: str) -> str | None:
    """Where a UTF-8 `data` first holds a byte that is not UTF-8, said for people; else None."""
    if not encoding.startswith("utf-8"):
        return None
    skip = len(codecs.BOM_UTF8) if encoding == "utf-8-sig" else 0
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data[skip:], final=False)
    except UnicodeDecodeError as exc:
        start = exc.start + skip
        byte = data[start : start + 1]
        newline = b"\r" if b"\r" in data and b"\n" not in data else b"\n"
        line = data.count(newline, 0, start) + 1
        return (
            f"line {line}: byte 0x{byte.hex().upper()} is not UTF-8 (mixed encodings); it is read "
            f"as the Latin-1 character {byte.decode('latin-1')!r}. Re-save the file as UTF-8 to be sure"
        )
    return None


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
    """The complete lines at the start of a file, decoded, and how much of the file they cover.

    `eol` is the line terminator ("\r" for old Mac files, else "\n"; CRLF reads as "\n"), and
    `problem` says where the sample holds a byte its encoding cannot decode.
    """

    text: str
    encoding: str
    complete: bool
    bytes_used: int
    file_size: int
    eol: str = "\n"
    problem: str | None = None

    def estimate_rows(self, rows_in_sample: int) -> tuple[int, bool]:
        """Exact when the sample is the whole file; else scaled by bytes per row."""
        if self.complete or self.bytes_used == 0:
            return rows_in_sample, self.complete
        return round(rows_in_sample * self.file_size / self.bytes_used), False


def sample_text(path: Path, limit: int = SAMPLE_BYTES) -> TextSample:
    """Read at most `limit` bytes, sniff their encoding, keep whole lines only.

    The text is empty when line 1 is longer than `limit`: the caller decides what that means.
    """
    size = content_size(path)
    with open_source(path) as handle:
        data = handle.read(limit)
        complete = not handle.read(1)
    encoding = detect_encoding(data)
    eol = "\r" if b"\r" in data and b"\n" not in data else "\n"
    problem = first_invalid_byte(data, encoding)
    text = decode(data, encoding, final=complete)
    if complete:
        return TextSample(text, encoding, True, len(data), len(data), eol, problem)
    text = text[: text.rfind(eol) + 1]
    used = len(codecs.encode(text, _DECODERS[encoding].replace("-sig", "")))
    return TextSample(text, encoding, False, used, max(size, used), eol, problem)


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


def is_invalid_utf8(exc: BaseException) -> bool:
    """Whether a polars read failed on a byte that is not UTF-8 (then `utf8_path(repair=True)`)."""
    message = str(
        exc.__cause__ or exc
    ).lower()  # CSV: "invalid utf-8", NDJSON: "not ... valid UTF-8"
    return "valid utf-8" in message or "valid utf8" in message


@contextlib.contextmanager
def utf8_path(
    path: Path, encoding: str, bom_ok: bool = False, repair: bool = False
) -> Iterator[Path]:
    """Yield a UTF-8 version of `path`: the file itself, or a temporary copy transcoded in chunks.

    `bom_ok` says the reader skips a UTF-8 BOM itself (polars' CSV reader does, its JSON one does
    not). Gzip content is always decompressed; `repair` transcodes a UTF-8 file too, reading its
    non-UTF-8 bytes as Latin-1 (after the reader failed on one, see `is_invalid_utf8`).
    """
    plain = encoding == "utf-8" or (bom_ok and encoding == "utf-8-sig")
    if plain and not repair and not is_gzip(path):
        yield Path(path)
        return
    decoder = codecs.getincrementaldecoder(_DECODERS[encoding])(errors=_errors(encoding))
    with (
        tempfile.NamedTemporaryFile(prefix="dat-utf8-", suffix=Path(path).suffix) as target,
        open_source(path) as source,
    ):
        while chunk := source.read(TRANSCODE_CHUNK_BYTES):
            target.write(decoder.decode(chunk).encode("utf-8"))
        target.write(decoder.decode(b"", final=True).encode("utf-8"))
        target.flush()
        yield Path(target.name)
