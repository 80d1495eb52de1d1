"""Analysis sources: named sets of tables kept in the control store (SPEC 4, 4.9).

A source is one of (`--from`):
- a folder (or one file) under the data root, read through the format adapters (ingestion's
  `*.rejects.parquet` files are never tables);
- a DAT dataset `ds_xxxxxxxx`: each table of its manifest (`tables`), else its `data.parquet`;
- `db://SOURCE`: each table of a registered database source, read through the database adapter,
  at most `max_rows_per_table` rows (option, default 1,000,000) of a big table, with its exact
  row count reported beside;
- `upload:PROJECT`: ingestion's clean outputs of the project (`uploads/PROJECT/clean`), rejects
  excluded.

The analysis sees every source table as raw text with a `_row_number` column (0 = first data row,
as in cleaning), so the `typing` phase decides types from the values, whatever the format claimed.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import insert, select

from dat_pipeline.adapters import AdapterError, adapter_for, detect
from dat_pipeline.adapters.delimited import DelimitedAdapter
from dat_pipeline.cleaning.rules import ROW_NUMBER
from dat_pipeline.errors import DatError, NotFoundError
from dat_pipeline.names import DATASET_ID as _DATASET_ID
from dat_pipeline.names import NAME as _SOURCE_NAME
from dat_pipeline.names import SOURCE_FILE, SOURCE_TABLE
from dat_pipeline.paths import normalize_relative, resolve_inside
from dat_pipeline.settings import get_settings
from dat_pipeline.store import ControlStore, utc_now
from dat_pipeline.store import schema as store_schema

DB_PREFIX = "db://"
UPLOAD_PREFIX = "upload:"
REJECTS_SUFFIX = ".rejects.parquet"
MAX_ROWS_PER_TABLE = 1_000_000
# Source names become partition keys, folder names and DuckDB schema names (case-insensitive).
_TABLE_NAME_CHARS = re.compile(r"[^a-z0-9_]+")


class AnalysisError(DatError):
    """Bad input to the analysis pipeline (exit code 1 in the CLI)."""


@dataclass(frozen=True)
class Source:
    name: str
    kind: str
    location: str
    follow: bool
    created_at: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TableRef:
    """Where one source table comes from: a file (relative to the data root) and a table in it."""

    name: str
    path: str
    table: str
    adapter: str


@dataclass
class SourceTables:
    """The raw text tables of a source, the files or tables that could not be read, and the
    exact row count of each table read as a bounded sample."""

    tables: dict[str, pl.DataFrame]
    refs: dict[str, TableRef]
    problems: list[dict[str, str]]
    sampled: dict[str, int] = field(default_factory=dict)


# Schemas the warehouse already uses: a source of that name would mix its views with theirs.
RESERVED_NAMES = frozenset(
    {
        "main",
        "datasets",
        "ingestion",
        "backfill",
        "information_schema",
        "pg_catalog",
        "temp",
        "system",
    }
)


def check_source_name(name: str) -> str:
    if not _SOURCE_NAME.match(name or ""):
        raise AnalysisError(
            f"source name {name!r} is not valid: use lowercase letters, digits and _, starting "
            "with a letter (at most 63 characters), e.g. 'sales_2024'"
        )
    if name in RESERVED_NAMES:
        raise AnalysisError(
            f"source name {name!r} is reserved (a warehouse schema of that name exists); "
            "pick another name"
        )
    return name


def _data_root(data_root: Path | None) -> Path:
    return Path(data_root or get_settings().data_root).resolve()


def _resolve_from(from_: str, data_root: Path, store: ControlStore) -> tuple[str, str]:
    """The kind and stored location of `--from`: a dataset id, `db://SOURCE`, `upload:PROJECT`
    or a path under the data root."""
    text = (from_ or "").strip()
    if not text:
        raise AnalysisError(
            "--from is empty: give a folder under the data root, a dataset id (ds_...), "
            "db://SOURCE or upload:PROJECT"
        )
    if _DATASET_ID.match(text):
        folder = data_root / "datasets" / text
        if not (folder / "manifest.json").is_file() and not (folder / "data.parquet").is_file():
            raise NotFoundError(
                f"dataset {text} has no manifest.json or data.parquet under {folder}; export it "
                "first (dat lock RUN export --materialize)"
            )
        return "dataset", text
    if text.startswith(DB_PREFIX):
        from dat_pipeline.sources.database import get_database_source

        name = text[len(DB_PREFIX) :].strip("/")
        get_database_source(store, name)  # NotFoundError naming the known sources
        return "database", name
    if text.startswith(UPLOAD_PREFIX):
        project = text[len(UPLOAD_PREFIX) :]
        if not _clean_outputs(project, data_root):
            raise NotFoundError(
                f"project {project!r} has no clean ingestion output under "
                f"{data_root / 'uploads' / project / 'clean'}; ingest an upload first (dat ingest)"
            )
        return "upload", project
    relative = normalize_relative(text)
    path = resolve_inside(data_root, relative)
    if path.exists():
        return "folder", relative
    if "/" not in text and "\\" not in text and "." not in text:
        raise AnalysisError(
            f"{text!r} is neither a path under the data root {data_root} nor a dataset id; "
            f"a database source is written db://{text}, a project's clean uploads upload:{text}"
        )
    raise NotFoundError(f"{text!r} does not exist under the data root {data_root}")


def _clean_outputs(project: str, data_root: Path) -> list[Path]:
    from dat_pipeline.ingestion.uploads import project_dir

    folder = project_dir(data_root, project) / "clean"
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.glob("*.parquet") if p.is_file() and not p.name.endswith(REJECTS_SUFFIX)
    )


def add_source(
    store: ControlStore,
    name: str,
    from_: str,
    follow: bool = False,
    options: dict[str, Any] | None = None,
    data_root: Path | None = None,
) -> Source:
    """Register a source; it must hold at least one readable table."""
    check_source_name(name)
    root = _data_root(data_root)
    kind, location = _resolve_from(from_, root, store)
    source = Source(name, kind, location, follow, utc_now(), dict(options or {}))
    refs, problems = table_refs(source, root)
    if not refs:
        detail = f": {problems[0]['reason']}" if problems else ""
        raise AnalysisError(f"{from_!r} holds no readable table{detail}")
    table = store_schema.analysis_sources
    with store.write() as connection:
        exists = connection.execute(select(table.c.name).where(table.c.name == name)).first()
        if exists:
            raise AnalysisError(f"source {name!r} already exists; pick another name")
        connection.execute(
            insert(table).values(
                name=name,
                kind=kind,
                location=location,
                follow=follow,
                options=json.dumps(source.options, sort_keys=True),
                created_at=source.created_at,
            )
        )
    return source


def _source_from_row(row: Any) -> Source:
    return Source(
        name=row["name"],
        kind=row["kind"],
        location=row["location"],
        follow=bool(row["follow"]),
        created_at=row["created_at"],
        options=json.loads(row["options"] or "{}"),
    )


def get_source(store: ControlStore, name: str) -> Source:
    table = store_schema.analysis_sources
    with store.read() as connection:
        row = connection.execute(select(table).where(table.c.name == name)).first()
    if row is None:
        known = [source.name for source in list_sources(store)]
        raise NotFoundError(
            f"no analysis source {name!r}; known sources: {known or 'none'} "
            "(add one with: dat analysis add-source NAME --from PATH)"
        )
    return _source_from_row(row._mapping)


def list_sources(store: ControlStore) -> list[Source]:
    table = store_schema.analysis_sources
    with store.read() as connection:
        rows = connection.execute(select(table).order_by(table.c.name))
        return [_source_from_row(row._mapping) for row in rows]


# -- tables of a source ----------------------------------------------------------------------
def _dataset_folder(source: Source, data_root: Path) -> Path:
    """The dataset folder; with `follow`, the newest dataset exported under the same name."""
    folder = data_root / "datasets" / source.location
    if not source.follow:
        return folder
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return folder
    name = json.loads(manifest.read_text(encoding="utf-8")).get("name")
    newest, newest_at = folder, ""
    for candidate in (data_root / "datasets").glob("ds_*/manifest.json"):
        try:
            body = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if body.get("name") == name and str(body.get("created_at", "")) > newest_at:
            newest, newest_at = candidate.parent, str(body.get("created_at", ""))
    return newest


def _table_name(raw: str) -> str:
    name = _TABLE_NAME_CHARS.sub("_", raw.lower()).strip("_") or "table"
    return name if name[0].isalpha() else f"t_{name}"


def _unique(name: str, taken: set[str]) -> str:
    candidate, suffix = name, 2
    while candidate in taken:
        candidate, suffix = f"{name}_{suffix}", suffix + 1
    taken.add(candidate)
    return candidate


def _dataset_tables(source: Source, data_root: Path) -> list[tuple[str, Path]]:
    """(table name, Parquet file) of each table of the dataset's manifest; a manifest without
    `tables` (or none) gives its `data.parquet`, named after the dataset."""
    folder = _dataset_folder(source, data_root)
    manifest = folder / "manifest.json"
    tables = []
    if manifest.is_file():
        try:
            tables = json.loads(manifest.read_text(encoding="utf-8")).get("tables") or []
        except (OSError, ValueError):
            tables = []
    found = []
    for table in tables:
        parquet = (table.get("files") or {}).get("parquet")
        if table.get("name") and parquet:
            found.append((str(table["name"]), resolve_inside(data_root, parquet)))
    if len(found) > 1:
        return found
    return [(_dataset_table_name(folder), folder / "data.parquet")]


def _source_files(source: Source, data_root: Path) -> list[Path]:
    """The files a file-backed source reads (a database source has none)."""
    if source.kind == "dataset":
        return [path for _, path in _dataset_tables(source, data_root)]
    if source.kind == "upload":
        return _clean_outputs(source.location, data_root)
    if source.kind == "database":
        return []
    if source.kind != "folder":
        raise AnalysisError(f"source {source.name!r} has an unknown kind {source.kind!r}")
    path = resolve_inside(data_root, source.location)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise NotFoundError(f"source {source.name!r}: {source.location!r} no longer exists")
    return sorted(
        candidate
        for candidate in path.rglob("*")
        if candidate.is_file()
        and not candidate.name.endswith(REJECTS_SUFFIX)
        and not any(part.startswith(".") for part in candidate.relative_to(path).parts)
    )


def source_bytes(source: Source, data_root: Path | None = None) -> int:
    """Bytes of the files a source reads; 0 for a database source (read as bounded samples)."""
    return sum(path.stat().st_size for path in _source_files(source, _data_root(data_root)))


def _database_refs(source: Source) -> tuple[dict[str, TableRef], list[dict[str, str]]]:
    from dat_pipeline.adapters.database import catalog_source, db_path

    try:
        tables, _snapshot = catalog_source(source.location)
    except DatError as exc:
        return {}, [{"path": f"{DB_PREFIX}{source.location}", "reason": str(exc)}]
    refs, taken = {}, set()
    for table in tables:
        name = _unique(_table_name(table), taken)
        refs[name] = TableRef(name, db_path(source.location, table), table, "database")
    return refs, []


def table_refs(
    source: Source, data_root: Path | None = None
) -> tuple[dict[str, TableRef], list[dict[str, str]]]:
    """The tables of a source, named after the file (or the sheet of a multi-sheet workbook),
    lowercased to [a-z0-9_]; plus a reason for every file that cannot be read."""
    root = _data_root(data_root)
    if source.kind == "database":
        return _database_refs(source)
    refs: dict[str, TableRef] = {}
    problems: list[dict[str, str]] = []
    taken: set[str] = set()
    dataset_names = (
        {path: name for name, path in _dataset_tables(source, root)}
        if source.kind == "dataset"
        else {}
    )
    for path in _source_files(source, root):
        relative = path.relative_to(root).as_posix()
        detection = detect(path)
        if not detection.readable or detection.adapter is None:
            problems.append({"path": relative, "reason": detection.reason or "not readable"})
            continue
        try:
            tables = adapter_for(path).list_tables(path)
        except AdapterError as exc:
            problems.append({"path": relative, "reason": str(exc)})
            continue
        for table in tables:
            if source.kind == "dataset":
                base = _table_name(dataset_names[path])
            elif len(tables) == 1:
                base = _table_name(path.stem)
            else:
                base = _table_name(table)
                if base in taken:
                    base = _table_name(f"{path.stem}_{table}")
            name = _unique(base, taken)
            refs[name] = TableRef(name, relative, table, detection.adapter)
    return refs, problems


def _dataset_table_name(folder: Path) -> str:
    manifest = folder / "manifest.json"
    if manifest.is_file():
        try:
            name = json.loads(manifest.read_text(encoding="utf-8")).get("name")
        except (OSError, ValueError):
            name = None
        if name:
            return _table_name(str(name))
    return _table_name(folder.name)


def fingerprint(source: Source, data_root: Path | None = None) -> str:
    """A hash of what the source reads: each file's path, size and modification time.

    Statting is enough to notice a changed table without reading every byte of a large source;
    a rewritten file gets a new mtime even when its size is unchanged.
    """
    root = _data_root(data_root)
    entries: list[Any] = [source.kind, source.location]
    if source.kind == "database":
        from dat_pipeline.adapters.database import catalog_source

        entries.append(catalog_source(source.location)[1])
    for path in _source_files(source, root):
        stat = path.stat()
        entries.append([path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns])
    return hashlib.sha256(json.dumps(entries).encode("utf-8")).hexdigest()[:32]


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as String; nested values as JSON text."""
    columns = []
    for name, dtype in frame.schema.items():
        if dtype == pl.String:
            columns.append(pl.col(name))
        elif dtype == pl.Binary:
            columns.append(pl.col(name).bin.encode("hex").alias(name))
        elif isinstance(dtype, pl.Struct):
            columns.append(pl.col(name).struct.json_encode().alias(name))
        elif isinstance(dtype, pl.List | pl.Array):
            encoded = pl.struct(pl.col(name).alias("v")).struct.json_encode()
            columns.append(encoded.str.slice(5, None).str.strip_suffix("}").alias(name))
        else:
            columns.append(pl.col(name).cast(pl.String))
    return frame.select(columns)


