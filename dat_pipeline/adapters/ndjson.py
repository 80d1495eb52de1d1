"""NDJSON (JSON Lines): one record per line, one table per file, scanned and streamed by polars."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
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
)
from dat_pipeline.adapters.text import (
    detect_encoding,
    head_text,
    looks_like_text,
    read_head,
    sample_text,
    utf8_path,
)

EXTENSIONS = (".ndjson", ".jsonl")
_FIX = "Each line must be one JSON object; fix or remove the bad line."


def _is_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def looks_like_ndjson(text: str) -> bool:
    """Two leading non-blank lines that are each a whole JSON object: a document would not parse so."""
    lines = [line for line in text.splitlines()[:3] if line.strip()]
    return len(lines) >= 2 and _is_object(lines[0]) and lines[1].lstrip().startswith("{")


class NdjsonAdapter(ScannedAdapter):
    name = "ndjson"
    formats = ("ndjson",)
    fix = _FIX
    utf8_fallback = True

    def can_handle(self, path: Path, head: bytes) -> bool:
        if not looks_like_text(head):
            return False
        text = head_text(head)
        named = Path(path).suffix.lower() in EXTENSIONS
        return looks_like_ndjson(text) or (named and text.lstrip().startswith("{"))

    def validate(self, path: Path) -> None:
        label = file_label(path)
        if not looks_like_text(read_head(path)):
            raise AdapterError(f"{label}: empty or binary, not JSON lines. {_FIX}")
        first = next((line for line in sample_text(path).text.splitlines() if line.strip()), "")
        if not _is_object(first):
            raise AdapterError(f"{label}: line 1 is not a whole JSON object. {_FIX}")

    def probe_schema(self, path: Path, table: str, sample_rows: int = 1000) -> ProbeResult:
        start = time.perf_counter()
        self.check_table(path, table)
        sample = sample_text(path)
        lines = [line for line in sample.text.splitlines() if line.strip()]
        with reader_errors(path, table, _FIX):
            head = pl.read_ndjson("\n".join(lines[:sample_rows]).encode("utf-8"))
        estimate, exact = sample.estimate_rows(len(lines))
        problem = sample.problem  # a byte that is not UTF-8, read as Latin-1
        return ProbeResult(
            table=table,
            status="partial" if problem else ("available" if lines else "empty"),
            error=f"{file_label(path)} table {table!r}: {problem}" if problem else None,
            columns=columns_of(head.schema),
            row_estimate=estimate,
            row_estimate_exact=exact,
            encoding=sample.encoding,
            probe_seconds=time.perf_counter() - start,
        )

    @contextlib.contextmanager
    def scan(
        self, path: Path, table: str, header: HeaderRows | None, repair: bool
    ) -> Iterator[pl.LazyFrame]:
        encoding = detect_encoding(read_head(path))
        with utf8_path(path, encoding, repair=repair) as source:
            yield pl.scan_ndjson(source, infer_schema_length=INFER_ROWS)
