"""JSON documents: an array of records is table "data"; an object gives one table per key holding one.

A small document is parsed whole. Above `WHOLE_BYTES` the document is never held in memory: ijson
(a C parser) streams its records, so a probe reads the first records only (the row count is then
an estimate from the bytes they took) and `stream` builds one frame per chunk of records. Listing
the tables of a large object document reads it through once, keeping only the keys.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import polars as pl

from dat_pipeline.adapters.base import (
    Adapter,
    AdapterError,
    ProbeResult,
    check_chunk_rows,
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
    read_head,
    utf8_path,
)

ARRAY_TABLE = "data"
# "[" or "{" followed by what can follow it in JSON, so a CSV header like "[id],[name]" is not JSON.
_JSON_START = re.compile(r'\s*(\[\s*([{\["\]\d-]|true|false|null)|\{\s*["}])')
# Any JSON value start: trusted only when the extension says .json too (a bare `42` is also text).
_VALUE_START = re.compile(r'\s*([\[{"\d-]|true|false|null)')
_FIX = "Give an array of objects, or an object whose keys hold arrays of objects."
# Documents up to this size are parsed whole (fast); larger ones are streamed (bounded memory).
WHOLE_BYTES = 8 << 20


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

    @staticmethod
    def _streamed(path: Path) -> bool:
        return Path(path).stat().st_size > WHOLE_BYTES

    @contextlib.contextmanager
    def _open(self, path: Path) -> Iterator[IO[bytes]]:
        """The document as UTF-8 bytes (decompressed, transcoded to a temp file if needed)."""
        encoding = detect_encoding(read_head(path))
        with utf8_path(path, encoding) as source, open(source, "rb") as handle:
            yield handle

    # (file, mtime, size) -> its tables: listing a large object document reads it through.
    _tables_cache: tuple[tuple, list[str]] | None = None

    def _streamed_tables(self, path: Path) -> list[str]:
        """Table names of a large document, from parser events: no value is built."""
        stat = Path(path).stat()
        key = (str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)
        cached = self._tables_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        tables = self._list_streamed(path)
        self._tables_cache = (key, tables)
        return tables

    def _list_streamed(self, path: Path) -> list[str]:
        import ijson  # only when a JSON document is read, not to detect one

        label = file_label(path)
        with self._open(path) as handle, reader_errors(path, None, _FIX):
            events = ijson.parse(handle)
            _, kind, _ = next(events)
            if kind == "start_array":
                _, first, _ = next(events)
                if first != "start_map":
                    raise AdapterError(f"{label}: JSON is not tabular: {_describe([])}. {_FIX}")
                return [ARRAY_TABLE]
            if kind != "start_map":
                raise AdapterError(f"{label}: JSON is not tabular: a single value. {_FIX}")
            tables, key, previous = [], None, None
            for prefix, kind, value in events:
                if prefix == "" and kind == "map_key":
                    key = value
                elif previous == (key, "start_array") and kind == "start_map" and key is not None:
                    tables.append(key)
                previous = (prefix, kind)
        if not tables:
            raise AdapterError(
                f"{label}: JSON is not tabular: an object with no key holding an array of "
                f"objects. {_FIX}"
            )
        return tables

    def _records(
        self, handle: IO[bytes], path: Path, table: str, buf_size: int = 64 * 1024
    ) -> Iterator[dict[str, Any]]:
        tables = self.list_tables(path)
        if table not in tables:
            raise missing_table(path, table, tables)
        import ijson

        prefix = "item" if tables == [ARRAY_TABLE] and table == ARRAY_TABLE else f"{table}.item"
        return ijson.items(handle, prefix, use_float=True, buf_size=buf_size)

    def validate(self, path: Path) -> None:
        if self._streamed(path):
            self._streamed_tables(path)
        else:
            self._load(path)

    def list_tables(self, path: Path) -> list[str]:
        if self._streamed(path):
            return self._streamed_tables(path)
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
        if self._streamed(path):
            frame, rows, exact = self._sample(path, table, sample_rows)
            encoding = detect_encoding(read_head(path))
        else:
            frame, rows, encoding = self._frame(path, table, limit=sample_rows)
            exact = True
        return ProbeResult(
            table=table,
            status="available" if rows else "empty",
            columns=columns_of(frame.schema),
            row_estimate=rows,
            row_estimate_exact=exact,
            encoding=encoding,
            probe_seconds=time.perf_counter() - start,
        )

    def _sample(self, path: Path, table: str, sample_rows: int) -> tuple[pl.DataFrame, int, bool]:
        """The first records of a large document, and the row count they suggest."""
        with self._open(path) as handle, reader_errors(path, table, _FIX):
            # Small reads: the bytes read so far measure what the sample took.
            items = self._records(handle, path, table, buf_size=4096)
            records = list(itertools.islice(items, sample_rows + 1))
            used, size = handle.tell(), Path(handle.name).stat().st_size
        frame = pl.from_dicts(records[:sample_rows], infer_schema_length=None)
        if len(records) <= sample_rows:
            return frame, len(records), True
        return frame, round(sample_rows * size / max(used, 1)), False

    def read(self, path: Path, table: str) -> pl.DataFrame:
        if self._streamed(path):
            chunks = list(self.stream(path, table))
            return pl.concat(chunks, how="diagonal_relaxed") if chunks else pl.DataFrame()
        return self._frame(path, table)[0]

    def stream(self, path: Path, table: str, chunk_rows: int = 100_000) -> Iterator[pl.DataFrame]:
        check_chunk_rows(chunk_rows)
        if not self._streamed(path):
            yield from slices(self.read(path, table), chunk_rows)
            return
        with self._open(path) as handle, reader_errors(path, table, _FIX):
            records = self._records(handle, path, table)
            while batch := list(itertools.islice(records, chunk_rows)):
                yield pl.from_dicts(batch, infer_schema_length=None)