def _read_database_table(ref: TableRef, max_rows: int) -> tuple[pl.DataFrame, int | None]:
    """At most `max_rows` rows of a database table (streamed, bounded memory) and its exact
    row count when that is more."""
    from dat_pipeline.adapters.database import open_source, split_db_path

    name, table = split_db_path(ref.path)
    chunks, rows = [], 0
    with open_source(name) as adapter:
        for chunk in adapter.stream(table, chunk_rows=min(100_000, max_rows)):
            chunks.append(chunk.head(max_rows - rows))
            rows += chunks[-1].height
            if rows >= max_rows:
                break
        exact = None
        if rows >= max_rows:
            from dat_pipeline.adapters.database import _table_snapshot
            from dat_pipeline.sources.database import connect

            with connect(adapter.store, adapter.source) as connection:
                exact = _table_snapshot(connection, adapter.source, table)["rows"]
    frame = pl.concat(chunks, how="diagonal_relaxed") if chunks else pl.DataFrame()
    return _as_text(frame), exact if exact and exact > rows else None


def read_raw_table(
    ref: TableRef, data_root: Path, max_rows: int = MAX_ROWS_PER_TABLE
) -> tuple[pl.DataFrame, int | None]:
    """One source table as text with `_row_number`, and its exact row count when only a bounded
    sample of it was read; delimited files are read without inference, so `007` and `1,50` reach
    the typing phase exactly as written."""
    exact = None
    if ref.adapter == "database":
        frame, exact = _read_database_table(ref, max_rows)
        return _numbered(frame), exact
    path = data_root / ref.path
    adapter = adapter_for(path)
    if isinstance(adapter, DelimitedAdapter):
        frame = adapter.read(path, ref.table, infer=False)
    else:
        frame = _as_text(adapter.read(path, ref.table))
    return _numbered(frame), exact


