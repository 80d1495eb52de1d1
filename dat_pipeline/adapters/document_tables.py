"""Tables found inside documents (PDF, Word): rows of cell text -> a String frame, shared by both."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import polars as pl

from dat_pipeline.adapters.base import (
    Adapter,
    AdapterError,
    ProbeResult,
    columns_of,
    file_label,
    missing_table,
    slices,
    unique_names,
)


def _clean(cell: object) -> str | None:
    if cell is None:
        return None
    text = " ".join(str(cell).split())
    return text or None


def frame_from_rows(rows: Sequence[Sequence[object]]) -> pl.DataFrame:
    """First row is the header (blank names become `column_N`, repeats get `_2`, `_3`); every
    value is text, whitespace collapsed, empty cells null. Short rows are padded."""
    if not rows:
        return pl.DataFrame()
    width = max(len(row) for row in rows)
    header = unique_names(
        [
            (_clean(rows[0][index]) if index < len(rows[0]) else None) or f"column_{index + 1}"
            for index in range(width)
        ]
    )
    body = [[_clean(row[i]) if i < len(row) else None for i in range(width)] for row in rows[1:]]
    columns = {name: [row[i] for row in body] for i, name in enumerate(header)}
    return pl.DataFrame(columns, schema=dict.fromkeys(header, pl.String))


class DocumentTablesAdapter(Adapter):
    """A document whose tables are extracted whole (documents are small): each table a table."""

    _fix: str

    def extract(self, path: Path) -> dict[str, list[list[object]]]:
        """Table name -> rows of cells, in document order."""
        raise NotImplementedError

    def _tables(self, path: Path) -> dict[str, list[list[object]]]:
        # One (key, tables) pair, replaced whole: probes run in threads and must not mix files.
        stat = Path(path).stat()
        key = (str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)
        cached = self._cache
        if cached is not None and cached[0] == key:
            return cached[1]
        tables = self.extract(path)
        self._cache = (key, tables)
        return tables

    _cache: tuple[tuple, dict[str, list[list[object]]]] | None = None

    def list_tables(self, path: Path) -> list[str]:
        return list(self._tables(path))

    def _rows(self, path: Path, table: str) -> list[list[object]]:
        tables = self._tables(path)
        if not tables:
            raise AdapterError(f"{file_label(path)}: no tables found in the document. {self._fix}")
        if table not in tables:
            raise missing_table(path, table, list(tables))
        return tables[table]

    def probe_schema(self, path: Path, table: str, sample_rows: int = 1000) -> ProbeResult:
        start = time.perf_counter()
        frame = self.read(path, table)
        return ProbeResult(
            table=table,
            status="available" if frame.height else "empty",
            columns=columns_of(frame.schema),
            row_estimate=frame.height,
            row_estimate_exact=True,
            probe_seconds=time.perf_counter() - start,
        )

    def read(self, path: Path, table: str) -> pl.DataFrame:
        return frame_from_rows(self._rows(path, table))

    def stream(self, path: Path, table: str, chunk_rows: int = 100_000) -> Iterator[pl.DataFrame]:
        yield from slices(self.read(path, table), chunk_rows)


def guarded(path: Path, fix: str, work: Callable[[], dict]) -> dict:
    """Run a document library call, turning its errors into an `AdapterError` naming the file."""
    try:
        return work()
    except AdapterError:
        raise
    except Exception as exc:  # the document libraries raise many types; all mean "cannot read"
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise AdapterError(f"{file_label(path)}: cannot be read ({detail}). {fix}") from exc
