"""parse: extract every selected table, whole, to Parquet, then combine them into one dataset.

Each table is read after its column mapping and the run's cleaning rules (rejected rows go to a
rejects file) and written to `tables/<name>.parquet` in the stage's work folder. Files above
`DAT_STREAM_THRESHOLD_BYTES` are streamed chunk by chunk with bounded memory. Each table file
starts with the constant columns `_source_file` and `_source_table`. A finished table file is a
checkpoint: a cancelled, killed or failed parse keeps it, never leaves a partial one, and a re-run
resumes without redoing it. A table that cannot be read does not stop the others: parse completes
with the tables it read, and the failed ones keep status `error` and their reason in the artifact
(export records them in the manifest); `strict: true` fails the whole stage instead. Then
`dataset.parquet` holds the union of the extracted tables by column name (a hard link to the table
file when there is one table, so the rows are not written twice). The artifact has one row per
table plus a `__dataset__` row whose `output` is the combined dataset and whose `error` names the
failed tables. Progress goes to `inputs.progress` (and the log) at most once per second, and a
cancel is looked for as often (and after each table). The source checksum is taken in a thread
while the table is read.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
from polars.io.plugins import register_io_source
from pydantic import Field

from dat_pipeline.adapters.database import checksummed
from dat_pipeline.cleaning import Rule, RuleRunner
from dat_pipeline.cleaning.engine import FLAGS, REJECT_RULES
from dat_pipeline.cleaning.rules import ROW_NUMBER
from dat_pipeline.dat.stages.base import StageCancelledError, StageConfig, StageInputs, StageSpec
from dat_pipeline.dat.stages.tables import (
    SelectedTable,
    apply_mapping,
    relative_message,
    rule_label_map,
    rules_for,
    selected_tables,
    selection_rules,
)
from dat_pipeline.errors import DatError, StageConfigError
from dat_pipeline.files import atomic_path, link_atomic, sha256_file
from dat_pipeline.ids import short_hash
from dat_pipeline.names import SOURCE_FILE, SOURCE_TABLE
from dat_pipeline.paths import is_db_path, relative_to_root
from dat_pipeline.settings import get_settings

DATASET_TABLE = "__dataset__"
DATASET_FILE = "dataset.parquet"
# Key-value metadata of each table file: the checksum of the source it was extracted from, so a
# resumed table reports the file its rows really came from.
SHA_KEY = "dat.source_sha256"
# Zstandard at level 1: faster than the default level 3 and no larger on extracted tables
# (measured on two 1 GB CSVs: 12-20 % less CPU, files 2-10 % smaller).
ZSTD_LEVEL = 1

ARTIFACT_SCHEMA = {
    "path": pl.String,
    "table": pl.String,
    "status": pl.String,
    "rows": pl.Int64,
    "rows_rejected": pl.Int64,
    "output": pl.String,
    "rejects": pl.String,
    "source_sha256": pl.String,
    "seconds": pl.Float64,
    "error": pl.String,
}


class ParseConfig(StageConfig):
    chunk_rows: int = Field(
        100_000, gt=0, description="Rows per chunk when a file is streamed (bounded memory)."
    )
    workers: int = Field(
        2,
        ge=1,
        le=8,
        description="Tables extracted at the same time (each one is parallel inside already; "
        "more than one overlaps the small tables' fixed costs and the checksums).",
    )
    strict: bool = Field(
        False,
        description="Fail parse when any table fails (default: keep the tables that were read, "
        "mark the failed ones with their reason, and let export go on).",
    )


@dataclass
class TableResult:
    path: str | None
    table: str
    status: str
    rows: int | None = None
    rows_rejected: int | None = None
    output: str | None = None
    rejects: str | None = None
    source_sha256: str | None = None
    seconds: float = 0.0
    error: str | None = None


def safe_name(path: str, table: str) -> str:
    """A file name for one table: readable, and unique thanks to a hash of (path, table)."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{path}__{table}").strip("._-")[:80]
    return f"{readable}-{short_hash({'path': path, 'table': table})}"


def table_paths(work_dir: Path, path: str, table: str) -> tuple[Path, Path]:
    """Where one table's output and rejects files go."""
    name = safe_name(path, table)
    return work_dir / "tables" / f"{name}.parquet", work_dir / "rejects" / f"{name}.parquet"


