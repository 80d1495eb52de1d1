"""Sign-in and the runs list: create a run (name, profile, follow) and open it."""

from __future__ import annotations

from fastapi import Request
from nicegui import ui

from dat_pipeline.console import session
from dat_pipeline.console.common import (
    attempt,
    console_page,
    context,
    error_label,
)
from dat_pipeline.services import dat as dat_service
from dat_pipeline.services.context import ServiceContext


@ui.page("/login")
def login_page(request: Request) -> None:
    ui.page_title("Sign in · dat console")
    with ui.card().classes("absolute-center w-[28rem] gap-3"):
        ui.label("dat console").classes("text-2xl font-semibold")
        ui.label("Sign in with a project token (create one with: dat tokens create --project P).")
        token = ui.input("Project token", password=True).classes("w-full").props("autofocus")
        error = error_label()

        async def submit() -> None:
            ok, code = await attempt(session.issue_code, context().store, token.value or "")
            if ok and code is None:
                error.set_text("invalid or revoked token")
                error.set_visibility(True)
            elif ok:
                ui.navigate.to(f"/console/session?code={code}")

        token.on("keydown.enter", submit)
        ui.button("Sign in", on_click=submit).classes("w-full")


@console_page("/", "Runs")
def runs_page(ctx: ServiceContext) -> None:
    with ui.column().classes("w-full p-6 gap-4"):
        with ui.card().classes("w-full"):
            ui.label("New run").classes("text-lg font-semibold")
            with ui.row().classes("items-end gap-4"):
                name = ui.input("Name").props("data-testid=run-name")
                profile = ui.select(
                    [""] + [p["name"] for p in dat_service.list_profiles(ctx)["profiles"]],
                    label="Profile (optional)",
                    value="",
                ).classes("w-56")
                follow = ui.checkbox("Follow upstream changes")
                error = error_label()

                async def create() -> None:
                    ok, run = await attempt(
                        dat_service.create_run,
                        ctx,
                        name.value or None,
                        profile.value or None,
                        follow.value,
                        error=error,
                    )
                    if ok and run:
                        ui.navigate.to(f"/runs/{run['run_id']}")

                ui.button("Create run", on_click=create)
        ui.label("Runs").classes("text-lg font-semibold")
        runs = list(reversed(dat_service.list_runs(ctx)["runs"]))
        if not runs:
            ui.label("No runs yet in your projects.").classes("text-gray-500")
        with ui.list().props("bordered separator").classes("w-full"):
            for run in runs:
                with (
                    ui.item().props(f"clickable href=/runs/{run['run_id']}"),
                    ui.item_section(),
                ):
                    ui.link(run["name"], f"/runs/{run['run_id']}").classes("font-medium")
                    ui.item_label(
                        f"{run['run_id']} · {run['project']} · created {run['created_at'][:19]}"
                        + (" · follows upstream" if run["follow"] else "")
                    ).props("caption")
