"""The ingestion wizard (source → field mapping → cleaning rules → preview → submit), the
uploads of the caller's projects, and the jobs page with live progress and logs."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from nicegui import events, run, ui

from dat_pipeline.console.common import (
    attempt,
    console_page,
    error_label,
    grid,
    one_line,
)
from dat_pipeline.services import ingestion as ingest_service
from dat_pipeline.services.context import ServiceContext

TYPES = ["keep", "integer", "float", "decimal", "string", "boolean", "date", "datetime"]
KINDS = ["postgresql", "mysql", "sqlite", "duckdb"]
EVERY_TABLE = "*"  # the table choice that ingests every table of the source


class Wizard:
    """What the wizard has gathered so far."""

    def __init__(self, ctx: ServiceContext):
        self.ctx = ctx
        self.source: str | None = None  # an upload id or a database source name
        self.tables: list[str] = []
        self.table: str | None = None
        self.every_table = False  # submit ingests every table (each sheet to its own output)
        self.columns: dict[str, str] = {}
        self.fields: dict[str, dict[str, Any]] = {}  # column -> {name, keep, type}
        self.rules_text = ""
        # the parts of the page steps refresh (one wizard per browser tab)
        self.uploads: Any = None
        self.fields_view: Any = None
        self.preview_view: Any = None
        self.rules_error: Any = None

    def mapping(self) -> dict[str, str | None]:
        mapping: dict[str, str | None] = {}
        for column, field in self.fields.items():
            if not field["keep"]:
                mapping[column] = None
            elif field["name"] and field["name"] != column:
                mapping[column] = field["name"]
        return mapping

    def rules(self) -> str:
        """The user's rules after a CAST rule for every column given a new type."""
        casts = [
            {"type": "CAST", "column": f["name"] or column, "to": f["type"]}
            for column, f in self.fields.items()
            if f["keep"] and f["type"] != "keep"
        ]
        written = yaml.safe_load(self.rules_text or "") or []
        if not isinstance(written, list):
            written = [written]
        rules = casts + written
        return yaml.safe_dump(rules, sort_keys=False) if rules else ""


@console_page("/ingestion", "Ingestion")
def ingestion_page(ctx: ServiceContext) -> None:
    wizard = Wizard(ctx)
    with ui.column().classes("w-full p-4 gap-4") as page:
        ui.label("Ingest a file or a database table").classes("text-xl font-semibold")
        with ui.stepper().props("header-nav=false").classes("w-full") as stepper:
            with ui.step("Source"):
                source_step(wizard, stepper)
            with ui.step("Field mapping"):
                mapping_step(wizard, stepper)
            with ui.step("Cleaning rules"):
                rules_step(wizard, stepper)
            with ui.step("Preview"):
                preview_step(wizard, stepper)
            with ui.step("Submit"):
                submit_step(wizard, stepper)
        with page:
            wizard.uploads = uploads_card(ctx)