def _conform(frame: pl.DataFrame, schema: pl.Schema, label: str, rows: int) -> pl.DataFrame:
    """A later chunk in the schema of the first one, or an error naming what changed."""
    if set(frame.columns) != set(schema.names()):
        raise DatError(
            f"{label}: rows {rows:,}+ have columns {frame.columns}, the first chunk had "
            f"{schema.names()}; the file is inconsistent"
        )
    try:
        return frame.select(schema.names()).cast(dict(schema))
    except pl.exceptions.PolarsError:
        changed = {
            name: f"{schema[name]} -> {dtype}"
            for name, dtype in frame.schema.items()
            if dtype != schema[name]
        }
        raise DatError(
            f"{label}: column types change after row {rows:,} ({changed}); raise parse "
            "chunk_rows or add a CAST rule for those columns"
        ) from None


class _ChunkWriter:
    """A Parquet writer opened on the first chunk (for rejects, which arrive as a side stream);
    later chunks must have the first chunk's schema."""

    def __init__(self, path: Path, label: str):
        self.path = path
        self.label = label
        self.schema: pl.Schema | None = None
        self.writer: pq.ParquetWriter | None = None
        self.compat = pl.CompatLevel.newest()
        self.rows = 0

    def write(self, frame: pl.DataFrame) -> None:
        if self.schema is None:
            self.schema = frame.schema
            # String views pass to Arrow without a copy, but pyarrow cannot write categoricals
            # over them.
            categorical = any("Categorical" in str(t) or "Enum" in str(t) for t in frame.dtypes)
            self.compat = pl.CompatLevel.oldest() if categorical else pl.CompatLevel.newest()
        elif frame.schema != self.schema:
            frame = _conform(frame, self.schema, self.label, self.rows)
        table = frame.to_arrow(compat_level=self.compat)
        if self.writer is None:
            # Dictionary encoding costs more than it saves on the high-cardinality columns of
            # extracted tables (measured: 1.6x slower, 2x larger on a 180 MB CSV).
            self.writer = pq.ParquetWriter(
                self.path,
                table.schema,
                compression="zstd",
                compression_level=ZSTD_LEVEL,
                use_dictionary=False,
            )
        self.writer.write_table(table)
        self.rows += frame.height

    def close(self, metadata: dict[str, str] | None = None) -> None:
        if self.writer is not None:
            if metadata:
                self.writer.add_key_value_metadata(metadata)
            self.writer.close()
            self.writer = None

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


_HASHES_LOCK = threading.Lock()
# Progress reports (log lines, Dagster events) are at most this often: each one is a write.
PROGRESS_INTERVAL_S = 1.0


@dataclass
class _Progress:
    """Tables done, rows and percent, reported through `inputs.progress` and `inputs.log`,
    throttled to one report per `PROGRESS_INTERVAL_S` (a finished table always reports)."""

    inputs: StageInputs
    total: int
    done: int = 0
    rows: int = 0
    last: float = float("-inf")
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _report(self, message: str, percent: float, force: bool) -> bool:
        """Report unless the last report is more recent than the interval; whether it did."""
        with self.lock:
            now = time.monotonic()
            if not force and now - self.last < PROGRESS_INTERVAL_S:
                return False
            self.last = now
            state = {
                "tables_done": self.done,
                "tables_total": self.total,
                "rows": self.rows,
                "percent": round(percent, 1),
            }
        self.inputs.log(message)
        self.inputs.progress(state)
        return True

    def chunk(self, selected: SelectedTable, rows: int, added: int) -> bool:
        """Count a chunk's rows; whether a report was due (then the caller checks for a cancel:
        a query of the control store, so at most as often as progress is reported)."""
        with self.lock:  # tables run in threads of their own
            self.rows += added
        estimate = selected.row_estimate
        fraction = min(rows / estimate, 1.0) if estimate else 0.0
        percent = 100.0 * (self.done + fraction) / max(self.total, 1)
        of = f" of ~{estimate:,}" if estimate else ""
        return self._report(
            f"parse: {selected.label}: {rows:,} rows{of}; tables {self.done}/{self.total} done, "
            f"{percent:.0f}%",
            percent,
            force=False,
        )

    def finished(self, result: TableResult) -> None:
        with self.lock:
            self.done += 1
        percent = 100.0 * self.done / max(self.total, 1)
        what = {"done": "extracted", "resumed": "resumed (already extracted)"}.get(
            result.status, f"failed: {result.error}"
        )
        self._report(
            f"parse: {result.path} table {result.table!r} {what}, {result.rows or 0:,} rows, "
            f"{result.rows_rejected or 0:,} rejected; tables {self.done}/{self.total} done, "
            f"{percent:.0f}%",
            percent,
            force=True,
        )


