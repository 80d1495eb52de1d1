"""A run: the live stage strip and one panel per stage (config form, lock/unlock, artifact)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from nicegui import run, ui

from dat_pipeline.console import actions
from dat_pipeline.console.common import (
    asset_link,
    attempt,
    console_page,
    error_label,
    grid,
    one_line,
    run_link,
    stage_failure,
)
from dat_pipeline.console.forms import Getter, config_form
from dat_pipeline.errors import NotFoundError
from dat_pipeline.names import SOURCE_FILE, SOURCE_TABLE
from dat_pipeline.services import dat as dat_service
from dat_pipeline.services import ingestion as ingest_service
from dat_pipeline.services.context import ServiceContext

STATE_COLOURS = {"LOCKED": "positive", "UNLOCKED": "grey-6"}
REFRESH_S = 0.3


def _rows(frame: pl.DataFrame | None) -> list[dict[str, Any]]:
    return [] if frame is None else frame.to_dicts()


def _columns_text(raw: str | None) -> str:
    """`[{"name", "dtype"}, ...]` as `name: dtype, ...`."""
    try:
        return ", ".join(f"{c['name']}: {c['dtype']}" for c in json.loads(raw or "[]"))
    except (TypeError, ValueError):
        return raw or ""


class RunPage:
    """The state of one open run page: statuses, jobs, and a refreshable view per stage."""

    def __init__(self, ctx: ServiceContext, run_id: str):
        self.ctx = ctx
        self.run_id = run_id
        self.stages = dat_service.stage_graph(ctx)["stages"]
        self.status: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, Any] = {}
        self.views: dict[str, Callable[[], None]] = {}
        self.errors: dict[str, ui.label] = {}
        self.progress: tuple[int, int, float] | None = None
        self.shown_progress: tuple[int, int, float] | None = None
        self.preview_table: str | None = None
        self.shown_jobs: dict[str, tuple[str, str] | None] = {}

    # -- data ------------------------------------------------------------------------------
    def load(self) -> None:
        view = dat_service.show_run(self.ctx, self.run_id)
        self.run = view
        self.status = {s["stage"]: s for s in view["stages"]}
        self.jobs = actions.stage_jobs(self.ctx, self.run_id)
        job = self.jobs.get("parse")
        running = job is not None and job["status"] in actions.ACTIVE
        self.progress = actions.parse_progress(self.ctx, job["job_id"]) if running else None

    def key(self, stage: str) -> tuple:
        """What a stage's panel shows depends on: its own status and its upstream's."""
        info = next(s for s in self.stages if s["stage"] == stage)
        own = self.status[stage]
        parts = [own["state"], own["stage_id"], own["completed"], own["error"]]
        for name in info["requires"]:
            parts += [self.status[name]["stage_id"], self.status[name]["completed"]]
        # A job's status matters to the panel until the stage completes (progress, cancel); after
        # that only its link changes, and a rebuild would reset what the user opened.
        parts.append(None if own["completed"] else self.jobs.get(stage, {}).get("status"))
        return tuple(parts)

    def job_seen(self, stage: str) -> tuple[str, str] | None:
        job = self.jobs.get(stage)
        return (job["job_id"], job["status"]) if job else None

    async def tick(self) -> None:
        try:
            await run.io_bound(self.load)
        except NotFoundError:
            return
        self.strip.refresh()
        await asyncio.sleep(0.02)  # send the strip before the panels are rebuilt
        for info in self.stages:
            key = self.key(info["stage"])
            if self.keys.get(info["stage"]) != key:
                self.keys[info["stage"]] = key
                self.views[info["stage"]]()
            if self.shown_jobs.get(info["stage"]) != self.job_seen(info["stage"]):
                self.views[f"job-{info['stage']}"]()
        if self.progress != self.shown_progress:  # between panel rebuilds: only the bar moves
            self.shown_progress = self.progress
            self.views["parse-progress"]()

    # -- the strip -------------------------------------------------------------------------
    def build_strip(self) -> None:
        @ui.refreshable
        def strip() -> None:
            with ui.row().classes("w-full gap-2 flex-nowrap overflow-x-auto"):
                for info in self.stages:
                    self.stage_card(info["stage"])

        self.strip = strip
        strip()

    def stage_card(self, stage: str) -> None:
        status = self.status[stage]
        job = self.jobs.get(stage, {})
        running = job.get("status") in ("QUEUED", "STARTING", "STARTED", "NOT_STARTED")
        if status["state"] == "LOCKED" and status["completed"]:
            label = "materialized"
        elif status["state"] == "LOCKED" and running:
            label = "materializing"
        else:
            label = status["state"].lower()
        if status["error"]:
            label, message = stage_failure(status["error"])
        colour = {
            "materialized": "green-1",
            "failed": "red-1",
            "cancelled": "grey-3",
            "materializing": "amber-1",
        }
        with (
            ui.card()
            .classes(f"min-w-36 p-2 gap-1 cursor-pointer bg-{colour.get(label, 'white')}")
            .props(f"data-stage={stage} data-state={label}")
            .on("click", lambda: self.tabs.set_value(stage))
        ):
            ui.label(stage).classes("font-semibold text-sm")
            ui.badge(label, color=STATE_COLOURS.get(status["state"], "grey")).props(
                f"data-testid=state-{stage}"
            )
            ui.label(status["stage_id"] or "no stage id").classes("text-xs font-mono")
            if status["error"]:
                ui.label(message).classes("text-xs text-negative max-w-96").props(
                    f"data-testid=error-{stage}"
                )

    # -- panels ----------------------------------------------------------------------------
    def build_panel(self, info: dict[str, Any]) -> None:
        stage = info["stage"]
        ui.label(info["description"].splitlines()[0]).classes("text-gray-700")
        gate = ", ".join(info["requires"]) or "nothing"
        cascade = ", ".join(info["cascades"]) or "nothing"
        ui.label(
            f"Needs {gate} locked. Re-locking or unlocking it also unlocks: {cascade}."
        ).classes("text-xs text-gray-500")
        self.errors[stage] = error_label()

        @ui.refreshable
        def body() -> None:
            self.panel_body(info)

        self.views[stage] = body.refresh
        body()

    def panel_body(self, info: dict[str, Any]) -> None:
        stage = info["stage"]
        status = self.status[stage]
        job = self.jobs.get(stage)
        with ui.row().classes("items-center gap-3 text-sm"):
            ui.link("asset in Dagster", asset_link("dat", stage, self.run_id), new_tab=True)
            link = ui.refreshable(lambda: self.job_link(stage))
            self.views[f"job-{stage}"] = link.refresh
            link()
        read = config_form(info["config_schema"], status["config"], self.custom_fields(stage))
        with ui.row().classes("gap-2"):
            ui.button(f"Lock {stage}", on_click=lambda: self.lock(stage, read)).props(
                f"data-testid=lock-{stage}"
            )
            if status["state"] == "LOCKED":
                ui.button("Unlock", on_click=lambda: self.unlock(stage)).props(
                    f"outline data-testid=unlock-{stage}"
                )
            if info["optional"]:
                ui.button("Skip", on_click=lambda: self.skip(stage)).props(
                    f"flat data-testid=skip-{stage}"
                )
            if stage == "parse" and status["state"] == "LOCKED" and not status["completed"]:
                ui.button("Cancel", on_click=self.cancel).props(
                    "flat color=negative data-testid=cancel-parse"
                )
        if stage == "parse":
            progress = ui.refreshable(lambda: self.parse_progress(status, job))
            self.views["parse-progress"] = progress.refresh
            progress()
        self.artifact_view(stage)

    def job_link(self, stage: str) -> None:
        """The stage's newest Dagster run, refreshed on its own as its status changes."""
        self.shown_jobs[stage] = self.job_seen(stage)
        job = self.jobs.get(stage)
        if job:
            ui.link(
                f"last job {job['job_id'][:8]} ({job['status'].lower()})",
                run_link(job["job_id"]),
                new_tab=True,
            ).props(f"data-testid=job-{stage}")

    def custom_fields(self, stage: str) -> dict[str, Callable[[Any], Getter]]:
        if stage == "discovery":
            return {"root": self.root_picker, "source": self.source_picker}
        if stage == "selection":
            return {"files": self.catalog_picker}
        if stage == "table_selection":
            return {"tables": self.table_picker}
        return {}

    def root_picker(self, value: Any) -> Getter:
        choice = (
            ui.select(
                {"": "(none: only the database source)"}
                | {folder: folder for folder in actions.folders(self.ctx)},
                label="root (inside the data root)",
                value="."
                if value is None and self.status["discovery"]["config"] is None
                else value or "",
            )
            .classes("min-w-64")
            .props("data-testid=root")
        )
        return lambda: choice.value or None

    def source_picker(self, value: Any) -> Getter:
        names = [s["name"] for s in ingest_service.list_sources(self.ctx)]
        choice = ui.select(
            ["", *names], label="database source (catalogs its tables)", value=value or ""
        ).classes("min-w-64")
        return lambda: choice.value or None

    def catalog_picker(self, value: Any) -> Getter:
        catalog = actions.artifact(self.ctx, self.run_id, "discovery")
        if catalog is None:
            ui.label("Materialize discovery to pick files from its catalog.").classes(
                "text-gray-500"
            )
            return lambda: value
        chosen = json.dumps(value) if value else "null"
        ui.label("Files (unreadable files are greyed with their reason):").classes("text-sm")
        table = grid(
            _rows(catalog),
            ["path", "format", "size_bytes", "modified_at", "readable", "reason"],
            select=True,
            selectable="data.readable",
            selected=f"({chosen} === null ? data.readable : {chosen}.includes(data.path))",
            grey="!data.readable",
        ).props("data-testid=catalog")

        async def read() -> list[str]:
            return [row["path"] for row in await table.get_selected_rows()]

        return read

    def table_picker(self, value: Any) -> Getter:
        availability = actions.artifact(self.ctx, self.run_id, "table_availability")
        if availability is None:
            ui.label("Materialize table_availability to pick tables.").classes("text-gray-500")
            return lambda: value
        rows = [{**row, "columns": _columns_text(row["columns"])} for row in _rows(availability)]
        picked = json.dumps(value) if value else "null"
        ui.label("Tables:").classes("text-sm")
        table = grid(
            rows,
            ["path", "table", "status", "columns", "row_estimate", "error"],
            select=True,
            selectable="!['error', 'missing'].includes(data.status)",
            selected=(
                f"({picked} === null ? data.status === 'available' : "
                f"(({picked}[data.path] || []).includes(data.table) || "
                f"({picked}[data.path] || []).includes('*')))"
            ),
            grey="['error', 'missing'].includes(data.status)",
        ).props("data-testid=tables")

        async def read() -> dict[str, list[str]]:
            tables: dict[str, list[str]] = {}
            for row in await table.get_selected_rows():
                tables.setdefault(row["path"], []).append(row["table"])
            return tables

        return read

    def parse_progress(self, status: dict[str, Any], job: dict[str, Any] | None) -> None:
        if status["completed"]:
            ui.linear_progress(value=1.0, show_value=False).props("color=positive")
            return
        if not job or job["status"] not in actions.ACTIVE:
            return
        done, total, percent = self.progress or (0, 0, 0.0)
        ui.linear_progress(value=percent / 100, show_value=False).props("data-testid=progress")
        text = f"tables {done}/{total} done, {percent:.0f}%" if self.progress else "starting"
        ui.label(text).classes("text-sm").props("data-testid=progress-text")

    def artifact_view(self, stage: str) -> None:
        status = self.status[stage]
        if not status["completed"]:
            return
        frame_ = actions.artifact(self.ctx, self.run_id, stage)
        if frame_ is None or frame_.height == 0:
            ui.label("(empty artifact: skipped)").classes("text-gray-500")
            return
        if stage == "discovery":
            grid(_rows(frame_), grey="!data.readable")
        elif stage == "table_availability":
            rows = [{**row, "columns": _columns_text(row["columns"])} for row in _rows(frame_)]
            grid(
                rows,
                ["path", "table", "status", "columns", "row_estimate", "error", "probe_seconds"],
                grey="['error', 'missing'].includes(data.status)",
            )
        elif stage == "preview":
            self.preview_view(frame_)
        elif stage == "export":
            self.export_view()
        else:
            rows = _rows(frame_)
            if "columns" in frame_.columns:
                rows = [{**row, "columns": _columns_text(row["columns"])} for row in rows]
            grid(rows, height="h-56")

    def preview_view(self, frame_: pl.DataFrame) -> None:
        fixed = {SOURCE_FILE, SOURCE_TABLE, "_row_number", "_kept"}
        rules = [c for c in frame_.columns if ":" in c and c not in fixed]
        ui.label(
            "Each rule's verdict per row: red fails, green passes; rejected rows are red."
        ).classes("text-sm")
        tables = frame_.select(SOURCE_FILE, SOURCE_TABLE).unique(maintain_order=True)
        names = [f"{f}: {t}" for f, t in tables.iter_rows()]
        # The panel is rebuilt when its job's status changes: keep the table the user opened.
        shown = self.preview_table if self.preview_table in names else names[0]
        with ui.tabs(on_change=lambda e: setattr(self, "preview_table", e.value)).classes(
            "w-full"
        ) as tabs:
            for name in names:
                ui.tab(name).props("no-caps")
        with ui.tab_panels(tabs, value=shown).classes("w-full"):
            for (file, table), name in zip(tables.iter_rows(), names, strict=True):
                part = frame_.filter(
                    (pl.col(SOURCE_FILE) == file) & (pl.col(SOURCE_TABLE) == table)
                )
                part = part.select([c for c in part.columns if part[c].null_count() < part.height])
                columns = [c for c in part.columns if c not in (SOURCE_FILE, SOURCE_TABLE)]
                cell_rules = {
                    rule: {"dat-fail": "x === false", "dat-pass": "x === true"}
                    for rule in rules
                    if rule in columns
                }
                with ui.tab_panel(name):
                    grid(
                        _rows(part),
                        columns,
                        page_size=10,
                        cell_rules=cell_rules,
                        row_rules={"dat-rejected": "data._kept === false"},
                        height="h-96",
                    ).props(f"data-testid=preview-{table}")

    def export_view(self) -> None:
        exported = dat_service.export(self.ctx, self.run_id)
        manifest = exported["manifest"]
        ui.label(
            f"Dataset {exported['dataset_id']} · {exported['row_count']} rows in "
            f"{len(manifest.get('tables', []))} tables · formats {', '.join(exported['formats'])}"
        ).classes("font-semibold")
        with ui.list().props("bordered separator dense").classes("w-full"):
            for table in manifest.get("tables", []):
                with ui.item(), ui.item_section():
                    ui.label(
                        f"{table['name']}: {table['row_count']} rows, "
                        f"{len(table['columns'])} columns, from "
                        + ", ".join(f"{s['source_file']}:{s['table']}" for s in table["sources"])
                    ).classes("text-sm")
        ui.label("Files").classes("text-sm font-semibold")
        with ui.row().classes("gap-x-4 gap-y-1"):
            for file_format, path, table in actions.export_files(manifest.get("tables", [])):
                ui.link(
                    f"{Path(path).name} ({file_format})",
                    f"/console/runs/{self.run_id}/export/{table}/{file_format}",
                ).props(f"download data-testid=download-{table}-{file_format}")
        lineage = manifest.get("lineage") or []
        if lineage:
            ui.label("Lineage").classes("text-sm font-semibold")
            grid(
                [{k: v for k, v in source.items() if k != "stage_ids"} for source in lineage],
                height="h-48",
            )
        with ui.expansion("Manifest").classes("w-full"):
            ui.code(json.dumps(manifest, indent=2), language="json").classes("w-full")

    # -- actions ---------------------------------------------------------------------------
    async def lock(self, stage: str, read: Getter) -> None:
        error = self.errors[stage]
        try:
            config = read()
            if hasattr(config, "__await__"):
                config = await config
            config = {k: (await v if hasattr(v, "__await__") else v) for k, v in config.items()}
        except Exception as exc:
            error.set_text(one_line(exc))
            error.set_visibility(True)
            return
        cascade = actions.lock_cascade(self.ctx, self.run_id, stage)
        if cascade and not await confirm(
            f"Re-locking {stage} unlocks {', '.join(cascade)} (their configs are kept)."
        ):
            return
        ok, _ = await attempt(
            actions.lock_and_start,
            self.ctx,
            self.run_id,
            stage,
            config,
            error=error,
        )
        if ok:
            await self.tick()

    async def unlock(self, stage: str) -> None:
        cascade = actions.unlock_cascade(self.ctx, self.run_id, stage)
        if not await confirm(f"This unlocks {', '.join(cascade)}. Artifacts are kept."):
            return
        await attempt(dat_service.unlock, self.ctx, self.run_id, stage, error=self.errors[stage])
        await self.tick()

    async def skip(self, stage: str) -> None:
        await attempt(dat_service.skip, self.ctx, self.run_id, stage, error=self.errors[stage])
        await self.tick()

    async def cancel(self) -> None:
        await attempt(dat_service.cancel, self.ctx, self.run_id, error=self.errors["parse"])
        await self.tick()