# -- 1. source ------------------------------------------------------------------------------------
def source_step(wizard: Wizard, stepper: ui.stepper) -> None:
    ctx = wizard.ctx
    chosen = (
        ui.label("No source chosen yet.").classes("font-medium").props("data-testid=chosen-source")
    )
    table = ui.select([], label="Table").classes("min-w-64").props("data-testid=table")
    table.set_visibility(False)
    error = error_label()

    def choose(source: str, label: str, tables: list[str]) -> None:
        wizard.source = source
        wizard.tables = tables
        chosen.set_text(f"Source: {label}")
        options = {name: name for name in tables}
        if len(tables) > 1:
            options[EVERY_TABLE] = "every table (one output each)"
        table.set_options(options, value=tables[0] if tables else None)
        table.set_visibility(len(tables) > 1)

    with ui.tabs() as tabs:
        ui.tab("Upload a file")
        ui.tab("Database source")
    with ui.tab_panels(tabs, value="Upload a file").classes("w-full"):
        with ui.tab_panel("Upload a file"):

            async def received(event: events.UploadEventArguments) -> None:
                folder = Path(tempfile.mkdtemp(prefix="dat-console-"))
                path = folder / Path(event.file.name).name
                await event.file.save(path)
                ok, upload = await attempt(ingest_service.upload, ctx, path, None, error=error)
                path.unlink(missing_ok=True)
                folder.rmdir()
                if ok and upload:
                    choose(upload["upload_id"], upload["filename"], upload["tables"])
                    wizard.uploads.refresh()

            ui.upload(
                label="Drop a file (CSV, Excel, Parquet, JSON, PDF, Word)",
                auto_upload=True,
                on_upload=received,
            ).props("accept=* data-testid=upload").classes("w-96")
            uploads = ingest_service.list_uploads(ctx)
            if uploads:
                earlier = ui.select(
                    {u["upload_id"]: f"{u['filename']} ({u['upload_id']})" for u in uploads},
                    label="or an earlier upload",
                ).classes("min-w-96")

                def pick_upload() -> None:
                    found = next(u for u in uploads if u["upload_id"] == earlier.value)
                    choose(found["upload_id"], found["filename"], found["tables"])

                earlier.on_value_change(pick_upload)
        with ui.tab_panel("Database source"):
            database_panel(wizard, choose, error)

    async def next_step() -> None:
        if wizard.source is None:
            error.set_text("choose a source first: upload a file or pick a database source")
            error.set_visibility(True)
            return
        wizard.every_table = table.value == EVERY_TABLE
        # The mapping lists the first table's columns when every table is ingested; the preview
        # then shows, per table, whether the mapping and rules fit it.
        wizard.table = wizard.tables[0] if wizard.every_table else table.value
        ok, shown = await attempt(
            ingest_service.preview, ctx, wizard.source, "", wizard.table, 5, error=error
        )
        if ok and shown:
            wizard.columns = shown["columns"]
            wizard.fields = {
                column: {"name": column, "keep": True, "type": "keep"}
                for column in shown["columns"]
            }
            stepper.next()
            wizard.fields_view.refresh()

    with ui.stepper_navigation():
        ui.button("Next", on_click=next_step).props("data-testid=source-next")


def database_panel(wizard: Wizard, choose, error: ui.label) -> None:  # type: ignore[no-untyped-def]
    ctx = wizard.ctx
    sources = ingest_service.list_sources(ctx)
    if sources:
        saved = ui.select({s["name"]: s["name"] for s in sources}, label="Saved source")
        saved.on_value_change(lambda: choose(saved.value, f"database source {saved.value}", []))
    ui.label("New source: test it, then save it.").classes("text-sm text-gray-600")
    with ui.row().classes("gap-3 items-end"):
        name = ui.input("Name")
        kind = ui.select(KINDS, label="Kind", value="postgresql").classes("w-40")
        host = ui.input("Host", value="127.0.0.1")
        port = ui.number("Port", value=None, format="%d").classes("w-24")
        database = ui.input("Database (or file in the data root)")
    with ui.row().classes("gap-3 items-end"):
        user = ui.input("User")
        password = ui.input("Password", password=True)
        table = ui.input("Table")
        query = ui.input("or query").classes("w-96")
    outcome = ui.label("").classes("text-sm")

    def fields() -> dict[str, Any]:
        server = kind.value in ("postgresql", "mysql")
        return {
            "kind": kind.value,
            "host": (host.value or None) if server else None,
            "port": int(port.value) if server and port.value else None,
            "database": database.value or "",
            "user": (user.value or None) if server else None,
            "table": table.value or None,
            "query": query.value or None,
        }

    async def test() -> None:
        ok, result = await attempt(
            ingest_service.test_new_source, ctx, password.value or None, **fields(), error=error
        )
        if ok and result:
            outcome.set_text(("connected: " if result["ok"] else "failed: ") + result["message"])
            outcome.classes(
                replace="text-sm " + ("text-positive" if result["ok"] else "text-negative")
            )
            save.set_enabled(result["ok"])

    async def save_source() -> None:
        ok, saved_source = await attempt(
            ingest_service.add_source,
            ctx,
            name.value or "",
            password=password.value or None,
            **fields(),
            error=error,
        )
        if ok and saved_source:
            choose(saved_source["name"], saved_source["name"], [])

    with ui.row():
        ui.button("Test connection", on_click=test).props("outline")
        save = ui.button("Save source", on_click=save_source)
        save.set_enabled(False)