def _relabel(frame: pl.DataFrame, column: str, labels: dict[str, str]) -> pl.DataFrame:
    """Name rules in a list column by their place in the run's rule list, not the table's subset."""
    if column not in frame.columns or all(k == v for k, v in labels.items()):
        return frame
    return frame.with_columns(pl.col(column).list.eval(pl.element().replace(labels)))


class _Extraction:
    """Extract one table: chunks in, mapped and cleaned, written to temp files renamed at the end."""

    def __init__(
        self,
        inputs: StageInputs,
        config: ParseConfig,
        selected: SelectedTable,
        rules: Sequence[Rule],
        progress: _Progress,
    ):
        self.inputs = inputs
        self.config = config
        self.selected = selected
        self.all_rules = rules
        self.progress = progress

    def chunks(self, source: Path) -> Iterator[pl.DataFrame]:
        adapter = self.selected.reader()
        if is_db_path(self.selected.path):  # a database table always streams
            stream = adapter.stream(source, self.selected.table, self.config.chunk_rows)
            yield from checksummed(stream, self.checksum)
            return
        options = self.selected.read_options
        if source.stat().st_size > get_settings().stream_threshold_bytes:
            yielded = False
            chunks = adapter.stream(source, self.selected.table, self.config.chunk_rows, **options)
            for chunk in chunks:
                yielded = True
                yield chunk
            if yielded:
                return
        # Small file, or a stream with no chunk at all: read whole (keeps the schema of an
        # empty table).
        yield adapter.read(source, self.selected.table, **options)

    def cleaned(
        self, source: Path, stack: contextlib.ExitStack, rejects: Path
    ) -> Iterator[pl.DataFrame]:
        """The mapped, cleaned chunks of the table; rejected rows go to `rejects` on the way."""
        label = self.selected.label
        runner: RuleRunner | None = None
        labels: dict[str, str] = {}
        warns = first = True
        offset = 0
        mapping = self.selected.mapping
        for raw in self.chunks(source):
            chunk = apply_mapping(raw, mapping, where=label) if mapping else raw
            if first:
                rules = rules_for(chunk.columns, self.all_rules)
                runner = RuleRunner(rules) if rules else None
                labels = rule_label_map(chunk.columns, self.all_rules)
                warns = any(rule.severity == "warn" for rule in rules)
                first = False
            kept = chunk
            if runner is not None:
                result = runner.apply(chunk, row_offset=offset)
                kept = result.kept.drop(ROW_NUMBER)
                kept = _relabel(kept, FLAGS, labels) if warns else kept.drop(FLAGS)
                if result.rows_rejected:
                    if self.rejects_writer is None:
                        self.rejects_writer = _ChunkWriter(
                            stack.enter_context(atomic_path(rejects)), f"{label} rejects"
                        )
                        stack.callback(self.rejects_writer.abort)
                    self.rejects_writer.write(_relabel(result.rejects, REJECT_RULES, labels))
            offset += chunk.height
            yield kept
            if self.progress.chunk(self.selected, offset, chunk.height):
                self.inputs.raise_if_cancelled()

    def run(self, source: Path, output: Path, rejects: Path, checksum: Future[str]) -> TableResult:
        label = self.selected.label
        self.checksum = checksum
        rejects.unlink(missing_ok=True)  # left by an attempt killed before its output was renamed
        self.rejects_writer: _ChunkWriter | None = None
        with contextlib.ExitStack() as stack:
            tmp = stack.enter_context(atomic_path(output))
            frames = self.cleaned(source, stack, rejects)
            stack.callback(frames.close)  # on error: stop the adapter's stream too
            first = next(frames)
            schema = first.schema

            def chunks(columns: list[str] | None, *_: object) -> Iterator[pl.DataFrame]:
                # Polars drops a data column named like a source column from the projection.
                project = columns is not None and len(columns) != len(schema)
                written = 0
                for frame in itertools.chain([first], frames):
                    if frame.schema != schema:
                        frame = _conform(frame, schema, label, written)
                    written += frame.height
                    yield frame.select(columns) if project else frame

            # Polars' streaming Parquet sink pulls the chunks (bounded memory), adds the constant
            # source columns and writes them with its parallel encoder; the checksum goes into the
            # footer, written last.
            register_io_source(chunks, schema=schema).select(
                pl.lit(self.selected.path, pl.String).alias(SOURCE_FILE),
                pl.lit(self.selected.table, pl.String).alias(SOURCE_TABLE),
                pl.exclude(SOURCE_FILE, SOURCE_TABLE),
            ).sink_parquet(
                tmp,
                compression="zstd",
                compression_level=ZSTD_LEVEL,
                metadata=lambda _context: {SHA_KEY: checksum.result()},
            )
            if self.rejects_writer is not None:
                self.rejects_writer.close({SHA_KEY: checksum.result()})
        # Leaving the stack renamed rejects first, then the output: the output is the checkpoint.
        root = self.inputs.data_root
        return TableResult(
            path=self.selected.path,
            table=self.selected.table,
            status="done",
            rows=pq.ParquetFile(output).metadata.num_rows,
            rows_rejected=self.rejects_writer.rows if self.rejects_writer else 0,
            output=relative_to_root(root, output),
            rejects=relative_to_root(root, rejects) if self.rejects_writer else None,
            source_sha256=checksum.result(),
        )


