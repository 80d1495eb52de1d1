"""Mount the console on the API app: its HTTP routes (session, downloads), then NiceGUI at `/`.

NiceGUI keeps one app per process, so the console is mounted once, by `dat serve`
(`create_app(console=True)`); the API tests build plain apps.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse

from dat_pipeline.console import session
from dat_pipeline.console.common import set_context
from dat_pipeline.services import dat
from dat_pipeline.services.context import ServiceContext


def mount_console(app: FastAPI, context: ServiceContext) -> None:
    """Serve the console at `/` over the API's context (its store and Dagster instance)."""
    from nicegui import ui

    from dat_pipeline.console.pages import analysis, datasets, ingestion, run, runs  # noqa: F401

    set_context(context)

    @app.get("/console/session", include_in_schema=False)
    def start_session(code: str) -> RedirectResponse:
        token_id = session.redeem_code(code)
        if token_id is None:
            return RedirectResponse("/login", status_code=303)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            session.COOKIE, session.cookie_value(token_id), httponly=True, samesite="strict"
        )
        return response

    @app.get("/console/logout", include_in_schema=False)
    def end_session() -> RedirectResponse:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(session.COOKIE)
        return response

    def download(request: Request, find: Callable[[ServiceContext], tuple[Path, str]]):  # type: ignore[no-untyped-def]
        """The file `find` names for the signed-in caller, or the sign-in page."""
        caller = session.caller(context.store, request)
        if caller is None:
            return RedirectResponse("/login", status_code=303)
        path, filename = find(context.for_caller(caller))
        return FileResponse(path, filename=filename)

    @app.get("/console/runs/{run_id}/export/{table}/{file_format}", include_in_schema=False)
    def download_export(run_id: str, table: str, file_format: str, request: Request):  # type: ignore[no-untyped-def]
        return download(request, lambda ctx: dat.export_file(ctx, run_id, file_format, table))

    @app.get("/console/datasets/{dataset_id}/{table}/{file_format}", include_in_schema=False)
    def download_dataset(dataset_id: str, table: str, file_format: str, request: Request):  # type: ignore[no-untyped-def]
        return download(
            request, lambda ctx: datasets.table_file(ctx, dataset_id, table, file_format)
        )

    ui.run_with(
        app,
        mount_path="/",
        title="dat console",
        favicon="🗂️",
        show_welcome_message=False,
        reconnect_timeout=10.0,
    )
