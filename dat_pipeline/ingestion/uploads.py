"""Uploaded files (SPEC 2.1): kept under `uploads/<project>/raw/` with checksum, size, format and
row count; the same content uploaded twice to a project is recognised by its checksum."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select

from dat_pipeline.adapters import AdapterError, adapter_for, detect
from dat_pipeline.errors import DatError
from dat_pipeline.files import atomic_path, sha256_file
from dat_pipeline.names import NAME as _PROJECT
from dat_pipeline.paths import relative_to_root, resolve_inside
from dat_pipeline.store import ControlStore, utc_now
from dat_pipeline.store import schema as store_schema
from dat_pipeline.store.reads import record

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class IngestError(DatError):
    """Bad input to an ingestion (exit code 1 in the CLI): names the file, table or rule."""


@dataclass(frozen=True)
class Upload:
    upload_id: str
    project: str
    sha256: str
    filename: str
    path: str  # relative to the data root
    size_bytes: int
    format: str
    row_count: int | None
    tables: list[str]
    created_at: str
    duplicate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_name(value: str, pattern: re.Pattern[str], what: str, rule: str, example: str) -> str:
    """`value` when `pattern` matches it, else an `IngestError` saying the rule and an example."""
    if not pattern.match(value or ""):
        raise IngestError(f"{what} {value!r} is not valid: {rule}, e.g. {example!r}")
    return value


def check_project(project: str) -> str:
    rule = "lowercase letters, digits and _, starting with a letter"
    return check_name(project, _PROJECT, "project", rule, "sales")


def project_dir(data_root: Path, project: str) -> Path:
    return resolve_inside(data_root, f"uploads/{check_project(project)}")


def _upload(row: Any, duplicate: bool = False) -> Upload:
    return record(Upload, row, {"tables": []}, duplicate=duplicate)


def count_rows(path: Path, tables: list[str]) -> int:
    """Rows over every table: exact probe counts where the format has them, else a streamed count."""
    adapter = adapter_for(path)
    total = 0
    for table in tables:
        probe = adapter.probe_schema(path, table)
        if probe.row_estimate_exact and probe.row_estimate is not None:
            total += probe.row_estimate
        else:
            total += sum(chunk.height for chunk in adapter.stream(path, table))
    return total


def find_upload(store: ControlStore, project: str, sha256: str) -> Upload | None:
    row = store.row(store_schema.ingest_uploads, project=project, sha256=sha256)
    return _upload(row) if row else None


def get_upload(store: ControlStore, upload_id: str) -> Upload:
    missing = f"no upload {upload_id!r}; upload the file with `dat ingest upload`"
    return _upload(store.one(store_schema.ingest_uploads, missing, upload_id=upload_id))


def upload_file(
    store: ControlStore, source: Path, project: str, data_root: Path, count: bool = True
) -> Upload:
    """Copy `source` into `uploads/<project>/raw/` (atomically) and record it; a file whose
    checksum the project already has is not copied again (`duplicate=True`)."""
    check_project(project)
    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: file not found; check the path")
    detection = detect(source)
    if not detection.readable or detection.format is None:
        raise IngestError(detection.reason or f"{source}: no adapter reads this file")
    sha256 = sha256_file(source)
    existing = find_upload(store, project, sha256)
    if existing is not None:
        return Upload(**{**asdict(existing), "duplicate": True})
    try:
        adapter = adapter_for(source)
        adapter.validate(source)
        tables = adapter.list_tables(source)
        rows = count_rows(source, tables) if count else None
    except AdapterError as exc:
        raise IngestError(str(exc)) from None
    raw_dir = project_dir(data_root, project) / "raw"
    name = _SAFE_NAME.sub("_", source.name).lstrip(".") or "upload"
    target = raw_dir / name
    if target.exists() and sha256_file(target) != sha256:
        target = raw_dir / f"{Path(name).stem}-{sha256[:8]}{Path(name).suffix}"
    if not target.exists():
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
    upload_id = "up_" + hashlib.sha256(f"{project}\0{sha256}".encode()).hexdigest()[:16]
    values = {
        "upload_id": upload_id,
        "project": project,
        "sha256": sha256,
        "filename": source.name,
        "path": relative_to_root(data_root, target),
        "size_bytes": source.stat().st_size,
        "format": detection.format,
        "row_count": rows,
        "tables": json.dumps(tables),
        "created_at": utc_now(),
    }
    table = store_schema.ingest_uploads
    with store.write() as connection:
        row = store.row(table, connection, upload_id=upload_id)
        if row is not None:  # another process recorded the same content meanwhile
            return _upload(row, duplicate=True)
        connection.execute(insert(table).values(**values))
    return _upload(values)


def list_uploads(store: ControlStore, projects: tuple[str, ...] | None = None) -> list[Upload]:
    """The uploads of `projects` (None: every project), newest first."""
    table = store_schema.ingest_uploads
    query = select(table).order_by(table.c.created_at.desc())
    if projects is not None:
        query = query.where(table.c.project.in_(projects))
    with store.read() as connection:
        return [_upload(row._mapping) for row in connection.execute(query)]


def delete_upload(store: ControlStore, data_root: Path, upload_id: str) -> Upload:
    """Forget an upload and delete its raw file (cleaned outputs and jobs are kept)."""
    upload = get_upload(store, upload_id)
    table = store_schema.ingest_uploads
    with store.write() as connection:
        connection.execute(delete(table).where(table.c.upload_id == upload_id))
    resolve_inside(data_root, upload.path).unlink(missing_ok=True)
    return upload
