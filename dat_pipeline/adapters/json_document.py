"""JSON documents: an array of records is table "data"; an object gives one table per key holding one.

A JSON document has no row boundaries, so it is parsed whole (probe included) and streamed as
slices of the parsed table: for large record sets, NDJSON is the streaming format.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from dat_pipeline.adapters.base import (
    Adapter,
    AdapterError,
    ProbeResult,
    columns_of,
    file_label,
    missing_table,
    reader_errors,
    slices,
)
from dat_pipeline.adapters.ndjson import looks_like_ndjson
from dat_pipeline.adapters.text import (
    decode,
    detect_encoding,
    head_text,
    looks_like_text,
    open_source,
)

ARRAY_TABLE = "data"
# "[" or "{" followed by what can follow it in JSON, so a CSV header like "[id],[name]" is not JSON.
_JSON_START = re.compile(r'\s*(\[\s*([{\["\]\d-]|true|false|null)|\{\s*["}])')
# Any JSON value start: trusted only when the extension says .json too (a bare `42` is also text).
_VALUE_START = re.compile(r'\s*([\[{"\d-]|true|false|null)')
_FIX = "Give an array of objects, or an object whose keys hold arrays of objects."


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def _describe(document: Any) -> str:
    if isinstance(document, list):
        return "an array whose items are not all objects"
    if isinstance(document, dict):
        keys = ", ".join(list(document)[:10]) or "none"
        return f"an object with no key holding an array of objects (keys: {keys})"
    return f"a single {type(document).__name__} value"


class JsonDocumentAdapter(Adapter):
    name = "json"
    formats = ("json",)

    def can_handle(self, path: Path, head: bytes) -> bool:
        if not looks_like_text(head):
            return False
        text = head_text(head)
        named = Path(path).suffix.lower() == ".json"
        shaped = _JSON_START.match(text) or (named and _VALUE_START.match(text))
        return bool(shaped) and not looks_like_ndjson(text)

    def _load(self, path: Path) -> tuple[dict[str, list[dict[str, Any]]], str]:
        """The record arrays of the document by table name, and the encoding it was read in."""
        label = file_label(path)
        with open_source(path) as source:
            data = source.read()
        encoding = detect_encoding(data)
        try:
            document = json.loads(decode(data, encoding, final=True))
        except RecursionError:
            raise AdapterError(
                f"{label}: JSON nested too deeply (arrays or objects inside each other more than "
                f"{sys.getrecursionlimit():,} levels); this is not a table. {_FIX}"
            ) from None
        except json.JSONDecodeError as exc:
            raise AdapterError(
                f"{label}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}. "
                "Fix the document (one JSON value per file; use .ndjson for one record per line)."
            ) from exc
        if _is_records(document):
            return {ARRAY_TABLE: document}, encoding
        if isinstance(document, dict):
            tables = {key: value for key, value in document.items() if value and _is_records(value)}
            if tables:
                return tables, encoding
        raise AdapterError(f"{label}: JSON is not tabular: it is {_describe(document)}. {_FIX}")

    def validate(self, path: Path) -> None:
        self._load(path)

    def list_tables(self, path: Path) -> list[str]:
        return list(self._load(path)[0])

    def _frame(
        self, path: Path, table: str, limit: int | None = None
    ) -> tuple[pl.DataFrame, int, str]:
        """The table (its first `limit` records when given), its record count and the encoding."""
        tables, encoding = self._load(path)
        if table not in tables:
            raise missing_table(path, table, list(tables))
        records = tables[table]
        with reader_errors(path, table, _FIX):
            frame = (
                pl.from_dicts(records[:limit], infer_schema_length=None)
                if records
                else pl.DataFrame()
            )
        return frame, len(records), encoding

    def probe_schema(self, path: Path, table: str, sample_rows: int = 1000) -> ProbeResult:
        start = time.perf_counter()
        frame, rows, encoding = self._frame(path, table, limit=sample_rows)
        return ProbeResult(
            table=table,
            status="available" if rows else "empty",
            columns=columns_of(frame.schema),
            row_estimate=rows,
            row_estimate_exact=True,
            encoding=encoding,
            probe_seconds=time.perf_counter() - start,
        )

    def read(self, path: Path, table: str) -> pl.DataFrame:
        return self._frame(path, table)[0]

    def stream(self, path: Path, table: str, chunk_rows: int = 100_000) -> Iterator[pl.DataFrame]:
        return slices(self.read(path, table), chunk_rows)
