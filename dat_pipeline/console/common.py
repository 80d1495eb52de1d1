"""What every console page shares: the context, the sign-in guard, the frame, errors and grids."""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import run, ui

from dat_pipeline.console import session
from dat_pipeline.errors import DatError
from dat_pipeline.services.context import ServiceContext, json_safe

log = logging.getLogger("dat_pipeline.console")
T = TypeVar("T")

_state: dict[str, ServiceContext] = {}


def set_context(context: ServiceContext) -> None:
    _state["context"] = context


def context() -> ServiceContext:
    """The console's context (no caller: only for signing in)."""
    return _state["context"]


def dagster_url() -> str:
    """The Dagster UI every page links to (`DAT_DAGSTER_UI_URL`, default the `make ui` address)."""
    return os.environ.get("DAT_DAGSTER_UI_URL", "http://127.0.0.1:3000").rstrip("/")


def asset_link(group: str, name: str, partition: str | None = None) -> str:
    suffix = f"?partition={partition}" if partition else ""
    return f"{dagster_url()}/assets/{group}/{name}{suffix}"


def run_link(job_id: str) -> str:
    return f"{dagster_url()}/runs/{job_id}"


def signed_in(request: Request) -> ServiceContext | RedirectResponse:
    """The context acting for the signed-in caller, or a redirect to the sign-in page."""
    caller = session.caller(context().store, request)
    if caller is None:
        return RedirectResponse("/login", status_code=303)
    return context().for_caller(caller)


def one_line(exc: BaseException) -> str:
    """What a person reads of a failure: the domain message's first line, never a trace."""
    if isinstance(exc, DatError):
        return exc.message
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0]}" if text else exc.__class__.__name__


def _domain_errors() -> set[str]:
    found, queue = set(), [DatError]
    while queue:
        cls = queue.pop()
        found.add(cls.__name__)
        queue.extend(cls.__subclasses__())
    return found


def stage_failure(error: str) -> tuple[str, str]:
    """A stage's recorded failure (`ErrorClass: message`) as its state label and the line a
    person reads: a domain error's message alone, a cancel as "cancelled"."""
    kind, _, message = error.partition(": ")
    if message and kind in _domain_errors():
        label = "cancelled" if kind == "StageCancelledError" else "failed"
        return label, message.strip().splitlines()[0]
    return "failed", error.strip().splitlines()[0]


async def attempt(
    call: Callable[..., T], *args: Any, error: ui.label | None = None, **kwargs: Any
) -> tuple[bool, T | None]:
    """Run `call` off the event loop; a failure shows as its one-line message (toast and `error`)."""
    if error is not None:
        error.set_text("")
        error.set_visibility(False)
    try:
        return True, await run.io_bound(call, *args, **kwargs)
    except Exception as exc:
        if not isinstance(exc, DatError):
            log.exception("console action failed")
        message = one_line(exc)
        ui.notify(message, type="negative", position="top", timeout=8000)
        if error is not None:
            error.set_text(message)
            error.set_visibility(True)
        return False, None


def error_label() -> ui.label:
    label = ui.label("").classes("text-negative text-sm dat-error")
    label.set_visibility(False)
    return label


def frame(ctx: ServiceContext, title: str) -> None:
    """The header with the navigation, the projects and sign-out."""
    ui.page_title(f"{title} · dat console")
    with ui.header().classes("items-center bg-slate-800 text-white gap-6 px-6 py-2"):
        ui.label("dat console").classes("text-lg font-semibold")
        for text, target in (
            ("Runs", "/"),
            ("Ingestion", "/ingestion"),
            ("Jobs", "/jobs"),
            ("Analysis", "/analysis"),
            ("Datasets", "/datasets"),
        ):
            ui.link(text, target).classes("text-white no-underline hover:underline")
        ui.space()
        ui.link("Dagster UI", dagster_url(), new_tab=True).classes("text-sky-200")
        ui.label(f"project: {', '.join(ctx.caller.projects or ())}").classes("text-sm opacity-80")
        ui.link("Sign out", "/console/logout").classes("text-white text-sm")


