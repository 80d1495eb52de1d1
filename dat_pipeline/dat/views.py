"""JSON views of the DAT domain: the documents `dat ... --json` prints and the HTTP API returns.

One home for each shape, so the CLI contract (SPEC 0.2) and the API responses cannot diverge.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from dat_pipeline.errors import NotFoundError
from dat_pipeline.names import SOURCE_FILE, SOURCE_TABLE
from dat_pipeline.paths import resolve_inside

if TYPE_CHECKING:  # `dat status` reads views without loading the stages and profiles
    from pathlib import Path

    from dat_pipeline.dat.cleanup import CleanupItem
    from dat_pipeline.dat.profiles import Profile, ProfileRecord
    from dat_pipeline.dat.workflow import DatWorkflow
    from dat_pipeline.store import ControlStore, RunRecord, StageStatus


def run_dict(run: RunRecord) -> dict[str, Any]:
    """A run: run_id, name, profile_id, follow, created_at."""
    return asdict(run)


def status_dict(flow: DatWorkflow, status: StageStatus) -> dict[str, Any]:
    """One stage of a run: its lock state, stage id, kept config and artifact path."""
    artifact = flow.artifact_path(status)
    return {
        "stage": status.stage,
        "state": status.state,
        "stage_id": status.stage_id,
        "locked_at": status.locked_at,
        "completed": status.completed,
        "error": status.error,
        "artifact": str(artifact) if artifact else None,
        "config": status.config,
    }


def run_status(flow: DatWorkflow, run_id: str) -> dict[str, Any]:
    """Every stage of a run, in graph order (`dat status --json`)."""
    return {"run_id": run_id, "stages": [status_dict(flow, s) for s in flow.status(run_id)]}


def artifact_rows(flow: DatWorkflow, run_id: str, stage: str, limit: int) -> dict[str, Any]:
    """The first `limit` rows of a stage's artifact and its row count (`dat show --json`)."""
    status = flow.stage_status(run_id, stage)
    count, names, rows = _head(flow.artifact_file(run_id, stage), limit)
    return {
        "stage": stage,
        "stage_id": status.stage_id,
        "row_count": count,
        "rows": [dict(zip(names, row, strict=True)) for row in rows],
    }


def cleanup_report(run_id: str, items: list[CleanupItem], applied: bool) -> dict[str, Any]:
    """What a cleanup would delete (dry run) or deleted (`dat cleanup --json`)."""
    return {
        "run_id": run_id,
        "applied": applied,
        "items": [item.to_dict() for item in items],
        "count": len(items),
        "bytes": sum(item.bytes for item in items),
    }


def save_profile(store: ControlStore, profile: Profile) -> dict[str, Any]:
    """Save a profile; `created` is false when the same body was already the current version."""
    from dat_pipeline.dat import profiles as profile_api

    existed = profile_api.get_profile_or_none(store, profile.profile_id)
    record = profile_api.create_profile(store, profile)
    return {**record.to_dict(), "created": existed is None or not existed.current}


def replace_profile(
    store: ControlStore, current: ProfileRecord, profile: Profile
) -> dict[str, Any]:
    """Replace a profile's body; `changed` is false when the new body equals the current one."""
    from dat_pipeline.dat import profiles as profile_api

    record = profile_api.update_profile(store, current.profile_id, profile)
    return {
        **record.to_dict(),
        "previous_id": current.profile_id,
        "changed": record.profile_id != current.profile_id,
    }


def export_view(flow: DatWorkflow, run_id: str) -> dict[str, Any]:
    """The dataset a run exported: its export artifact row and its manifest."""
    frame = flow.load_artifact(run_id, "export")
    if frame.height == 0:
        raise NotFoundError(f"export of run {run_id} was skipped or wrote no dataset")
    row = frame.row(0, named=True)
    manifest_path = resolve_inside(flow.data_root, row["manifest_path"])
    return {
        "dataset_id": row["dataset_id"],
        "name": row["name"],
        "row_count": row["row_count"],
        "manifest_path": row["manifest_path"],
        "formats": json.loads(row["formats"]),
        "files": json.loads(row["files"]),
        "manifest": json.loads(manifest_path.read_text(encoding="utf-8")),
    }


Section = tuple[str, list[str], list[list[Any]]]


