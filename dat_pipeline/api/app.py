"""The FastAPI application: `create_app()` builds it over the settings (default: the environment)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from dat_pipeline.api.errors import install_error_handlers
from dat_pipeline.api.routers import analysis, backfill, dat, datasets, health, ingestion
from dat_pipeline.services.context import ServiceContext
from dat_pipeline.settings import Settings, get_settings

DESCRIPTION = """
The operations of the `dat` command over HTTP, for applications that drive the DAT workflow.

Every route but `/health` needs a bearer token from `dat tokens create --project P`
(`Authorization: Bearer dat_...`). A token sees the runs of its projects only; a run of another
project answers 404, like a run that does not exist. Runs created by the CLI belong to `default`
unless made with `dat runs create --project P`.

Errors are `{"error": {"code", "message", "details"}}`. Long work (materializing stages) answers
202 with a job: the Dagster run id, shown in the Dagster UI and at `GET /api/dat/jobs/{job_id}`;
an analysis run at `GET /api/analysis/jobs/{job_id}`, a backfill at
`GET /api/backfill/runs/{backfill_id}`. Analysis sources are scoped by project like runs;
the backfill tables of backfill.yaml are global configuration, visible to every token.
"""

# One router per domain; a new one is added here (and its service module under services/).
ROUTERS = [
    health.router,
    dat.router,
    ingestion.router,
    analysis.router,
    backfill.router,
    datasets.router,
]


def create_app(settings: Settings | None = None, console: bool = False) -> FastAPI:
    """The API over `settings` (default: `get_settings()`, i.e. the DAT_* environment)."""
    context = ServiceContext(settings or get_settings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        context.close()

    # Swagger UI and ReDoc from the installed fastapi-offline package, never from a CDN.
    app = FastAPIOffline(
        title="dat_pipeline API",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "dat", "description": "DAT runs, stages, jobs, export and cleanup."},
            {"name": "profiles", "description": "Extraction profiles (shared by projects)."},
            {
                "name": "ingestion",
                "description": "Database sources, uploads, preview, ingestion runs and jobs.",
            },
            {
                "name": "analysis",
                "description": "Analysis sources, runs, phase status and the report.",
            },
            {
                "name": "backfill",
                "description": "Plans, backfills, window status and the manifest of the tables "
                "in backfill.yaml.",
            },
            {"name": "datasets", "description": "The catalog of every dataset written."},
            {"name": "health", "description": "Open liveness check."},
        ],
    )
    app.state.context = context
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    if console:  # the web console at `/` (SPEC 11); NiceGUI allows one per process
        from dat_pipeline.console.app import mount_console

        mount_console(app, context)
    return app


def create_console_app() -> FastAPI:
    """What `dat serve` runs: the API under `/api` and the web console at `/`."""
    return create_app(console=True)
