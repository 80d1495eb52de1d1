"""The datasets page: every dataset the caller's runs exported, with its tables, a preview of
each and downloads. (When the one catalog of SPEC 10 lands in `dat_pipeline.datasets`, this page
lists it instead.)"""

from __future__ import annotations

from typing import Any

import polars as pl
from fastapi import Request
from nicegui import ui

from dat_pipeline.console.common import asset_link, frame, grid, signed_in
from dat_pipeline.errors import NotFoundError
from dat_pipeline.paths import resolve_inside
from dat_pipeline.services import dat as dat_service
from dat_pipeline.services.context import ServiceContext

PREVIEW_ROWS = 20


def exported(ctx: ServiceContext) -> list[dict[str, Any]]:
    """The exports of the caller's runs, newest first."""
    found = []
    for run in reversed(dat_service.list_runs(ctx)["runs"]):
        try:
            found.append({**dat_service.export(ctx, run["run_id"]), "run_id": run["run_id"]})
        except NotFoundError:
            continue
    return found


@ui.page("/datasets")
def datasets_page(request: Request):  # type: ignore[no-untyped-def]
    ctx = signed_in(request)
    if not isinstance(ctx, ServiceContext):
        return ctx
    frame(ctx, "Datasets")
    datasets = exported(ctx)
    with ui.column().classes("w-full p-4 gap-3"):
        ui.label("Datasets").classes("text-xl font-semibold")
        if not datasets:
            ui.label("No dataset yet: lock export in a run.").classes("text-gray-500")
        for dataset in datasets:
            manifest = dataset["manifest"]
            title = (
                f"{dataset['dataset_id']} · {dataset['name']} · {dataset['row_count']} rows · "
                f"{len(manifest.get('tables', []))} tables · run {dataset['run_id']}"
            )
            with ui.expansion(title).classes("w-full border rounded"):
                ui.link(
                    "export asset in Dagster",
                    asset_link("dat", "export", dataset["run_id"]),
                    new_tab=True,
                )
                for table in manifest.get("tables", []):
                    with ui.row().classes("items-center gap-3"):
                        ui.label(f"{table['name']}: {table['row_count']} rows").classes(
                            "font-medium"
                        )
                        ui.label(table.get("view", "")).classes("font-mono text-xs")
                        for file_format in table.get("files", {}):
                            ui.link(
                                f"download {file_format}",
                                f"/console/runs/{dataset['run_id']}/export/"
                                f"{table['name']}/{file_format}",
                            )
                    parquet = table.get("files", {}).get("parquet")
                    if parquet:
                        path = resolve_inside(ctx.data_root, parquet)
                        head = pl.scan_parquet(path).head(PREVIEW_ROWS).collect()
                        grid(head.to_dicts(), height="h-56")
    return None