def _numbered(frame: pl.DataFrame) -> pl.DataFrame:
    if ROW_NUMBER in frame.columns:
        frame = frame.rename({ROW_NUMBER: f"{ROW_NUMBER}_source"})
    return frame.with_row_index(ROW_NUMBER).with_columns(pl.col(ROW_NUMBER).cast(pl.Int64))


def read_source(source: Source, data_root: Path | None = None) -> SourceTables:
    """Every readable table of the source as raw text; unreadable ones are listed, not fatal."""
    root = _data_root(data_root)
    refs, problems = table_refs(source, root)
    max_rows = int(source.options.get("max_rows_per_table", MAX_ROWS_PER_TABLE))
    tables: dict[str, pl.DataFrame] = {}
    sampled: dict[str, int] = {}
    for name, ref in refs.items():
        try:
            tables[name], exact = read_raw_table(ref, root, max_rows)
            if source.kind == "dataset":
                tables[name] = _without_redundant_lineage(tables[name])
        except Exception as exc:  # one unreadable table never stops the others
            reason = " ".join(str(exc).split())[:300] or type(exc).__name__
            problems.append({"path": ref.path, "table": ref.table, "reason": reason})
            continue
        if exact is not None:
            sampled[name] = exact
    return SourceTables(tables, {name: refs[name] for name in tables}, problems, sampled)


def _without_redundant_lineage(frame: pl.DataFrame) -> pl.DataFrame:
    """A DAT export without the `_source_file`/`_source_table` columns that say nothing: one
    holding a single value (provenance, in the manifest already: it would put a constant column
    to investigate in every table), and `_source_table` when each file gave one table (it would
    only "map one to one" with `_source_file`). A table that unions files keeps `_source_file`."""
    schema = frame.schema
    lineage = [c for c in (SOURCE_FILE, SOURCE_TABLE) if c in schema]
    drop = [c for c in lineage if frame[c].n_unique() <= 1]
    one_table_per_file = len(lineage) == 2 and (
        frame.select(lineage).n_unique() == frame[SOURCE_FILE].n_unique()
    )
    if one_table_per_file and not drop:
        drop.append(SOURCE_TABLE)
    return frame.drop(drop)


def load_source_tables(source: Source, data_root: Path | None = None) -> dict[str, pl.DataFrame]:
    """Raw text tables of the source by name, each with `_row_number`."""
    return read_source(source, data_root).tables
