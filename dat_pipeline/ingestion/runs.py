"""Ingestion runs (SPEC 2.3, 2.4): read a file or database table in chunks, apply cleaning rules,
write cleaned and rejects Parquet under `uploads/<project>/clean/`; preview the first rows.

Small inputs (at or under `DAT_SYNC_MAX_BYTES` and `DAT_SYNC_MAX_ROWS`) run in process; larger ones
are handed to a `submit` callback (the Dagster layer queues a run) and only get a job id back.
Rows in = rows kept + rows rejected, always: every chunk is checked.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl

from dat_pipeline.adapters import AdapterError, adapter_for
from dat_pipeline.adapters.database import DatabaseAdapter
from dat_pipeline.cleaning import RuleError, RuleRunner, load_rules_yaml, rule_label
from dat_pipeline.datasets.catalog import register_output
from dat_pipeline.errors import NotFoundError
from dat_pipeline.files import atomic_path, write_parquet_atomic
from dat_pipeline.ingestion import jobs
from dat_pipeline.ingestion.uploads import (
    IngestError,
    check_project,
    count_rows,
    get_upload,
    project_dir,
    upload_file,
)
from dat_pipeline.paths import relative_to_root, resolve_inside
from dat_pipeline.settings import get_settings
from dat_pipeline.sources import DatabaseSource, SourceError, get_database_source, redact
from dat_pipeline.store import ControlStore

DEFAULT_CHUNK_ROWS = 50_000
PROGRESS_STEP = 5  # percent: the job row is updated at least this often
ProgressFn = Callable[[int, int, int | None], None]


class IngestCancelled(IngestError):
    """The job was cancelled while it ran; no output was written."""


@dataclass(frozen=True)
class IngestRequest:
    """What to ingest: an upload (`kind='file'`, `source`=upload id) or a database source
    (`kind='database'`, `source`=its name), one table, and the rules as YAML text."""

    project: str
    kind: str
    source: str
    table: str | None = None
    rules_yaml: str = ""
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    mapping: dict[str, str | None] | None = None  # field mapping: source -> new name, None drops

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IngestRequest:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def default_rules(data_root: Path, project: str) -> str:
    """A project's default rules: `uploads/<project>/rules.yaml` when it exists, else none."""
    path = project_dir(data_root, project) / "rules.yaml"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def read_rules(path: Path | None) -> str:
    if path is None:
        return ""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: rules file not found")
    text = path.read_text(encoding="utf-8")
    try:
        load_rules_yaml(text)
    except RuleError as exc:
        raise IngestError(f"{path}: {exc}") from None
    return text


def _database_source(store: ControlStore, name: str) -> DatabaseSource | None:
    try:
        return get_database_source(store, name)
    except NotFoundError:
        return None


