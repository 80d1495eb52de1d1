"""The one registry that picks an adapter for a file, by content first and extension second.

Adding a format is one module with an `Adapter` subclass and one line in `_SPECIFIC`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dat_pipeline.adapters.base import (
    Adapter,
    AdapterError,
    ProbeResult,
    bounded_probe,
    file_label,
)
from dat_pipeline.adapters.delimited import DelimitedAdapter
from dat_pipeline.adapters.docx import DocxAdapter
from dat_pipeline.adapters.excel import ZIP_MAGIC, ExcelAdapter
from dat_pipeline.adapters.json_document import JsonDocumentAdapter
from dat_pipeline.adapters.ndjson import NdjsonAdapter
from dat_pipeline.adapters.parquet import ParquetAdapter
from dat_pipeline.adapters.pdf import PdfAdapter
from dat_pipeline.adapters.text import GZIP_MAGIC, is_gzip, read_head

# Formats recognised by their content (magic bytes, JSON shape), tried in this order.
_SPECIFIC: list[Adapter] = [
    ParquetAdapter(),
    ExcelAdapter(),
    NdjsonAdapter(),
    JsonDocumentAdapter(),
    PdfAdapter(),
    DocxAdapter(),
]
# Formats read from gzip content as well (the others need a seekable file on disk).
_GZIP_READERS = ("csv", "ndjson", "json")
# Any other text is tried as delimited text, the weakest claim, so it comes last.
_FALLBACK: Adapter = DelimitedAdapter()
_EXTENSION_ALIASES = {"jsonl": "ndjson", "pq": "parquet", "tab": "tsv"}


@dataclass(frozen=True)
class Detection:
    format: str | None
    adapter: str | None
    readable: bool
    reason: str | None


def registered_adapters() -> list[Adapter]:
    """Every adapter, in the order detection tries them."""
    return [*_SPECIFIC, _FALLBACK]


def get_adapter(name: str) -> Adapter:
    """The adapter called `name` (as stored in a catalog's `adapter` column)."""
    if name == "database":  # tables of a database source (`db://SOURCE/TABLE`), imported lazily
        from dat_pipeline.adapters.database import DatabaseTableAdapter

        return DatabaseTableAdapter()
    for adapter in registered_adapters():
        if adapter.name == name:
            return adapter
    names = [adapter.name for adapter in registered_adapters()]
    raise AdapterError(f"no adapter named {name!r}; registered adapters: {names}")


def _extension_format(path: Path) -> str | None:
    if path.suffix.lower() == ".gz":  # compressed text: the format is the suffix before
        path = Path(path.stem)
    suffix = path.suffix.lower().lstrip(".")
    suffix = _EXTENSION_ALIASES.get(suffix, suffix)
    known = {fmt for adapter in registered_adapters() for fmt in adapter.formats}
    return suffix if suffix in known else None


def _claims(adapter: Adapter, path: Path, head: bytes) -> bool:
    """`can_handle` that treats an adapter's own failure as "not mine": detection never raises."""
    try:
        return adapter.can_handle(path, head)
    except Exception:  # a sniffing bug in one adapter must not stop discovery of every file
        return False


def _unreadable(path: Path, extension: str | None, why: str) -> Detection:
    return Detection(extension, None, False, f"{file_label(path)}: {why}")


def detect(path: Path) -> Detection:
    """Format and adapter of `path` from its first few KB (plus a zip directory), never raising."""
    path = Path(path)
    extension = _extension_format(path)
    try:
        if not path.is_file():
            why = "not a regular file" if path.exists() else "file not found"
            return _unreadable(path, extension, f"{why}; check the path.")
        head = read_head(path)
    except PermissionError:
        return _unreadable(path, extension, "permission denied; make the file readable.")
    except OSError as exc:
        return _unreadable(path, extension, f"cannot be opened ({exc.strerror or exc}).")
    if not head.strip():
        return _unreadable(path, extension, "the file is empty; re-export it with data.")
    if head.startswith(GZIP_MAGIC):  # read_head could not inflate it
        return _unreadable(path, extension, "a damaged gzip file; compress it again.")
    specific = [adapter for adapter in _SPECIFIC if _claims(adapter, path, head)]
    if specific:
        adapter = next((a for a in specific if extension in a.formats), specific[0])
    elif _claims(_FALLBACK, path, head):
        adapter = _FALLBACK
    elif head.startswith(ZIP_MAGIC):
        return _unreadable(
            path,
            extension,
            "a zip archive that is not a readable Excel workbook (no xl/workbook.xml or a "
            "damaged zip directory); re-save it as .xlsx.",
        )
    else:
        return _unreadable(
            path,
            extension,
            "binary content in no supported format; check the file is the right one.",
        )
    found = extension if extension in adapter.formats else adapter.formats[0]
    if adapter.name not in _GZIP_READERS and is_gzip(path):
        return _unreadable(
            path, extension, f"gzip-compressed {found}; decompress it (gunzip) to read it."
        )
    reason = None
    if extension is None:
        suffix = path.suffix or "(none)"
        reason = f"{file_label(path)}: unknown extension {suffix!r}; content read as {found}."
    elif extension != found:
        reason = (
            f"{file_label(path)}: extension says {extension} but the content is {found}; "
            f"read as {found}. Rename the file to avoid surprises."
        )
    return Detection(found, adapter.name, True, reason)


def adapter_for(path: Path) -> Adapter:
    """The adapter `detect` picks; raises `AdapterError` with the reason when none reads the file."""
    detection = detect(path)
    if not detection.readable or detection.adapter is None:
        raise AdapterError(detection.reason or f"{file_label(path)}: no adapter reads this file.")
    return get_adapter(detection.adapter)


def probe_table(path: Path, table: str, timeout_s: float = 1.0) -> ProbeResult:
    """Probe one table of a file with a hard time limit, never raising (see `bounded_probe`)."""
    path = Path(path)

    def probe() -> ProbeResult:
        if not path.is_file():
            raise FileNotFoundError(f"{file_label(path)}: file not found; check the path.")
        return adapter_for(path).probe_schema(path, table)

    return bounded_probe(
        file_label(path),
        table,
        probe,
        timeout_s,
        "select it anyway to read it in full, or split the file.",
    )