# -- 2. field mapping ---------------------------------------------------------------------------
def mapping_step(wizard: Wizard, stepper: ui.stepper) -> None:
    @ui.refreshable
    def view() -> None:
        if not wizard.fields:
            ui.label("Choose a source first.")
            return
        ui.label("Rename, drop or retype each column (a new type adds a CAST rule).").classes(
            "text-sm"
        )
        for column, field in wizard.fields.items():
            with ui.row().classes("items-center gap-3"):
                ui.label(f"{column} ({wizard.columns.get(column, '')})").classes("w-64 font-mono")
                ui.checkbox("keep").bind_value(field, "keep").props(f"data-testid=keep-{column}")
                ui.input("name").bind_value(field, "name").props(f"data-testid=name-{column}")
                ui.select(TYPES, label="type").bind_value(field, "type").classes("w-36")

    wizard.fields_view = view
    view()
    with ui.stepper_navigation():
        ui.button("Back", on_click=stepper.previous).props("flat")
        ui.button("Next", on_click=stepper.next).props("data-testid=mapping-next")


# -- 3. cleaning rules ----------------------------------------------------------------------------
def rules_step(wizard: Wizard, stepper: ui.stepper) -> None:
    ctx = wizard.ctx
    templates = {t["type"]: t for t in ingest_service.cleaning_templates()}
    error = error_label()
    with ui.row().classes("items-end gap-3"):
        template = ui.select(list(templates), label="Rule template").classes("w-48")
        ui.button(
            "Add",
            on_click=lambda: (
                setattr(
                    text, "value", (text.value or "") + templates[template.value]["example_yaml"]
                )
                if template.value
                else None
            ),
        ).props("outline")
        sets = ui.select(ingest_service.list_rule_sets(ctx), label="Saved rule set").classes("w-48")
        sets.props("data-testid=ruleset-choice")

        async def load() -> None:
            ok, body = await attempt(
                ingest_service.get_rule_set, ctx, sets.value or "", error=error
            )
            if ok and body is not None:
                text.value = body

        ui.button("Load", on_click=load).props("outline data-testid=ruleset-load")
    text = (
        ui.textarea("Rules (YAML)")
        .classes("w-full font-mono")
        .props("autogrow data-testid=rules")
        .bind_value(wizard, "rules_text")
    )
    with ui.row().classes("items-end gap-3"):
        set_name = ui.input("Save as rule set").props("data-testid=ruleset-name")

        async def save() -> None:
            ok, _ = await attempt(
                ingest_service.save_rule_set,
                ctx,
                set_name.value or "",
                text.value or "",
                error=error,
            )
            if ok:
                sets.set_options(ingest_service.list_rule_sets(ctx), value=set_name.value)
                ui.notify(f"rule set {set_name.value} saved", type="positive")

        ui.button("Save", on_click=save).props("outline data-testid=ruleset-save")

    async def next_step() -> None:
        ok = await wizard.preview_view.load()
        if ok:
            stepper.next()

    with ui.stepper_navigation():
        ui.button("Back", on_click=stepper.previous).props("flat")
        ui.button("Preview", on_click=next_step).props("data-testid=rules-next")
    wizard.rules_error = error