async def confirm(message: str) -> bool:
    with ui.dialog() as dialog, ui.card():
        ui.label(message).props("data-testid=confirm-text")
        with ui.row():
            ui.button("Go ahead", on_click=lambda: dialog.submit(True)).props("data-testid=confirm")
            ui.button("Cancel", on_click=lambda: dialog.submit(False)).props("flat")
    return bool(await dialog)


@console_page("/runs/{run_id}", "Run {run_id}")
def run_page(ctx: ServiceContext, run_id: str) -> None:
    page = RunPage(ctx, run_id)
    try:
        page.load()
    except NotFoundError as exc:
        with ui.column().classes("p-6"):
            ui.label(exc.message).classes("text-negative text-lg").props("data-testid=not-found")
            ui.link("Back to the runs", "/")
        return
    with ui.column().classes("w-full p-4 gap-3"):
        with ui.row().classes("items-baseline gap-4"):
            ui.label(page.run["name"]).classes("text-xl font-semibold")
            ui.label(run_id).classes("font-mono text-gray-600")
            if page.run["follow"]:
                ui.badge("follows upstream")
            ui.link("partition in Dagster", asset_link("dat", "discovery", run_id), new_tab=True)
        page.build_strip()
        with ui.tabs().classes("w-full") as tabs:
            for info in page.stages:
                ui.tab(info["stage"]).props(f"data-testid=tab-{info['stage']}")
        page.tabs = tabs
        with ui.tab_panels(tabs, value=page.stages[0]["stage"]).classes("w-full"):
            for info in page.stages:
                with ui.tab_panel(info["stage"]):
                    page.build_panel(info)
        for info in page.stages:
            page.keys[info["stage"]] = page.key(info["stage"])
    ui.timer(REFRESH_S, page.tick)
