"""The datasets page: the one catalog of SPEC 10 (DAT export tables, ingestion outputs, backfill
tables, analysis results) as the caller's projects see it, with previews and downloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from nicegui import ui

from dat_pipeline.console.common import console_page, dagster_url, grid, one_line
from dat_pipeline.errors import NotFoundError
from dat_pipeline.paths import resolve_inside
from dat_pipeline.services import datasets as dataset_service
from dat_pipeline.services.context import ServiceContext

PREVIEW_ROWS = 20


def table_files(table: dict[str, Any]) -> dict[str, str]:
    """A table's files by format (the catalog gives a dict, or a list of paths)."""
    files = table.get("files") or {}
    if isinstance(files, dict):
        return files
    return {Path(path).suffix.lstrip(".") or "file": path for path in files}


def table_file(
    ctx: ServiceContext, dataset_id: str, table: str, file_format: str
) -> tuple[Path, str]:
    """The file of one table of a dataset the caller sees, in one format, and its download name."""
    dataset = dataset_service.show_dataset(ctx, dataset_id)
    for entry in dataset["tables"]:
        if entry["name"] == table and file_format in table_files(entry):
            path = resolve_inside(ctx.data_root, table_files(entry)[file_format])
            return path, f"{dataset_id}_{path.name}"
    raise NotFoundError(
        f"dataset {dataset_id} has no {file_format} file of table {table!r}",
        table=table,
        format=file_format,
    )


def asset_url(asset: dict[str, Any] | None) -> str | None:
    if not asset or "*" in asset.get("key", "*"):
        return None
    partition = f"?partition={asset['partition']}" if asset.get("partition") else ""
    return f"{dagster_url()}/assets/{asset['key']}{partition}"


@console_page("/datasets", "Datasets")
def datasets_page(ctx: ServiceContext) -> None:
    datasets = dataset_service.list_datasets(ctx)["datasets"]
    with ui.column().classes("w-full p-4 gap-3"):
        ui.label(f"Datasets ({len(datasets)})").classes("text-xl font-semibold")
        if not datasets:
            ui.label("No dataset yet: export a run, ingest a file or analyse a source.").classes(
                "text-gray-500"
            )
        for dataset in datasets:
            rows = sum(t.get("row_count") or 0 for t in dataset["tables"])
            title = (
                f"{dataset['kind']} · {dataset['dataset_id']} · {dataset['name']} · "
                f"{len(dataset['tables'])} tables · {rows} rows · {dataset['project']}"
            )
            with ui.expansion(title).classes("w-full border rounded"):
                try:
                    dataset_view(ctx, dataset)
                except Exception as exc:  # one odd entry must not hide the others
                    ui.label(one_line(exc)).classes("text-negative text-sm")


def dataset_view(ctx: ServiceContext, dataset: dict[str, Any]) -> None:
    with ui.row().classes("gap-4 text-sm"):
        ui.label(f"created {str(dataset.get('created_at', ''))[:19]}")
        if dataset.get("view"):
            ui.label(f"SQL: select * from {dataset['view']}").classes("font-mono")
        url = asset_url(dataset.get("asset"))
        if url:
            ui.link("asset in Dagster", url, new_tab=True)
    for table in dataset["tables"]:
        with ui.row().classes("items-center gap-3"):
            ui.label(f"{table['name']}: {table.get('row_count')} rows").classes("font-medium")
            for file_format in table_files(table):
                ui.link(
                    f"download {file_format}",
                    f"/console/datasets/{dataset['dataset_id']}/{table['name']}/{file_format}",
                )
            button = ui.button("Preview").props("flat dense")
        holder = ui.column().classes("w-full")

        def show(_event: Any, table: dict[str, Any] = table, holder: ui.column = holder) -> None:
            parquet = table_files(table).get("parquet")
            holder.clear()
            with holder:
                if parquet is None:
                    ui.label("No Parquet file to preview.")
                    return
                path = resolve_inside(ctx.data_root, parquet)
                head = pl.scan_parquet(path).head(PREVIEW_ROWS).collect()
                grid(head.to_dicts(), height="h-56")

        button.on_click(show)
    if dataset.get("lineage"):
        with ui.expansion("Lineage").classes("w-full"):
            grid(
                [
                    {k: v for k, v in source.items() if not isinstance(v, dict | list)}
                    if isinstance(source, dict)
                    else {"source": str(source)}
                    for source in dataset["lineage"]
                ],
                height="h-40",
            )
