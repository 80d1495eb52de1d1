"""The one interface every format adapter implements, and the result types they share.

Adapters have no Dagster import: the stages and assets call them, and they are tested alone.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

PROBE_STATUSES = ("available", "partial", "empty", "missing", "error")
# Schema inference depth for full reads of text formats: deeper than polars' 100 rows so a late
# "n/a" in a numeric column does not fail a whole parse, bounded so inference stays cheap.
INFER_ROWS = 10_000
_log = logging.getLogger(__name__)


class AdapterError(Exception):
    """A file cannot be read as claimed; the message names the file (and table/line) and the fix."""


class MissingTableError(AdapterError):
    """The file exists but holds no table of that name (probe status `missing`)."""


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    dtype: str


@dataclass(frozen=True)
class HeaderRows:
    """Where a table's header is: `header_row` is its line (1-based, as a spreadsheet shows it;
    the lines above are skipped) and `skip_rows` the lines right below it to skip (units, dashes)."""

    header_row: int = 1
    skip_rows: int = 0


@dataclass
class ProbeResult:
    table: str
    status: str
    columns: list[ColumnInfo]
    row_estimate: int | None
    row_estimate_exact: bool
    error: str | None = None
    encoding: str | None = None
    probe_seconds: float = 0.0
    # Where the probe found the header (preamble and title rows above it are skipped).
    header: HeaderRows | None = None

    def __post_init__(self) -> None:
        if self.status not in PROBE_STATUSES:
            raise ValueError(f"probe status {self.status!r} is not one of {PROBE_STATUSES}")


def missing_table(path: Path, table: str, tables: list[str]) -> MissingTableError:
    return MissingTableError(
        f"{file_label(path)}: no table {table!r}; it has {tables}. "
        "Pick one of those (re-run table_availability if the file changed)."
    )


def columns_of(schema: pl.Schema | dict[str, pl.DataType]) -> list[ColumnInfo]:
    """Turn a polars schema into `ColumnInfo`s, dtype spelled the way polars prints it."""
    return [ColumnInfo(name=name, dtype=str(dtype)) for name, dtype in schema.items()]


def table_stem(path: Path) -> str:
    """The table name of a one-table file: its stem, compression suffix dropped (`a.csv.gz`: `a`)."""
    path = Path(path)
    return Path(path.stem).stem if path.suffix.lower() == ".gz" else path.stem


def unique_names(names: list[str]) -> list[str]:
    """Column names made unique: a repeated name becomes `name_2`, `name_3`... in order."""
    result: list[str] = []
    for name in names:
        candidate, suffix = name, 2
        while candidate in result:
            candidate, suffix = f"{name}_{suffix}", suffix + 1
        result.append(candidate)
    return result


def file_label(path: Path) -> str:
    """How a file is named in messages: the path as the caller gave it (usually relative)."""
    return str(path)


@contextlib.contextmanager
def reader_errors(path: Path, table: str | None, fix: str) -> Iterator[None]:
    """Turn a library's error while reading into an `AdapterError` naming file, table and fix."""
    try:
        yield
    except AdapterError:
        raise
    except Exception as exc:  # the reading libraries raise many types; all mean "cannot read this"
        detail = " ".join(str(exc).split())[:500]
        where = file_label(path) if table is None else f"{file_label(path)} table {table!r}"
        raise AdapterError(f"{where}: {detail}. {fix}") from exc


def slices(frame: pl.DataFrame, chunk_rows: int) -> Iterator[pl.DataFrame]:
    """Yield `frame` in chunks, for formats whose reader cannot stream (the frame is zero-copy sliced)."""
    check_chunk_rows(chunk_rows)
    for offset in range(0, frame.height, chunk_rows):
        yield frame.slice(offset, chunk_rows)


def check_chunk_rows(chunk_rows: int) -> None:
    """Fail fast on a chunk size that would loop forever or yield nothing."""
    if chunk_rows <= 0:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")


class Adapter(ABC):
    """One file format: recognise it, list its tables, probe them cheaply, read or stream them.

    Single-table formats (CSV, Parquet, NDJSON) name their one table after the file stem.
    """

    name: str
    formats: tuple[str, ...]

    @abstractmethod
    def can_handle(self, path: Path, head: bytes) -> bool:
        """Whether the first bytes of the file (`head`, a few KB) are this format's content."""

    @abstractmethod
    def validate(self, path: Path) -> None:
        """Raise `AdapterError` when the file is corrupt or not really this format."""

    def list_tables(self, path: Path) -> list[str]:
        """One table named after the file; multi-table formats override. Problems surface in probe."""
        return [table_stem(path)]

    @abstractmethod
    def probe_schema(self, path: Path, table: str, sample_rows: int = 1000) -> ProbeResult:
        """Columns, types and a row estimate from metadata and a bounded sample, never the whole file."""

    @abstractmethod
    def read(self, path: Path, table: str) -> pl.DataFrame:
        """The whole table."""

    @abstractmethod
    def stream(self, path: Path, table: str, chunk_rows: int = 100_000) -> Iterator[pl.DataFrame]:
        """The table in chunks of at most `chunk_rows` rows; concatenated they equal `read`."""

    def check_table(self, path: Path, table: str) -> None:
        """Raise `MissingTableError` unless `table` is one of `list_tables(path)`."""
        tables = self.list_tables(path)
        if table not in tables:
            raise missing_table(path, table, tables)


