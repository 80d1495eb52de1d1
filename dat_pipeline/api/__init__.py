"""The HTTP API (SPEC 9): FastAPI over the same domain functions as the `dat` CLI."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from dat_pipeline.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FastAPI app over `settings` (default: the DAT_* environment)."""
    from dat_pipeline.api.app import create_app as build

    return build(settings)


__all__ = ["create_app"]
