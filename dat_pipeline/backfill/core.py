"""Windowed extraction of one configured table: sample validation, window extraction to Parquet,
plans with one grouped estimate query, and the status of every window.

`BackfillTable` binds a table's config to a SQLAlchemy engine; tests build engines from URLs,
the CLI and Dagster resolve the configured source with `engine_for_table`.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dat_pipeline.backfill import manifest
from dat_pipeline.backfill.config import BackfillTableConfig
from dat_pipeline.backfill.windows import (
    KEY_FORMATS,
    Window,
    as_utc,
    floor_to,
    latest_complete,
    window_for_key,
    windows_between,
)
from dat_pipeline.datasets.catalog import register_output
from dat_pipeline.files import atomic_path, sha256_file
from dat_pipeline.paths import resolve_inside
from dat_pipeline.reverse_etl.errors import ReverseEtlError
from dat_pipeline.reverse_etl.extract import read_frame, stream_frames, target_schema, utc_session
from dat_pipeline.reverse_etl.introspect import TableInfo, analyze_table
from dat_pipeline.reverse_etl.model import (
    ModelSpec,
    ValidationReport,
    build_model_spec,
    load_model,
    render_pandera,
    validate_frame,
)
from dat_pipeline.store import ControlStore

# Suggested parallelism never exceeds the local instance's max_concurrent_runs (dagster.yaml).
MAX_PARALLEL_RUNS = 4
TIME_KINDS = ("datetime", "date")


def engine_for_table(store: ControlStore, config: BackfillTableConfig) -> Engine:
    """The engine of a configured table's source (stored by name, or inline), read-only."""
    from dat_pipeline.sources import engine_for, make_source

    source: Any = config.source
    if isinstance(source, dict):
        source = make_source(**{"name": f"{config.name}_source", **source})
    return engine_for(store, source, read_only=True)


def window_path(data_root: Path, table_name: str, window_key: str) -> Path:
    """`<data_root>/backfill/<table>/<window>.parquet` (checked to stay under the data root)."""
    return resolve_inside(Path(data_root), f"backfill/{table_name}/{window_key}.parquet")


@dataclass(frozen=True)
class SampleVerdict:
    """Each window's sample report; the windows fit to extract, and the refused ones."""

    reports: dict[str, ValidationReport]
    passed: list[str]
    failed: dict[str, ValidationReport]


@dataclass(frozen=True)
class WindowResult:
    window: Window
    rows: int
    path: Path
    checksum: str
    duration_s: float
    record: manifest.ManifestRecord | None = None


