"""`/api/datasets`: the one catalog of datasets (SPEC 10), scoped to the caller's projects.

Each route calls `dat_pipeline.services.datasets`, the same as `dat datasets list|show`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from dat_pipeline.api.context import Service
from dat_pipeline.api.errors import error_responses
from dat_pipeline.services import datasets

router = APIRouter(
    prefix="/api/datasets", tags=["datasets"], responses=error_responses(401, 404, 422)
)


@router.get("", summary="Every dataset of the caller's projects")
def list_datasets(
    ctx: Service,
    kind: Annotated[
        str | None, Query(description="Only this kind: dat, ingestion, backfill, analysis.")
    ] = None,
) -> Any:
    """`{"datasets": [{dataset_id, kind, name, tables, created_at, lineage, asset, view}]}`."""
    return datasets.list_datasets(ctx, kind)


@router.get("/{dataset_id:path}", summary="One dataset")
def show_dataset(
    dataset_id: Annotated[str, Path(max_length=200, examples=["ds_0123abcd"])], ctx: Service
) -> Any:
    """One dataset: tables with row counts and columns, lineage, the Dagster asset, its views."""
    return datasets.show_dataset(ctx, dataset_id)