# -- 4. preview -----------------------------------------------------------------------------------
class PreviewView:
    """The preview of the chosen table, or of every table (a tab each) when every table is
    ingested: a table that the mapping or rules do not fit shows why in its tab, before submit."""

    def __init__(self, wizard: Wizard):
        self.wizard = wizard
        self.shown: list[tuple[str, dict[str, Any] | None, str | None]] = []

        @ui.refreshable
        def body() -> None:
            if not self.shown:
                ui.label("Nothing previewed yet.")
                return
            if len(self.shown) == 1:
                _table, shown, problem = self.shown[0]
                _preview_table(shown, problem, suffix="")
                return
            failed = [table for table, _shown, problem in self.shown if problem]
            if failed:
                ui.label(
                    f"Not every table fits the mapping or rules: {', '.join(failed)} "
                    f"({len(failed)} of {len(self.shown)}; see their tabs, fix the mapping or "
                    "rules, or ingest one table)"
                ).classes("text-negative text-sm").props("data-testid=preview-failed")
            with ui.tabs().classes("w-full") as tabs:
                for table, _shown, _problem in self.shown:
                    ui.tab(table).props("no-caps")
            with ui.tab_panels(tabs, value=self.shown[0][0]).classes("w-full"):
                for table, shown, problem in self.shown:
                    with ui.tab_panel(table):
                        _preview_table(shown, problem, suffix=f"-{table}")

        self.body = body

    async def load(self) -> bool:
        wizard = self.wizard
        error = wizard.rules_error
        try:
            rules = wizard.rules()
        except yaml.YAMLError as exc:
            error.set_text(f"rules: not valid YAML ({str(exc).splitlines()[0]})")
            error.set_visibility(True)
            return False
        mapping = wizard.mapping()
        if not wizard.every_table:
            ok, shown = await attempt(
                ingest_service.preview,
                wizard.ctx,
                wizard.source,
                rules,
                wizard.table,
                mapping=mapping,
                error=error,
            )
            if ok:
                self.shown = [(wizard.table or "", shown, None)]
                self.body.refresh()
            return ok
        self.shown = []
        for table in wizard.tables:
            try:
                shown = await run.io_bound(
                    ingest_service.preview, wizard.ctx, wizard.source, rules, table, mapping=mapping
                )
                self.shown.append((table, shown, None))
            except Exception as exc:  # shown in the table's tab: one line, never a trace
                self.shown.append((table, None, one_line(exc)))
        self.body.refresh()
        return True


def _preview_table(shown: dict[str, Any] | None, problem: str | None, suffix: str) -> None:
    """One table's preview (summary line and grid), or why the table cannot be previewed."""
    if shown is None:
        ui.label(problem or "").classes("text-negative").props(f"data-testid=preview-error{suffix}")
        return
    ui.label(
        f"{shown['source']} table {shown['table']}: {shown['rows_shown']} rows shown, "
        f"{shown['rows_kept']} kept, {shown['rows_rejected']} rejected"
    ).classes("font-medium").props(f"data-testid=preview-summary{suffix}")
    rows = [{**row["values"], **row["verdicts"], "_kept": row["kept"]} for row in shown["rows"]]
    grid(
        rows,
        ["_kept", *shown["rules"], *shown["columns"]],
        page_size=10,
        cell_rules={
            r: {"dat-fail": "x === false", "dat-pass": "x === true"} for r in shown["rules"]
        },
        row_rules={"dat-rejected": "data._kept === false"},
        height="h-96",
    ).props(f"data-testid=ingest-preview{suffix}")


def preview_step(wizard: Wizard, stepper: ui.stepper) -> None:
    wizard.preview_view = PreviewView(wizard)
    wizard.preview_view.body()
    with ui.stepper_navigation():
        ui.button("Back", on_click=stepper.previous).props("flat")
        ui.button("Next", on_click=stepper.next).props("data-testid=preview-next")


# -- 5. submit ------------------------------------------------------------------------------------
def submit_step(wizard: Wizard, stepper: ui.stepper) -> None:
    error = error_label()
    result = ui.column()

    async def submit() -> None:
        ok, outcome = await attempt(
            ingest_service.ingest,
            wizard.ctx,
            wizard.source,
            table=None if wizard.every_table else wizard.table,
            rules=wizard.rules(),
            mapping=wizard.mapping(),
            error=error,
        )
        if not ok or outcome is None:
            return
        result.clear()
        with result:
            if outcome["mode"] == "sync":
                ui.label(
                    f"Ingested: {outcome['rows_in']} rows in, {outcome['rows_kept']} kept, "
                    f"{outcome['rows_rejected']} rejected"
                ).classes("text-positive font-medium").props("data-testid=ingest-result")
                if len(outcome.get("tables") or []) > 1:
                    for done in outcome["tables"]:
                        ui.label(
                            f"{done['table']}: {done['rows_in']} rows in, {done['rows_kept']} "
                            f"kept, {done['rows_rejected']} rejected"
                        ).classes("text-sm").props(f"data-testid=ingested-{done['table']}")
                for kind, path in outcome["outputs"].items():
                    ui.label(f"{kind}: {path}").classes("font-mono text-sm")
            else:
                ui.label(f"Queued as job {outcome['job_id']}").props("data-testid=ingest-result")
            ui.link("See the jobs", "/jobs")

    ui.label("Ingest the whole source with this mapping and these rules.")
    with ui.stepper_navigation():
        ui.button("Back", on_click=stepper.previous).props("flat")
        ui.button("Submit", on_click=submit).props("data-testid=submit")


