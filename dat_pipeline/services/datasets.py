"""The catalog of datasets (SPEC 10) for a caller: list, show, and re-make the warehouse views.
The CLI (`dat datasets ...`) and `/api/datasets` call these; a caller sees the datasets of its
projects only (another project's dataset is not found, like one that does not exist)."""

from __future__ import annotations

from typing import Any

from dat_pipeline.datasets import catalog
from dat_pipeline.errors import NotFoundError
from dat_pipeline.services import access
from dat_pipeline.services.context import ServiceContext, json_safe


def _projects(ctx: ServiceContext) -> dict[str, Any]:
    return {
        "run_projects": access.run_projects(ctx.store),
        "source_projects": access.source_projects(ctx.store),
    }


def list_datasets(ctx: ServiceContext, kind: str | None = None) -> dict[str, Any]:
    """`{"datasets": [...]}`: every dataset the caller sees (of `kind`)."""
    found = catalog.list_datasets(ctx.data_root, kind=kind, **_projects(ctx))
    return json_safe({"datasets": [d.to_dict() for d in found if ctx.caller.sees(d.project)]})


def show_dataset(ctx: ServiceContext, dataset_id: str) -> dict[str, Any]:
    """One dataset the caller sees. The id of a DAT export (what `dat show RUN export` prints)
    is answered with the datasets of its tables: each table is a dataset of its own."""
    try:
        dataset = catalog.get_dataset(ctx.data_root, dataset_id, **_projects(ctx))
    except NotFoundError:
        tables = [
            d.dataset_id
            for d in catalog.list_datasets(ctx.data_root, kind="dat", **_projects(ctx))
            if d.dataset_id.startswith(f"{dataset_id}__") and ctx.caller.sees(d.project)
        ]
        if not tables:
            raise
        raise NotFoundError(
            f"{dataset_id} is a DAT export of {len(tables)} tables, each a dataset of its own: "
            f"{', '.join(tables)} (dat datasets show {tables[0]})",
            tables=tables,
        ) from None
    if not ctx.caller.sees(dataset.project):
        raise NotFoundError(f"no dataset {dataset_id!r} (list them with: dat datasets list)")
    return json_safe(dataset.to_dict())


def sync_views(ctx: ServiceContext) -> list[str]:
    """Re-make the views of every ingestion output and backfill table (local users only)."""
    return catalog.sync_views(ctx.data_root)