def _readable_columns(value: Any) -> Any:
    """A probe's JSON column list as `name type, ...` (what a person reads in `dat show`)."""
    try:
        columns = json.loads(value)
        return ", ".join(f"{c['name']} {c['dtype']}" for c in columns)
    except (TypeError, ValueError, KeyError):
        return value


def artifact_sections(flow: DatWorkflow, run_id: str, stage: str, limit: int) -> list[Section]:
    """A stage's artifact as titled sections of rows for `dat show`: one per table for preview
    (only the columns that table has), one for every other stage."""
    status = flow.stage_status(run_id, stage)
    path = flow.artifact_file(run_id, stage)
    if stage == "preview" and {SOURCE_FILE, SOURCE_TABLE} <= set(_column_names(path)):
        return _preview_sections(path, limit)
    count, names, rows = _head(path, limit)
    if "columns" in names:
        at = names.index("columns")
        rows = [[*row[:at], _readable_columns(row[at]), *row[at + 1 :]] for row in rows]
    shown = f", first {len(rows)}" if len(rows) < count else ""
    title = f"{stage} {status.stage_id} of run {run_id}: {count} rows{shown}"
    return [(title, names, [list(row) for row in rows])]


# Artifacts are read with DuckDB, not Polars: `dat show` starts in half the time (SPEC 12) and
# reads only the rows it shows. The file goes in as a quoted literal: binding a parameter makes
# DuckDB import pandas, which alone costs more than Polars.
def _query(
    path: Path, *statements: str, limit: int = 0
) -> list[tuple[list[str], list[tuple[Any, ...]]]]:
    """The column names and rows of each statement, run on one connection."""
    import duckdb

    source = "'" + str(path).replace("'", "''") + "'"
    answers = []
    with duckdb.connect() as connection:
        for sql in statements:
            cursor = connection.execute(
                sql.format(source=source, limit=int(limit), file=SOURCE_FILE, table=SOURCE_TABLE)
            )
            answers.append(([d[0] for d in cursor.description], cursor.fetchall()))
    return answers


def _column_names(path: Path) -> list[str]:
    return _query(path, "SELECT * FROM read_parquet({source}) LIMIT 0")[0][0]


def _head(path: Path, limit: int) -> tuple[int, list[str], list[tuple[Any, ...]]]:
    """The row count and the first `limit` rows, in file order."""
    (_, [(count,)]), (names, rows) = _query(
        path,
        "SELECT count(*) FROM read_parquet({source})",
        "SELECT * FROM read_parquet({source}) LIMIT {limit}",
        limit=limit,
    )
    return count, names, rows


_PREVIEW_HEADS = """
SELECT * EXCLUDE (file_row_number, _dat_first) FROM (
    SELECT *,
        row_number() OVER tables AS _dat_n,
        count(*) OVER tables AS _dat_rows,
        min(file_row_number) OVER tables AS _dat_first
    FROM read_parquet({source}, file_row_number = true)
    WINDOW tables AS (PARTITION BY {file}, {table} ORDER BY file_row_number
                      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
)
WHERE _dat_n <= {limit} ORDER BY _dat_first, _dat_n
"""


def _preview_sections(path: Path, limit: int) -> list[Section]:
    """One section per previewed table, in file order, with the columns that table fills."""
    [(names, rows)] = _query(path, _PREVIEW_HEADS, limit=max(limit, 1))
    where = {name: at for at, name in enumerate(names)}
    data = [n for n in names if n not in (SOURCE_FILE, SOURCE_TABLE, "_dat_n", "_dat_rows")]
    tables: dict[tuple[Any, Any], list[tuple[Any, ...]]] = {}
    for row in rows:
        tables.setdefault((row[where[SOURCE_FILE]], row[where[SOURCE_TABLE]]), []).append(row)
    sections: list[Section] = []
    for (file, table), table_rows in tables.items():
        head = table_rows[:limit]
        filled = [n for n in data if any(row[where[n]] is not None for row in head)]
        title = (
            f"preview of {file} table {table}: {table_rows[0][where['_dat_rows']]} rows, "
            f"first {len(head)}"
        )
        sections.append((title, filled, [[row[where[n]] for n in filled] for row in head]))
    return sections