class ScannedAdapter(Adapter):
    """A format polars scans lazily (CSV, NDJSON, Parquet): `read` collects the scan, `stream`
    collects it in batches; a subclass gives `scan` and the `fix` its read errors advise.

    A text format (`utf8_fallback`) whose reader fails on a byte that is not UTF-8 (past the
    sampled head that chose the encoding) goes on from the same row in a copy where such a byte
    reads as its Latin-1 character, as the probe reads it, and logs a warning naming the file.
    """

    fix: str = ""
    utf8_fallback = False

    @abstractmethod
    def scan(
        self, path: Path, table: str, header: HeaderRows | None, repair: bool, **options: Any
    ) -> contextlib.AbstractContextManager[pl.LazyFrame]:
        """The table as a lazy frame, valid inside the context (which may hold a temp file);
        `repair` reads non-UTF-8 bytes of a text file as Latin-1; `options` are the format's
        own (what `read` was given)."""

    def read(
        self, path: Path, table: str, header: HeaderRows | None = None, **options: Any
    ) -> pl.DataFrame:
        return pl.concat(list(self._collect(path, table, header, None, options)))

    def stream(
        self,
        path: Path,
        table: str,
        chunk_rows: int = 100_000,
        header: HeaderRows | None = None,
    ) -> Iterator[pl.DataFrame]:
        check_chunk_rows(chunk_rows)
        yield from self._collect(path, table, header, chunk_rows, {})

    def _collect(
        self,
        path: Path,
        table: str,
        header: HeaderRows | None,
        chunk_rows: int | None,
        options: dict[str, Any],
    ) -> Iterator[pl.DataFrame]:
        """The whole table (`chunk_rows` None) or its batches, from the first failing row again
        in a repaired copy when a byte is not UTF-8 (the rows before are the same)."""
        from dat_pipeline.adapters.text import is_invalid_utf8

        self.check_table(path, table)
        done = 0
        for repair in (False, True):
            try:
                with (
                    self.scan(path, table, header, repair, **options) as frame,
                    reader_errors(path, table, self.fix),
                ):
                    frame = frame.slice(done) if done else frame
                    if chunk_rows is None:
                        yield frame.collect()
                        return
                    for chunk in frame.collect_batches(chunk_size=chunk_rows):
                        done += chunk.height
                        yield chunk
                return
            except AdapterError as exc:
                if repair or not self.utf8_fallback or not is_invalid_utf8(exc):
                    raise
                _log.warning(
                    "%s table %r: a byte is not UTF-8 (mixed encodings); it is read as Latin-1. "
                    "Re-save the file as UTF-8 to be sure",
                    file_label(path),
                    table,
                )


# The error of a probe cut off by its time limit starts with this (stages look for it).
PROBE_TIMEOUT = "probe timeout"


def bounded_probe(
    label: str, table: str, probe: Callable[[], ProbeResult], timeout_s: float, advice: str
) -> ProbeResult:
    """`probe()` with a hard time limit, never raising: failures become status `error` (or
    `missing`), a probe over `timeout_s` is `error` with PROBE_TIMEOUT and `advice`.

    The probe runs in a daemon thread that is abandoned, not killed, on timeout; probes read bounded
    samples, so the abandoned work is bounded too.
    """
    start = time.perf_counter()
    results: list[ProbeResult] = []
    errors: list[Exception] = []

    def work() -> None:
        try:
            results.append(probe())
        except Exception as exc:
            errors.append(exc)

    worker = threading.Thread(target=work, name=f"probe {Path(label).name}:{table}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        return _failed(
            table,
            "error",
            f"{PROBE_TIMEOUT}: {label} table {table!r} took over {timeout_s:g} s; {advice}",
            start,
        )
    if errors:
        error = errors[0]
        if isinstance(error, MissingTableError | FileNotFoundError):
            return _failed(table, "missing", str(error), start)
        if isinstance(error, AdapterError):
            return _failed(table, "error", str(error), start)
        message = f"{label} table {table!r}: {type(error).__name__}: {error}"
        return _failed(table, "error", message, start)
    result = results[0]
    result.table = table
    result.probe_seconds = time.perf_counter() - start
    return result


def _failed(table: str, status: str, message: str, start: float) -> ProbeResult:
    return ProbeResult(
        table=table,
        status=status,
        columns=[],
        row_estimate=None,
        row_estimate_exact=False,
        error=message,
        probe_seconds=time.perf_counter() - start,
    )