def _resumed(inputs: StageInputs, selected: SelectedTable, output: Path, rejects: Path):  # type: ignore[no-untyped-def]
    """The result of a table extracted by an earlier attempt, read from its files' metadata."""
    meta = pq.ParquetFile(output).metadata
    stored = (meta.metadata or {}).get(SHA_KEY.encode())
    rejected = pq.ParquetFile(rejects).metadata.num_rows if rejects.is_file() else 0
    root = inputs.data_root
    return TableResult(
        path=selected.path,
        table=selected.table,
        status="resumed",
        rows=meta.num_rows,
        rows_rejected=rejected,
        output=relative_to_root(root, output),
        rejects=relative_to_root(root, rejects) if rejects.is_file() else None,
        source_sha256=stored.decode() if stored else None,
    )


def _parse_table(
    inputs: StageInputs,
    config: ParseConfig,
    selected: SelectedTable,
    rules: Sequence[Rule],
    progress: _Progress,
    hashes: dict[str, Future[str]],
    pool: ThreadPoolExecutor,
) -> TableResult:
    output, rejects = table_paths(inputs.work_dir, selected.path, selected.table)
    if output.is_file():
        return _resumed(inputs, selected, output, rejects)
    source = selected.source(inputs.data_root)
    database = is_db_path(selected.path)
    if not database and not source.is_file():
        raise DatError(
            f"{selected.path} is no longer in the data root; restore it, or unlock "
            "table_selection and select other tables"
        )
    if not database:
        selected.check_unchanged(source)
    # The checksum reads the file once more; hashlib releases the GIL, so it overlaps the read.
    with _HASHES_LOCK:  # tables of one file may run at the same time: hash the file once
        if selected.path not in hashes:
            # A database table's checksum is taken while its rows stream (`checksummed`).
            hashes[selected.path] = Future() if database else pool.submit(sha256_file, source)
    extraction = _Extraction(inputs, config, selected, rules, progress)
    try:
        return extraction.run(source, output, rejects, hashes[selected.path])
    except StageCancelledError:
        raise
    except Exception as exc:
        message = relative_message(str(exc), source, selected.path) or exc.__class__.__name__
        raise DatError(message) from exc


def _has_source_columns(path: Path) -> bool:
    """Whether a table file starts with the source columns (files of older runs may not)."""
    return pq.read_schema(path).names[:2] == [SOURCE_FILE, SOURCE_TABLE]


def write_dataset(target: Path, tables: Sequence[tuple[str, str, Path]]) -> int:
    """Union the table files by column name into `target` (streaming); returns its row count.

    One table is already the dataset: `target` becomes a hard link to it, not a copy.
    """
    if len(tables) == 1 and _has_source_columns(tables[0][2]):
        link_atomic(tables[0][2], target)
        return pq.ParquetFile(target).metadata.num_rows
    frames = [
        pl.scan_parquet(path).select(
            pl.lit(file, pl.String).alias(SOURCE_FILE),
            pl.lit(table, pl.String).alias(SOURCE_TABLE),
            pl.exclude(SOURCE_FILE, SOURCE_TABLE),
        )
        for file, table, path in tables
    ]
    if not frames:
        frames = [pl.LazyFrame(schema={SOURCE_FILE: pl.String, SOURCE_TABLE: pl.String})]
    with atomic_path(target) as tmp:
        try:
            pl.concat(frames, how="diagonal_relaxed").sink_parquet(
                tmp, compression="zstd", compression_level=ZSTD_LEVEL
            )
        except pl.exceptions.PolarsError as exc:
            reason = str(exc).splitlines()[0]
            raise DatError(
                f"cannot combine the parsed tables into one dataset: {reason}; give the "
                "clashing columns one type (CAST rule) or different names (column_mappings)"
            ) from None
    return pq.ParquetFile(target).metadata.num_rows