def console_page(path: str, title: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `build(ctx, **params)` as the page at `path` for signed-in callers: a caller
    without a session goes to the sign-in page; the others get the header (`title`, formatted
    with the page's parameters), the shared style, then what `build` lays out."""

    def register(build: Callable[..., Any]) -> Callable[..., Any]:
        def page(request: Request, **params: Any) -> Any:
            ctx = signed_in(request)
            if not isinstance(ctx, ServiceContext):
                return ctx
            frame(ctx, title.format(**params))
            ui.add_head_html(STYLE)
            return build(ctx, **params)

        own = inspect.signature(build, eval_str=True).parameters.values()
        request = inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request)
        # FastAPI and NiceGUI read the page's parameters (path and query) from its signature.
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own if p.name != "ctx"]
        page.__signature__ = inspect.Signature([request, *params])  # type: ignore[attr-defined]
        page.__name__ = build.__name__
        page.__doc__ = build.__doc__
        return ui.page(path)(page)

    return register


def grid(
    rows: list[dict[str, Any]],
    columns: list[str] | None = None,
    *,
    select: bool = False,
    selectable: str | None = None,
    selected: str | None = None,
    grey: str | None = None,
    row_rules: dict[str, str] | None = None,
    page_size: int | None = None,
    cell_rules: dict[str, dict[str, str]] | None = None,
    height: str = "h-72",
) -> ui.aggrid:
    """A sortable, filterable AG Grid of `rows`. `select`: checkboxes; `selectable`, `selected`
    and `grey` are JavaScript conditions on `data` (which rows may be picked, start picked, and
    are greyed out); `row_rules` and `cell_rules` map CSS classes to conditions on `data` and
    the cell value `x`."""
    rows = [json_safe(row) for row in rows]
    columns = columns or (list(rows[0]) if rows else [])
    column_defs = []
    for name in columns:
        definition: dict[str, Any] = {"field": name, "headerName": name}
        if cell_rules and name in cell_rules:
            rules = ", ".join(
                f"'{css}': (p) => {{ const x = p.value; return {cond}; }}"
                for css, cond in cell_rules[name].items()
            )
            definition[":cellClassRules"] = f"{{{rules}}}"
        column_defs.append(definition)
    options: dict[str, Any] = {
        "columnDefs": column_defs,
        "rowData": rows,
        "defaultColDef": {"sortable": True, "filter": True, "resizable": True},
    }
    if select:
        options["rowSelection"] = {"mode": "multiRow"}
        if selectable:
            options["rowSelection"][":isRowSelectable"] = (
                f"(node) => {{ const data = node.data; return {selectable}; }}"
            )
        if selected:
            options[":onFirstDataRendered"] = (
                f"(p) => p.api.forEachNode((node) => {{ const data = node.data; "
                f"node.setSelected(Boolean({selected})); }})"
            )
    row_rules = {**(row_rules or {}), **({"dat-grey": grey} if grey else {})}
    if row_rules:
        options[":rowClassRules"] = (
            "{"
            + ", ".join(
                f"'{css}': (p) => {{ const data = p.data; return {cond}; }}"
                for css, cond in row_rules.items()
            )
            + "}"
        )
    if page_size:
        options["pagination"] = True
        options["paginationPageSize"] = page_size
        options["paginationPageSizeSelector"] = False
    return ui.aggrid(options, auto_size_columns=len(columns) <= 8).classes(f"w-full {height}")


STYLE = """
<style>
.dat-grey { color: #9ca3af !important; background: #f3f4f6 !important; }
.dat-rejected { background: #fee2e2 !important; }
.dat-fail { background: #fca5a5 !important; font-weight: 600; }
.dat-pass { background: #dcfce7 !important; }
</style>
"""
