"""Parquet: schema and exact row count from the footer, so a probe never reads row data."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from dat_pipeline.adapters.base import (
    Adapter,
    AdapterError,
    ProbeResult,
    check_chunk_rows,
    columns_of,
    file_label,
    reader_errors,
)

MAGIC = b"PAR1"
_FIX = "Re-write the file with a Parquet writer (polars, pyarrow, DuckDB); it may be truncated."


class ParquetAdapter(Adapter):
    name = "parquet"
    formats = ("parquet",)

    def can_handle(self, path: Path, head: bytes) -> bool:
        return head.startswith(MAGIC)

    def validate(self, path: Path) -> None:
        label = file_label(path)
        with open(path, "rb") as handle:
            head = handle.read(len(MAGIC))
            size = handle.seek(0, 2)
            handle.seek(max(size - len(MAGIC), 0))
            tail = handle.read(len(MAGIC))
        if head != MAGIC or tail != MAGIC or size < 3 * len(MAGIC):
            raise AdapterError(
                f"{label}: not a complete Parquet file (PAR1 markers missing at start or end). {_FIX}"
            )
        with reader_errors(path, None, _FIX):
            pq.read_metadata(path)

    def probe_schema(self, path: Path, table: str, sample_rows: int = 1000) -> ProbeResult:
        start = time.perf_counter()
        self.check_table(path, table)
        with reader_errors(path, table, _FIX):
            schema = pl.scan_parquet(path).collect_schema()
            rows = pq.read_metadata(path).num_rows
        return ProbeResult(
            table=table,
            status="available" if rows else "empty",
            columns=columns_of(schema),
            row_estimate=rows,
            row_estimate_exact=True,
            probe_seconds=time.perf_counter() - start,
        )

    def read(self, path: Path, table: str) -> pl.DataFrame:
        self.check_table(path, table)
        with reader_errors(path, table, _FIX):
            return pl.scan_parquet(path).collect()

    def stream(self, path: Path, table: str, chunk_rows: int = 100_000) -> Iterator[pl.DataFrame]:
        check_chunk_rows(chunk_rows)
        self.check_table(path, table)
        with reader_errors(path, table, _FIX):
            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
                yield pl.from_arrow(batch)