def check(inputs: StageInputs, config: ParseConfig) -> None:
    if inputs.upstream("table_selection").height == 0:
        raise StageConfigError(
            "parse has no table to extract: table_selection selected none "
            f"(lock it with tables: dat lock {inputs.run_id} table_selection --config FILE)"
        )


def compute(inputs: StageInputs, config: ParseConfig) -> pl.DataFrame:
    check(inputs, config)
    tables = selected_tables(inputs.upstream("table_selection"))
    rules = selection_rules(inputs.upstream_configs.get("table_selection"))
    progress = _Progress(inputs, total=len(tables))
    hashes: dict[str, Future[str]] = {}
    inputs.log(f"parse: {len(tables)} tables to extract into {inputs.work_dir}")

    def extract(selected: SelectedTable) -> TableResult:
        started = time.perf_counter()
        try:
            result = _parse_table(inputs, config, selected, rules, progress, hashes, pool)
        except StageCancelledError:
            raise
        except Exception as exc:  # one bad table never stops the others (SPEC 7)
            result = TableResult(selected.path, selected.table, "error", error=str(exc))
        result.seconds = round(time.perf_counter() - started, 4)
        progress.finished(result)
        inputs.raise_if_cancelled()
        return result

    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="dat-sha256") as pool,
        ThreadPoolExecutor(
            max_workers=config.workers, thread_name_prefix="dat-parse"
        ) as tables_pool,
    ):
        futures = [tables_pool.submit(extract, selected) for selected in tables]
        try:
            results = [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    failed = [r for r in results if r.status == "error"]
    detail = "; ".join(r.error or f"{r.path} table {r.table!r}" for r in failed)
    if failed and (config.strict or len(failed) == len(results)):
        why = "strict parse" if config.strict else "no table could be read"
        raise DatError(
            f"parse of run {inputs.run_id} ({why}): {len(failed)} of {len(results)} tables "
            f"failed ({detail}); the {len(results) - len(failed)} completed tables are kept: fix "
            f"the cause and re-run (dat materialize {inputs.run_id} --stage parse)"
        )
    if failed:
        inputs.log(
            f"parse: {len(failed)} of {len(results)} tables failed and are left out ({detail}); "
            "the others go on to export (set strict: true to fail instead)"
        )
    started = time.perf_counter()
    dataset = inputs.work_dir / DATASET_FILE
    root = inputs.data_root
    rows = write_dataset(
        dataset,
        [
            (r.path, r.table, root / r.output)
            for r in results
            if r.path and r.output and not r.error
        ],
    )
    inputs.log(f"parse: dataset {relative_to_root(root, dataset)} written, {rows:,} rows")
    results.append(
        TableResult(
            path=None,
            table=DATASET_TABLE,
            status="done",
            rows=rows,
            rows_rejected=sum(r.rows_rejected or 0 for r in results),
            output=relative_to_root(root, dataset),
            seconds=round(time.perf_counter() - started, 4),
            error=f"{len(failed)} of {len(results)} tables failed: {detail}" if failed else None,
        )
    )
    return pl.DataFrame(
        [tuple(getattr(r, name) for name in ARTIFACT_SCHEMA) for r in results],
        schema=ARTIFACT_SCHEMA,
        orient="row",
    )


def dataset_file(artifact: pl.DataFrame) -> str:
    """The combined dataset of a parse artifact, relative to the data root."""
    rows = artifact.filter(pl.col("table") == DATASET_TABLE)
    if rows.height != 1:
        raise DatError("the parse artifact has no combined dataset row; re-run parse")
    return rows.item(0, "output")


def table_rows(artifact: pl.DataFrame) -> pl.DataFrame:
    """The per-table rows of a parse artifact (without the combined dataset row)."""
    return artifact.filter(pl.col("table") != DATASET_TABLE)


def failed_tables(artifact: pl.DataFrame) -> list[dict[str, str]]:
    """The tables parse could not read, with their reasons (for the manifest and the metadata)."""
    failed = table_rows(artifact).filter(pl.col("status") == "error")
    return [
        {"path": row["path"], "table": row["table"], "error": row["error"]}
        for row in failed.iter_rows(named=True)
    ]


SPEC = StageSpec(
    name="parse",
    config_model=ParseConfig,
    compute=compute,
    check=check,
    description=__doc__ or "",
)