@dataclass
class BackfillTable:
    """One configured table over one engine; introspects once, lazily."""

    config: BackfillTableConfig
    engine: Engine | None  # None: only windows and status (no database needed)
    data_root: Path
    store: ControlStore | None = None
    _info: TableInfo | None = field(default=None, repr=False)
    _spec: ModelSpec | None = field(default=None, repr=False)
    _model: type | None = field(default=None, repr=False)

    # -- catalog ------------------------------------------------------------------------------
    @property
    def info(self) -> TableInfo:
        if self._info is None:
            if self.engine is None:
                raise ReverseEtlError(f"table {self.config.name!r} has no database engine here")
            self._info = analyze_table(self.engine, self.config.table, self.config.db_schema)
            self._check_time_column(self._info)
        return self._info

    def _check_time_column(self, info: TableInfo) -> None:
        column = info.column_info(self.config.time_column)
        if column.logical.kind not in TIME_KINDS:
            candidates = [c.name for c in info.columns if c.logical.kind in TIME_KINDS]
            hint = f"time columns: {', '.join(candidates)}" if candidates else "it has none"
            raise ReverseEtlError(
                f"column {column.name!r} of table {info.qualified_name!r} is {column.sql_type}, "
                f"not a date or time column; set time_column in backfill.yaml ({hint})"
            )
        if column.logical.kind == "date" and self.config.granularity == "hourly":
            raise ReverseEtlError(
                f"column {column.name!r} of table {info.qualified_name!r} is a DATE: hourly "
                "windows need a timestamp column (use daily, weekly or monthly)"
            )

    def _connect(self) -> sa.Connection:
        assert self.engine is not None and self.info is not None  # info raises without engine
        return self.engine.connect()

    @property
    def spec(self) -> ModelSpec:
        if self._spec is None:
            self._spec = build_model_spec(self.info, self.config.constraints)
        return self._spec

    @property
    def model(self) -> type:
        if self._model is None:
            self._model = load_model(render_pandera(self.spec), self.spec.class_name)
        return self._model

    # -- SQL ----------------------------------------------------------------------------------
    def _bound(self, moment: datetime) -> Any:
        column = self.info.column_info(self.config.time_column)
        if self.info.dialect == "sqlite":
            # SQLite keeps times as text: datetime() normalizes formats and offsets to UTC.
            return moment.strftime("%Y-%m-%d %H:%M:%S")
        if column.logical.kind == "date":
            return moment.date()
        return moment if column.logical.timezone else moment.replace(tzinfo=None)

    def _time_expr(self) -> sa.ColumnElement[Any]:
        column = self.info.column(self.config.time_column)
        if self.info.dialect == "sqlite":
            return sa.func.datetime(column)
        return column

    def range_filter(self, start: datetime, end: datetime) -> sa.ColumnElement[bool]:
        """`start <= time < end`, with the bounds as bound parameters."""
        expr = self._time_expr()
        lower, upper = self._bound(as_utc(start)), self._bound(as_utc(end))
        if isinstance(lower, str):
            return sa.and_(
                expr >= sa.bindparam("window_start", lower, type_=sa.String()),
                expr < sa.bindparam("window_end", upper, type_=sa.String()),
            )
        type_ = self.info.column(self.config.time_column).type
        return sa.and_(
            expr >= sa.bindparam("window_start", lower, type_=type_),
            expr < sa.bindparam("window_end", upper, type_=type_),
        )

    # -- windows ------------------------------------------------------------------------------
    def window(self, key: str) -> Window:
        return window_for_key(self.config.granularity, key)

    def windows(
        self, start: datetime | str | None = None, end: datetime | str | None = None
    ) -> list[Window]:
        """Complete windows in [start, end); defaults: the configured start and end, or the
        latest complete window."""
        lower = as_utc(start) if start is not None else self.config.start
        if end is not None:
            upper = as_utc(end)
        else:
            upper = self.config.end or latest_complete(self.config.granularity).end
        if self.config.end is not None:
            upper = min(upper, self.config.end)
        return windows_between(self.config.granularity, max(lower, self.config.start), upper)

    # -- sample validation ------------------------------------------------------------------
    def sample(self, window: Window) -> pl.DataFrame:
        """Up to `sample_size` rows of the window (the first the database returns)."""
        with self._connect() as connection:
            return read_frame(
                connection,
                self.info,
                self.range_filter(window.start, window.end),
                limit=self.config.sample_size,
            )

    def validate_sample(self, window: Window) -> ValidationReport:
        return validate_frame(self.spec, self.sample(window), model=self.model)

    def record_refusal(
        self, window: Window, report: ValidationReport, run_id: str | None = None
    ) -> manifest.ManifestRecord | None:
        """A window refused by its sample validation is a FAILED manifest record."""
        errors = [
            f"sample validation score {report.score:.4f} is below {self.config.threshold}",
            *[
                f"{f['column']}: {f['check']} failed on {f['failing_rows']} row(s)"
                for f in report.failures
            ],
        ]
        return self._record(window, 0, None, None, 0.0, run_id, errors)

    def judge_windows(self, keys: list[str], run_id: str | None = None) -> SampleVerdict:
        """Validate the sample of each window on its own: a window below the threshold is refused
        (a FAILED manifest record of `run_id`) and only it, so one bad window never blocks the
        good ones batched with it in a run."""
        reports = {key: self.validate_sample(self.window(key)) for key in keys}
        failed = {k: r for k, r in reports.items() if not r.passed(self.config.threshold)}
        for key, report in failed.items():
            self.record_refusal(self.window(key), report, run_id=run_id)
        return SampleVerdict(reports, [k for k in keys if k not in failed], failed)

    def refused_windows(self, keys: list[str], run_id: str) -> list[str]:
        """The windows of `keys` that the sample validation of run `run_id` refused (it runs
        before the extraction in the same run, so a failed record of that run is a refusal)."""
        if self.store is None:
            return []
        latest = manifest.latest_by_window(self.store, self.config.name)
        return [
            key
            for key in keys
            if key in latest
            and latest[key].run_id == run_id
            and latest[key].status == manifest.FAILED
            and latest[key].path is None
        ]

    # -- extraction ---------------------------------------------------------------------------
    def extract(self, window: Window, run_id: str | None = None) -> WindowResult:
        """Stream the window's rows to `<data_root>/backfill/<table>/<window>.parquet`.

        The file appears atomically when complete, replacing an earlier one (never duplicates);
        a window with no rows is an empty file with the table's schema. A failure is recorded in
        the manifest and re-raised.
        """
        path = window_path(self.data_root, self.config.name, window.key)
        started = time.perf_counter()
        rows = 0
        try:
            schema = pl.DataFrame(schema=target_schema(self.info)).to_arrow().schema
            where = self.range_filter(window.start, window.end)
            with (
                self._connect() as connection,
                atomic_path(path) as tmp,
                pq.ParquetWriter(tmp, schema, compression="zstd") as writer,
            ):
                for frame in stream_frames(
                    connection, self.info, where, chunk_rows=self.config.chunk_rows
                ):
                    writer.write_table(frame.to_arrow().cast(schema))
                    rows += frame.height
        except Exception as exc:
            self._record(window, rows, None, None, time.perf_counter() - started, run_id, exc)
            raise
        duration = time.perf_counter() - started
        checksum = sha256_file(path)
        record = self._record(window, rows, path, checksum, duration, run_id, None)
        # The table's view in the warehouse covers every window written so far (SPEC 10).
        register_output(self.data_root, "backfill", self.config.name)
        return WindowResult(window, rows, path, checksum, duration, record)

    def _record(
        self,
        window: Window,
        rows: int,
        path: Path | None,
        checksum: str | None,
        duration: float,
        run_id: str | None,
        error: BaseException | list[str] | None,
    ) -> manifest.ManifestRecord | None:
        """The manifest record of one window: SUCCESS, or FAILED with `error` (an exception, or
        the reasons a window was refused)."""
        if self.store is None:
            return None
        if isinstance(error, BaseException):
            error = [f"{error.__class__.__name__}: {(str(error).splitlines() or [''])[0]}"]
        return manifest.append_record(
            self.store,
            manifest.ManifestRecord(
                manifest_id=manifest.new_manifest_id(),
                table_name=self.config.name,
                window_key=window.key,
                window_start=window.start.isoformat(),
                window_end=window.end.isoformat(),
                rows=rows,
                checksum=checksum,
                path=str(path) if path else None,
                duration_s=round(duration, 6),
                status=manifest.SUCCESS if error is None else manifest.FAILED,
                errors=error or [],
                code_version=self.config.code_version,
                run_id=run_id,
            ),
        )

    # -- plan ---------------------------------------------------------------------------------
    def count_by_window(self, windows: list[Window]) -> dict[str, int]:
        """Rows per window from the database in ONE grouped query (by hour or day buckets)."""
        if not windows:
            return {}
        # On SQLite, strftime() (behind extract) reads text times and normalizes offsets.
        column = self.info.column(self.config.time_column)
        parts = ["year", "month", "day"] + (["hour"] if self.config.granularity == "hourly" else [])
        buckets = [sa.extract(part, column).label(f"b_{part}") for part in parts]
        query = (
            sa.select(*buckets, sa.func.count().label("n"))
            .select_from(self.info.selectable())
            .where(self.range_filter(windows[0].start, windows[-1].end))
            .group_by(*buckets)
        )
        counts: Counter[str] = Counter()
        key_format = KEY_FORMATS[self.config.granularity]
        keys = {w.key for w in windows}
        with self._connect() as connection:
            utc_session(connection)
            for row in connection.execute(query):
                moment = datetime(*[int(v) for v in row[:-1]], tzinfo=UTC)
                key = floor_to(self.config.granularity, moment).strftime(key_format)
                if key in keys:
                    counts[key] += int(row[-1])
        return {w.key: counts.get(w.key, 0) for w in windows}

    def rows_without_time(self) -> int:
        column = self.info.column(self.config.time_column)
        with self._connect() as connection:
            return int(
                connection.execute(
                    sa.select(sa.func.count())
                    .select_from(self.info.selectable())
                    .where(column.is_(None))
                ).scalar_one()
            )

    def throughput(self) -> tuple[float, str]:
        """Rows per second: measured on earlier windows, or on a quick sample when there are none."""
        if self.store is not None:
            done = [
                r
                for r in manifest.records(self.store, self.config.name, limit=50)
                if r.status == manifest.SUCCESS and r.rows > 0 and r.duration_s > 0
            ]
            if done:
                return sum(r.rows for r in done) / sum(r.duration_s for r in done), "manifest"
        started = time.perf_counter()
        with self._connect() as connection:
            frame = read_frame(connection, self.info, limit=max(self.config.sample_size, 1000))
        elapsed = max(time.perf_counter() - started, 1e-6)
        return (frame.height / elapsed if frame.height else 0.0), "sample"

    def plan(self, start: datetime | str, end: datetime | str) -> dict[str, Any]:
        """Windows, estimated rows per window, estimated duration and suggested parallelism."""
        windows = self.windows(start, end)
        counts = self.count_by_window(windows)
        rate, basis = self.throughput()
        total = sum(counts.values())
        per_run = self.config.max_partitions_per_run
        runs = math.ceil(len(windows) / per_run) if windows else 0
        parallelism = max(1, min(MAX_PARALLEL_RUNS, runs))
        serial_s = total / rate if rate > 0 else None
        return {
            "table": self.config.name,
            "source_table": self.info.qualified_name,
            "granularity": self.config.granularity,
            "start": windows[0].start.isoformat() if windows else None,
            "end": windows[-1].end.isoformat() if windows else None,
            "windows": [{**w.to_json(), "estimated_rows": counts[w.key]} for w in windows],
            "window_count": len(windows),
            "estimated_rows": total,
            "rows_without_time": self.rows_without_time(),
            "throughput_rows_per_s": round(rate, 1),
            "throughput_basis": basis,
            "max_partitions_per_run": per_run,
            "runs": runs,
            "suggested_parallelism": parallelism,
            "estimated_duration_s": None if serial_s is None else round(serial_s / parallelism, 2),
        }

    # -- status -------------------------------------------------------------------------------
    def status(
        self, start: datetime | str | None = None, end: datetime | str | None = None
    ) -> dict[str, Any]:
        """Each window as done (file present, last record SUCCESS), failed, or missing."""
        windows = self.windows(start, end)
        latest = manifest.latest_by_window(self.store, self.config.name) if self.store else {}
        items = []
        for window in windows:
            record = latest.get(window.key)
            path = window_path(self.data_root, self.config.name, window.key)
            if record and record.status == manifest.SUCCESS and path.is_file():
                state = "done"
            elif record and record.status == manifest.FAILED:
                state = "failed"
            else:
                state = "missing"
            items.append(
                {
                    **window.to_json(),
                    "state": state,
                    "rows": record.rows if record and state == "done" else None,
                    "errors": record.errors if record and state == "failed" else [],
                }
            )
        summary = Counter(item["state"] for item in items)
        return {
            "table": self.config.name,
            "done": summary.get("done", 0),
            "failed": summary.get("failed", 0),
            "missing": summary.get("missing", 0),
            "windows": items,
        }