# -- uploads and jobs -----------------------------------------------------------------------------
def uploads_card(ctx: ServiceContext) -> Any:
    @ui.refreshable
    def uploads() -> None:
        found = ingest_service.list_uploads(ctx)
        ui.label(f"Uploads ({len(found)})").classes("text-lg font-semibold")
        for upload in found:
            with ui.row().classes("items-center gap-3"):
                ui.label(
                    f"{upload['filename']} · {upload['project']} · {upload['format']} · "
                    f"{upload['row_count']} rows · {upload['upload_id']}"
                ).classes("text-sm")

                async def forget(_event: Any, upload_id: str = upload["upload_id"]) -> None:
                    ok, _ = await attempt(ingest_service.delete_upload, ctx, upload_id)
                    if ok:
                        uploads.refresh()

                ui.button(icon="delete", on_click=forget).props("flat dense color=negative")

    with ui.card().classes("w-full"):
        uploads()
    return uploads


@console_page("/jobs", "Jobs")
def jobs_page(ctx: ServiceContext) -> None:
    chosen: dict[str, Any] = {"job": None, "logs": [], "jobs": ingest_service.list_jobs(ctx)}
    chosen["seen"] = (chosen["jobs"], [])

    @ui.refreshable
    def jobs() -> None:
        if not chosen["jobs"]:
            ui.label("No ingestion jobs yet.").classes("text-gray-500")
        for job in chosen["jobs"]:
            with (
                ui.card()
                .classes("w-full p-2 cursor-pointer")
                .props(f"data-testid=job-{job['job_id']}")
                .on("click", lambda _event, job_id=job["job_id"]: pick(job_id))
            ):
                with ui.row().classes("items-center gap-4"):
                    ui.label(job["job_id"]).classes("font-mono text-sm")
                    ui.badge(job["status"])
                    ui.label(f"{job['project']} · {job['source']} · {job['mode']}").classes(
                        "text-sm"
                    )
                    ui.linear_progress(
                        value=(job["progress"] or 0) / 100, show_value=False
                    ).classes("w-48")
                    ui.label(f"{job['rows_processed'] or 0} rows").classes("text-sm")
                if job.get("error"):
                    ui.label(job["error"].splitlines()[0]).classes("text-negative text-sm")

    @ui.refreshable
    def logs() -> None:
        if chosen["job"] is None:
            ui.label("Click a job to see its log.").classes("text-gray-500")
            return
        ui.label(f"Log of {chosen['job']}").classes("font-semibold")
        for line in chosen["logs"]:
            ui.label(
                f"{line.get('at', '')} {line.get('level', '')} {line.get('message', '')}"
            ).classes("font-mono text-xs")

    def pick(job_id: str) -> None:
        chosen["job"] = job_id
        chosen["logs"] = ingest_service.job_logs(ctx, job_id)
        logs.refresh()

    def tick() -> None:
        """Redraw only what changed (a card redrawn under the pointer cannot be clicked)."""
        found = ingest_service.list_jobs(ctx)
        lines = ingest_service.job_logs(ctx, chosen["job"]) if chosen["job"] else []
        if (found, lines) != chosen["seen"]:
            chosen.update(seen=(found, lines), jobs=found, logs=lines)
            jobs.refresh()
            logs.refresh()

    with ui.row().classes("w-full p-4 gap-4 no-wrap"):
        with ui.column().classes("w-2/3"):
            jobs()
        with ui.column().classes("w-1/3"):
            logs()
    ui.timer(1.0, tick)
