"""The one catalog of datasets (SPEC 10): every dataset the product wrote, found where it lives.

Each is a DuckDB view in `data/warehouse.duckdb`, one schema per kind, so it can be queried:
- `dat`: each table of a DAT export (`datasets/<ds>/manifest.json`); id `ds_...` (or
  `ds_...__<table>` in a multi-table dataset), view `datasets."<id>"`;
- `ingestion`: each clean output (`uploads/<project>/clean/<name>.parquet`); id
  `ingestion:<project>/<name>`, view `ingestion."<project>__<name>"`;
- `backfill`: each backfill table with all its windows (`backfill/<table>/*.parquet`); id
  `backfill:<table>`, view `backfill."<table>"`;
- `analysis`: an analysis source's results (`analysis/<source>/<phase>/`); id
  `analysis:<source>`, one view per result, `"<source>"."<phase>__<table>"` (the runner's).

The catalog reads files and manifests only (no store): the projects of runs and analysis sources
are passed in by the caller that knows them. `register_output` keeps the views of ingestion
outputs and backfill tables current as they are written (`sync_views` redoes them all); DAT
exports and analysis results register their own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from dat_pipeline.dat.warehouse import qualified, register_views, view_name
from dat_pipeline.errors import DatError, NotFoundError
from dat_pipeline.names import DEFAULT_PROJECT

KINDS = ("dat", "ingestion", "backfill", "analysis")
SCHEMAS = {"dat": "datasets", "ingestion": "ingestion", "backfill": "backfill"}
_REJECTS = ".rejects.parquet"
WAREHOUSE = "warehouse.duckdb"
_ANALYSIS_META = "meta.json"


@dataclass
class Dataset:
    """One dataset: its tables (name, row_count, columns, and their views) and where it came from."""

    dataset_id: str
    kind: str
    name: str
    project: str
    tables: list[dict[str, Any]]
    created_at: str | None
    lineage: Any
    asset: dict[str, Any]
    view: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mtime(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).isoformat()


def _columns(files: list[Path]) -> list[dict[str, str]]:
    """Name and dtype of each column of the (first) Parquet file."""
    if not files:
        return []
    schema = pq.read_schema(files[0])
    return [{"name": field.name, "dtype": str(field.type)} for field in schema]


def _rows(files: list[Path]) -> int:
    return sum(pq.ParquetFile(path).metadata.num_rows for path in files)


def _table(name: str, files: list[Path], view: str | None, root: Path) -> dict[str, Any]:
    return {
        "name": name,
        "row_count": _rows(files),
        "columns": _columns(files),
        "files": [path.relative_to(root).as_posix() for path in files],
        "view": view,
    }


# -- DAT exports -----------------------------------------------------------------------------
def _dat(root: Path, run_projects: Mapping[str, str]) -> list[Dataset]:
    found = []
    for manifest_path in sorted((root / "datasets").glob("ds_*/manifest.json")):
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        dataset_id = manifest["dataset_id"]
        run_id = manifest.get("run_id")
        tables = manifest.get("tables") or [  # a manifest written before datasets had tables
            {
                "name": manifest["name"],
                "row_count": manifest["row_count"],
                "columns": manifest["columns"],
                "files": manifest.get("files", {}),
                "view": view_name(dataset_id),
            }
        ]
        single = len(tables) == 1
        for table in tables:
            own_id = dataset_id if single else f"{dataset_id}__{table['name']}"
            lineage = [
                entry
                for entry in manifest.get("lineage", [])
                if single or entry.get("dataset_table") == table["name"]
            ]
            found.append(
                Dataset(
                    dataset_id=own_id,
                    kind="dat",
                    name=manifest["name"] if single else f"{manifest['name']}/{table['name']}",
                    project=run_projects.get(run_id or "", DEFAULT_PROJECT),
                    tables=[
                        {
                            key: table.get(key)
                            for key in ("name", "row_count", "columns", "files", "view")
                        }
                    ],
                    created_at=manifest.get("created_at"),
                    lineage=lineage,
                    asset={"key": "dat/export", "partition": run_id},
                    view=table.get("view")
                    or view_name(dataset_id, None if single else table["name"]),
                )
            )
    return found


# -- ingestion clean outputs -----------------------------------------------------------------
def _ingestion_outputs(root: Path) -> list[tuple[str, str, Path]]:
    """(project, name, clean file) of every clean output."""
    return [
        (path.parent.parent.name, path.name.removesuffix(".parquet"), path)
        for path in sorted((root / "uploads").glob("*/clean/*.parquet"))
        if not path.name.endswith(_REJECTS) and not path.name.startswith(".")
    ]


def _ingestion(root: Path) -> list[Dataset]:
    found = []
    for project, name, path in _ingestion_outputs(root):
        view = qualified(SCHEMAS["ingestion"], f"{project}__{name}")
        rejects = path.with_name(f"{name}{_REJECTS}")
        found.append(
            Dataset(
                dataset_id=f"ingestion:{project}/{name}",
                kind="ingestion",
                name=name,
                project=project,
                tables=[_table(name, [path], view, root)],
                created_at=_mtime(path),
                lineage={
                    "project": project,
                    "rejects": rejects.relative_to(root).as_posix() if rejects.is_file() else None,
                },
                asset={"key": "ingested_table", "partition": None},
                view=view,
            )
        )
    return found


# -- backfill tables -------------------------------------------------------------------------
def _backfill_tables(root: Path) -> list[tuple[str, list[Path]]]:
    """(table, window files) of every backfill table with at least one window."""
    folders = sorted(p for p in (root / "backfill").glob("*") if p.is_dir())
    tables = [
        (folder.name, sorted(p for p in folder.glob("*.parquet") if not p.name.startswith(".")))
        for folder in folders
    ]
    return [(name, files) for name, files in tables if files]


def _backfill(root: Path) -> list[Dataset]:
    found = []
    for name, files in _backfill_tables(root):
        view = qualified(SCHEMAS["backfill"], name)
        windows = [path.stem for path in files]
        table = _table(name, files, view, root)
        table["windows"] = len(windows)
        found.append(
            Dataset(
                dataset_id=f"backfill:{name}",
                kind="backfill",
                name=name,
                project=DEFAULT_PROJECT,
                tables=[table],
                created_at=max(_mtime(path) for path in files),
                lineage={"windows": windows},
                asset={"key": f"backfill/{name}", "partitions": windows},
                view=view,
            )
        )
    return found


# -- analysis results ------------------------------------------------------------------------
def _analysis(root: Path, source_projects: Mapping[str, str]) -> list[Dataset]:
    found = []
    for source_dir in sorted(p for p in (root / "analysis").glob("*") if p.is_dir()):
        source = source_dir.name
        tables = []
        phases = []
        for meta_path in sorted(source_dir.glob(f"*/{_ANALYSIS_META}")):
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("status") != "ok":
                continue
            phase = meta_path.parent.name
            phases.append(phase)
            for table in meta.get("tables", []):
                path = meta_path.parent / f"{table}.parquet"
                if path.is_file():
                    view = qualified(source, f"{phase}__{table}")
                    tables.append(_table(f"{phase}__{table}", [path], view, root))
        if not tables:
            continue
        found.append(
            Dataset(
                dataset_id=f"analysis:{source}",
                kind="analysis",
                name=source,
                project=source_projects.get(source, DEFAULT_PROJECT),
                tables=tables,
                created_at=max(_mtime(root / t["files"][0]) for t in tables),
                lineage={"source": source, "phases": phases},
                asset={"key": "analysis/*", "partition": source},
                view=f'"{source}"',
            )
        )
    return found


def list_datasets(
    data_root: Path,
    run_projects: Mapping[str, str] | None = None,
    source_projects: Mapping[str, str] | None = None,
    kind: str | None = None,
) -> list[Dataset]:
    """Every dataset under `data_root` (of `kind`), DAT exports first, newest first within a kind.

    `run_projects` and `source_projects` give the project of DAT runs and analysis sources
    (missing: `default`)."""
    if kind is not None and kind not in KINDS:
        raise NotFoundError(f"unknown dataset kind {kind!r}; kinds: {', '.join(KINDS)}")
    root = Path(data_root).resolve()
    readers = {
        "dat": lambda: _dat(root, run_projects or {}),
        "ingestion": lambda: _ingestion(root),
        "backfill": lambda: _backfill(root),
        "analysis": lambda: _analysis(root, source_projects or {}),
    }
    found: list[Dataset] = []
    for name in KINDS if kind is None else (kind,):
        datasets = readers[name]()
        found += sorted(datasets, key=lambda d: d.created_at or "", reverse=True)
    return found


def get_dataset(
    data_root: Path,
    dataset_id: str,
    run_projects: Mapping[str, str] | None = None,
    source_projects: Mapping[str, str] | None = None,
) -> Dataset:
    kind = "dat" if dataset_id.startswith("ds_") else dataset_id.partition(":")[0]
    if kind in KINDS:
        for dataset in list_datasets(data_root, run_projects, source_projects, kind):
            if dataset.dataset_id == dataset_id:
                return dataset
    raise NotFoundError(f"no dataset {dataset_id!r} (list them with: dat datasets list)")


def register_output(data_root: Path, kind: str, relative: str) -> str | None:
    """Create or replace the view of one ingestion output (`relative` = `<project>/<name>`) or
    backfill table (`<table>`) after a write. Returns the view's name, or None when the warehouse
    stayed busy (the write itself stands; `dat datasets list --sync` makes the view later)."""
    root = Path(data_root).resolve()
    if kind == "ingestion":
        project, _, name = relative.partition("/")
        views = {f"{project}__{name}": [root / "uploads" / project / "clean" / f"{name}.parquet"]}
    else:
        views = {relative: dict(_backfill_tables(root)).get(relative, [])}
    try:
        made = register_views(SCHEMAS[kind], views, root / WAREHOUSE)
    except DatError:
        return None
    return made[0] if made else None


def sync_views(data_root: Path, warehouse: Path | None = None) -> list[str]:
    """(Re)create the views of every ingestion output and backfill table (all its windows);
    returns their names. Cheap: one DDL statement per view, no data copied."""
    root = Path(data_root).resolve()
    target = warehouse or root / WAREHOUSE
    outputs = _ingestion_outputs(root)
    made = register_views(
        SCHEMAS["ingestion"],
        {f"{project}__{name}": [path] for project, name, path in outputs},
        target,
    )
    return made + register_views(SCHEMAS["backfill"], dict(_backfill_tables(root)), target)