def resolve_request(
    store: ControlStore,
    data_root: Path,
    source: str,
    project: str | None,
    table: str | None = None,
    rules_yaml: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> IngestRequest:
    """Turn the SOURCE|FILE of `dat ingest run` into a request: a database source name, an upload
    id, or a file path (uploaded first; the same content is recognised by checksum)."""
    database = _database_source(store, source) if "/" not in source else None
    if database is not None:
        project = project or database.project
        if not project:
            raise IngestError(
                f"{database.label()} has no project: pass --project P (or add the source "
                "with --project)"
            )
        kind, ref = "database", database.name
    elif source.startswith("up_") and not Path(source).exists():
        upload = get_upload(store, source)
        project, kind, ref = project or upload.project, "file", upload.upload_id
    else:
        if not project:
            raise IngestError("a file needs a project: pass --project P")
        upload = upload_file(store, Path(source), project, data_root)
        kind, ref = "file", upload.upload_id
    check_project(project)
    rules = default_rules(data_root, project) if rules_yaml is None else rules_yaml
    return IngestRequest(project, kind, ref, table, rules, chunk_rows)


# -- reading ------------------------------------------------------------------------------------
@dataclass
class _Input:
    label: str
    name: str
    table: str
    size_bytes: int | None
    rows: int | None
    chunks: Callable[[int], Iterator[pl.DataFrame]]


def _file_input(path: Path, label: str, table: str | None, rows: int | None, size: int) -> _Input:
    try:
        adapter = adapter_for(path)
        tables = adapter.list_tables(path)
    except AdapterError as exc:
        raise IngestError(str(exc)) from None
    if not tables:
        raise IngestError(f"{label}: no table found in the file")
    chosen = table or tables[0]
    if chosen not in tables:
        raise IngestError(f"{label}: no table {chosen!r}; it has {tables}. Pick one with --table")
    return _Input(
        label=label,
        name=path.stem,
        table=chosen,
        size_bytes=size,
        rows=rows if len(tables) == 1 or rows is None else None,
        chunks=lambda n: adapter.stream(path, chosen, n),
    )


def open_input(
    store: ControlStore,
    data_root: Path,
    kind: str,
    ref: str,
    table: str | None,
    mapping: dict[str, str | None] | None = None,
) -> _Input:
    """The chunks of one table of an upload, a database source, or (for preview) any file,
    renamed and trimmed by the field `mapping` (source column -> new name, None drops it)."""
    item = _open_input(store, data_root, kind, ref, table)
    if not mapping:
        return item
    from dat_pipeline.dat.stages.tables import apply_mapping  # the DAT stages' mapping rules

    chunks = item.chunks

    def mapped(rows: int) -> Iterator[pl.DataFrame]:
        for chunk in chunks(rows):
            absent = [column for column in mapping if column not in chunk.columns]
            if absent:
                raise IngestError(
                    f"{item.label} table {item.table!r} has no column "
                    f"{', '.join(map(repr, absent))} that the field mapping names "
                    f"(columns: {', '.join(chunk.columns)})"
                )
            yield apply_mapping(chunk, mapping)

    return replace(item, chunks=mapped)


def _open_input(
    store: ControlStore, data_root: Path, kind: str, ref: str, table: str | None
) -> _Input:
    if kind == "database":
        source = get_database_source(store, ref)
        adapter = DatabaseAdapter(store, source)
        name = table or source.table or "query"
        return _Input(
            label=source.label(),
            name=source.name,
            table=name,
            size_bytes=None,
            rows=None,
            chunks=lambda n: adapter.stream(table, n),
        )
    if kind == "file":
        upload = get_upload(store, ref)
        path = resolve_inside(data_root, upload.path)
        return _file_input(path, upload.path, table, upload.row_count, upload.size_bytes)
    path = Path(ref)
    if not path.is_file():
        raise FileNotFoundError(
            f"{ref}: neither a file, an upload id nor a database source (see `dat sources list`)"
        )
    return _file_input(path, str(path), table, None, path.stat().st_size)


def measure(
    store: ControlStore, data_root: Path, request: IngestRequest
) -> tuple[int | None, int | None]:
    """(bytes, rows) of the input, as far as known without reading it all."""
    if request.kind == "database":
        adapter = DatabaseAdapter(store, request.source)
        try:
            probe = adapter.probe_schema(request.table)
        except (AdapterError, SourceError) as exc:
            raise IngestError(str(exc)) from None
        return None, probe.row_estimate
    upload = get_upload(store, request.source)
    rows = upload.row_count
    if rows is None:
        path = resolve_inside(data_root, upload.path)
        rows = count_rows(path, upload.tables)
    return upload.size_bytes, rows


def runs_in_process(size_bytes: int | None, rows: int | None) -> bool:
    """At or under both thresholds runs now; an unknown row count goes to the queue."""
    settings = get_settings()
    if rows is None or rows > settings.sync_max_rows:
        return False
    return size_bytes is None or size_bytes <= settings.sync_max_bytes


# -- preview --------------------------------------------------------------------------------
def preview(
    store: ControlStore,
    data_root: Path,
    source: str,
    rules_yaml: str = "",
    table: str | None = None,
    limit: int | None = None,
    mapping: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """The first rows (up to `DAT_PREVIEW_ROW_LIMIT`) with each rule's verdict and whether the row
    would be kept. Reads nothing past those rows and writes nothing."""
    limit = min(limit or get_settings().preview_row_limit, get_settings().preview_row_limit)
    if _database_source(store, source) is not None and "/" not in source:
        kind = "database"
    elif source.startswith("up_") and not Path(source).exists():
        kind = "file"
    else:
        kind = "path"
    rules = _parse_rules(rules_yaml)
    try:
        item = open_input(store, data_root, kind, source, table, mapping)
        frame = next(iter(item.chunks(limit)), pl.DataFrame()).head(limit)
        result = RuleRunner(rules).apply(frame, 0)
    except (AdapterError, SourceError) as exc:
        raise IngestError(str(exc)) from None
    except RuleError as exc:
        raise IngestError(f"{item.label}: {exc}") from None
    labels = [rule_label(rule, index) for index, rule in enumerate(rules)]
    verdicts = result.verdicts.drop("_row_number").to_dicts()
    rows = []
    for values, verdict in zip(frame.to_dicts(), verdicts, strict=True):
        kept = bool(verdict.pop("_kept"))
        rows.append({"values": values, "verdicts": verdict, "kept": kept})
    return {
        "source": item.label,
        "table": item.table,
        "columns": {name: str(dtype) for name, dtype in frame.schema.items()},
        "rules": labels,
        "rows": rows,
        "rows_shown": frame.height,
        "rows_kept": result.rows_kept,
        "rows_rejected": result.rows_rejected,
    }


def _parse_rules(rules_yaml: str) -> list:
    try:
        return load_rules_yaml(rules_yaml or "")
    except RuleError as exc:
        raise IngestError(f"rules: {exc}") from None


# -- running --------------------------------------------------------------------------------
def _output_stem(item: _Input) -> str:
    stem = item.name if item.table in (item.name, "query") else f"{item.name}__{item.table}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "table"


def _combine(parts: list[Path], target: Path, empty: pl.DataFrame) -> None:
    with atomic_path(target) as tmp:
        if parts:
            frames = [pl.scan_parquet(part) for part in parts]
            pl.concat(frames, how="vertical_relaxed").sink_parquet(tmp, compression="zstd")
        else:
            empty.write_parquet(tmp, compression="zstd")


def ingest_tables(
    store: ControlStore, data_root: Path, request: IngestRequest
) -> tuple[list[str | None], list[dict[str, str]]]:
    """The tables a request ingests and those it skips (with why): the request's table, else
    every readable table of an upload (each sheet of a workbook); a table without columns (an
    empty sheet) or that cannot be read is skipped. None stands for a source's only table."""
    if request.table is not None or request.kind != "file":
        return [request.table], []
    upload = get_upload(store, request.source)
    path = resolve_inside(data_root, upload.path)
    tables = upload.tables or [None]
    if len(tables) == 1:
        return [tables[0]], []
    adapter = adapter_for(path)
    chosen: list[str | None] = []
    skipped = []
    for table in tables:
        try:
            probe = adapter.probe_schema(path, table, 20)
        except AdapterError as exc:
            skipped.append({"table": table, "reason": str(exc)})
            continue
        if probe.columns:
            chosen.append(table)
        else:
            reason = probe.error or f"{upload.path} table {table!r} is {probe.status}"
            skipped.append({"table": table, "reason": reason})
    if not chosen:
        raise IngestError(f"{upload.path}: no readable table ({len(tables)} are empty or fail)")
    return chosen, skipped


def run_ingestion(
    store: ControlStore,
    data_root: Path,
    job_id: str,
    request: IngestRequest,
    on_progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Run a recorded job to the end: COMPLETED with the result, or FAILED/CANCELLED with the reason
    (then raises `IngestError`). Progress is stored at least every 5 %.

    Without a table, every readable table of a file is ingested, each to its own cleaned and
    rejects Parquet: the result lists them under `tables` (and `skipped`), with the row counts
    summed; with one table, `table`, `columns` and `outputs` are that table's."""
    started = time.perf_counter()
    jobs.set_status(store, job_id, jobs.RUNNING)
    jobs.append_log(store, job_id, f"started: {request.kind} {request.source}")
    clean_dir = project_dir(data_root, request.project) / "clean"
    parts_dir = clean_dir / f".parts-{job_id}"
    done: list[dict[str, Any]] = []
    try:
        rules = _parse_rules(request.rules_yaml)
        tables, skipped = ingest_tables(store, data_root, request)
        for entry in skipped:
            jobs.append_log(store, job_id, f"skipped: {entry['reason']}", "WARNING")
        items = [
            open_input(store, data_root, request.kind, request.source, table, request.mapping)
            for table in tables
        ]
        total = items[0].rows if len(items) == 1 else measure(store, data_root, request)[1]
        if total is None and request.kind == "database":
            total = measure(store, data_root, request)[1]
        chunk_rows = request.chunk_rows
        if total:
            # floor, so one chunk never spans two 5 % marks
            chunk_rows = max(1, min(chunk_rows, total // (100 // PROGRESS_STEP)))
        progress = _Progress(store, job_id, total, on_progress)
        for item in items:
            done.append(
                _ingest_table(data_root, request, item, rules, chunk_rows, parts_dir, progress)
            )
    except IngestCancelled as exc:
        jobs.append_log(store, job_id, str(exc), "WARNING")
        raise
    except (
        IngestError,
        AdapterError,
        SourceError,
        RuleError,
        FileNotFoundError,
        NotFoundError,
    ) as exc:
        message = redact(str(exc))
        jobs.append_log(store, job_id, message, "ERROR")
        jobs.set_status(store, job_id, jobs.FAILED, error=message)
        raise IngestError(message) from None
    finally:
        shutil.rmtree(parts_dir, ignore_errors=True)
    counts = {key: sum(t[key] for t in done) for key in ("rows_in", "rows_kept", "rows_rejected")}
    single = done[0] if len(done) == 1 else None
    outcome = {
        "job_id": job_id,
        "project": request.project,
        "source": items[0].label,
        "table": single["table"] if single else None,
        "rules": [rule_label(rule, index) for index, rule in enumerate(rules)],
        **counts,
        "columns": single["columns"] if single else {},
        "outputs": single["outputs"] if single else _named_outputs(done),
        "tables": done,
        "skipped": skipped,
        "duration_s": round(time.perf_counter() - started, 3),
    }
    jobs.set_progress(store, job_id, 100, counts["rows_in"])
    if not jobs.set_status(store, job_id, jobs.COMPLETED, result=outcome):
        raise IngestCancelled(f"job {job_id} was cancelled at the end; its outputs were kept")
    jobs.append_log(
        store,
        job_id,
        f"completed: {len(done)} table(s), {outcome['rows_in']} rows in, "
        f"{outcome['rows_kept']} kept, {outcome['rows_rejected']} rejected",
    )
    return outcome


def _named_outputs(tables: list[dict[str, Any]]) -> dict[str, str]:
    """The outputs of several tables in one map: `<table>.clean`, `<table>.rejects`."""
    return {
        f"{table['table']}.{kind}": path
        for table in tables
        for kind, path in table["outputs"].items()
    }


def _ingest_table(
    data_root: Path,
    request: IngestRequest,
    item: _Input,
    rules: list,
    chunk_rows: int,
    parts_dir: Path,
    progress: _Progress,
) -> dict[str, Any]:
    """Clean one table into `clean/<stem>.parquet` and `clean/<stem>.rejects.parquet`."""
    clean_dir = parts_dir.parent
    table_parts = parts_dir / _output_stem(item)
    result = _clean_chunks(item, rules, chunk_rows, table_parts, progress)
    stem = _output_stem(item)
    clean_path = clean_dir / f"{stem}.parquet"
    rejects_path = clean_dir / f"{stem}.rejects.parquet"
    _combine(result["kept_parts"], clean_path, result["empty_kept"])
    _combine(result["reject_parts"], rejects_path, result["empty_rejects"])
    register_output(data_root, "ingestion", f"{request.project}/{stem}")  # SPEC 10 view
    return {
        "table": item.table,
        "rows_in": result["rows_in"],
        "rows_kept": result["rows_kept"],
        "rows_rejected": result["rows_rejected"],
        "columns": result["columns"],
        "outputs": {
            "clean": relative_to_root(data_root, clean_path),
            "rejects": relative_to_root(data_root, rejects_path),
        },
    }


class _Progress:
    """A job's progress over all its tables: stored (and logged) at least every 5 %."""

    def __init__(
        self, store: ControlStore, job_id: str, total: int | None, on_progress: ProgressFn | None
    ):
        self.store, self.job_id, self.total, self.on_progress = store, job_id, total, on_progress
        self.rows = 0
        self.chunks = 0
        self.reported = 0

    def check_cancelled(self) -> None:
        if jobs.is_cancelled(self.store, self.job_id):
            raise IngestCancelled(f"job {self.job_id} cancelled after {self.rows} rows")

    def add(self, rows: int) -> None:
        self.rows += rows
        self.chunks += 1
        total = self.total
        percent = min(99, self.rows * 100 // total) if total else 0
        if percent >= self.reported + PROGRESS_STEP or (not total and self.chunks % 10 == 1):
            self.reported = percent - percent % PROGRESS_STEP if total else self.reported
            jobs.set_progress(self.store, self.job_id, self.reported, self.rows)
            jobs.append_log(
                self.store, self.job_id, f"progress {self.reported}% ({self.rows} rows)"
            )
            if self.on_progress is not None:
                self.on_progress(self.reported, self.rows, total)


def _clean_chunks(
    item: _Input, rules: list, chunk_rows: int, parts_dir: Path, progress: _Progress
) -> dict[str, Any]:
    runner = RuleRunner(rules)
    rows_in = rows_kept = rows_rejected = 0
    kept_parts: list[Path] = []
    reject_parts: list[Path] = []
    empty_kept = empty_rejects = pl.DataFrame()
    columns: dict[str, str] = {}
    try:
        for index, chunk in enumerate(item.chunks(chunk_rows)):
            progress.check_cancelled()
            result = runner.apply(chunk, rows_in)
            if result.rows_kept + result.rows_rejected != result.rows_in:
                raise IngestError(f"{item.label}: cleaning lost rows in chunk {index}")
            if index == 0:
                columns = {name: str(dtype) for name, dtype in chunk.schema.items()}
                empty_kept, empty_rejects = result.kept.clear(), result.rejects.clear()
            if result.kept.height:
                kept_parts.append(
                    write_parquet_atomic(parts_dir / f"kept-{index:06d}.parquet", result.kept)
                )
            if result.rejects.height:
                reject_parts.append(
                    write_parquet_atomic(parts_dir / f"rejects-{index:06d}.parquet", result.rejects)
                )
            rows_in += result.rows_in
            rows_kept += result.rows_kept
            rows_rejected += result.rows_rejected
            progress.add(result.rows_in)
    except RuleError as exc:
        raise IngestError(f"{item.label} table {item.table!r}: {exc}") from None
    except AdapterError as exc:
        raise IngestError(str(exc)) from None
    return {
        "rows_in": rows_in,
        "rows_kept": rows_kept,
        "rows_rejected": rows_rejected,
        "kept_parts": kept_parts,
        "reject_parts": reject_parts,
        "empty_kept": empty_kept,
        "empty_rejects": empty_rejects,
        "columns": columns,
    }


def ingest(
    store: ControlStore,
    data_root: Path,
    request: IngestRequest,
    submit: Callable[[IngestRequest], str],
) -> dict[str, Any]:
    """Run now when small (returns the result), else hand to `submit`, which queues the work and
    returns the job id (the Dagster run id); returns the PENDING job at once."""
    size_bytes, rows = measure(store, data_root, request)
    if runs_in_process(size_bytes, rows):
        job_id = jobs.new_job_id()
        jobs.create_job(store, job_id, "sync", request.project, request.source, request.to_dict())
        outcome = run_ingestion(store, data_root, job_id, request)
        return {"mode": "sync", "status": jobs.COMPLETED, **outcome}
    job_id = submit(request)
    job = jobs.get_job(store, job_id)
    return {
        "mode": "queued",
        "job_id": job_id,
        "status": job.status,
        "project": request.project,
        "size_bytes": size_bytes,
        "rows_estimate": rows,
    }
