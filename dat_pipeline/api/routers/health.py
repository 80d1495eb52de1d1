"""`/health`: the one open route, for load balancers and `dat serve` checks."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter

from dat_pipeline.api import schemas
from dat_pipeline.api.context import Context
from dat_pipeline.api.errors import error_responses

router = APIRouter(tags=["health"])


def _version() -> str:
    try:
        return version("dat_pipeline")
    except PackageNotFoundError:
        return "unknown"


@router.get(
    "/health",
    response_model=schemas.HealthPublic,
    summary="Liveness and store check",
    responses=error_responses(503),
)
def health(context: Context) -> Any:
    """`ok` when the control store answers; needs no token."""
    return {"status": "ok", "version": _version(), "schema_version": context.store.schema_version()}
