"""The analysis page: sources, a run with progress per phase, and the report with plots
(relationship graph, correlation heat map, cycles, quality per column) drawn with ECharts,
which NiceGUI ships."""

from __future__ import annotations

import json
from typing import Any

from nicegui import ui

from dat_pipeline.console.common import (
    asset_link,
    attempt,
    console_page,
    error_label,
    grid,
    run_link,
)
from dat_pipeline.services import analysis as analysis_service
from dat_pipeline.services.context import ServiceContext

STATE_COLOURS = {"ok": "positive", "stale": "warning", "failed": "negative", "blocked": "negative"}


def _columns(value: Any) -> str:
    """A column list as stored (a list, or its JSON text) as `a, b`."""
    if isinstance(value, str) and value.startswith("["):
        value = json.loads(value)
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def relationship_chart(report: dict[str, Any]) -> None:
    tables = [t["name"] for t in report.get("tables", [])]
    links = [
        {
            "source": r["from_table"],
            "target": r["to_table"],
            "label": {
                "show": True,
                "formatter": f"{_columns(r['from_columns'])} → {_columns(r['to_columns'])}",
            },
        }
        for r in report.get("relationships", [])
        if r.get("from_table") in tables and r.get("to_table") in tables
    ]
    ui.echart(
        {
            "title": {"text": "Relationships", "textStyle": {"fontSize": 14}},
            "series": [
                {
                    "type": "graph",
                    "layout": "circular",
                    "roam": True,
                    "label": {"show": True},
                    "symbolSize": 40,
                    "edgeSymbol": ["none", "arrow"],
                    "data": [{"name": name} for name in tables],
                    "links": links,
                }
            ],
        }
    ).classes("w-full h-80")


def correlation_chart(report: dict[str, Any]) -> None:
    pairs = [c for c in report.get("correlations", []) if c.get("value") is not None]
    if not pairs:
        ui.label("No kept correlation.").classes("text-gray-500")
        return
    table = pairs[0]["table"]
    pairs = [c for c in pairs if c["table"] == table]
    columns = sorted({name for c in pairs for name in c["columns"]})
    cells = [[i, i, 1.0] for i in range(len(columns))]
    for c in pairs:
        a, b = (columns.index(name) for name in c["columns"])
        cells += [[a, b, round(c["value"], 3)], [b, a, round(c["value"], 3)]]
    ui.echart(
        {
            "title": {"text": f"Correlations in {table}", "textStyle": {"fontSize": 14}},
            "tooltip": {},
            "xAxis": {"type": "category", "data": columns},
            "yAxis": {"type": "category", "data": columns},
            "visualMap": {
                "min": -1,
                "max": 1,
                "calculable": True,
                "orient": "horizontal",
                "left": "center",
                "bottom": 0,
            },
            "series": [{"type": "heatmap", "data": cells, "label": {"show": True}}],
        }
    ).classes("w-full h-96")


def cycles_chart(report: dict[str, Any]) -> None:
    cycles = report.get("cycles", [])
    if not cycles:
        ui.label("No business cycle found.").classes("text-gray-500")
        return
    labels = [
        f"{c['table']}.{c['measure'] or 'rows'} (every {c['period']:.1f} {c['unit']})"
        for c in cycles
    ]
    ui.echart(
        {
            "title": {
                "text": "Cycles: strength per measure and period",
                "textStyle": {"fontSize": 14},
            },
            "tooltip": {},
            "xAxis": {"type": "value", "max": 1},
            "yAxis": {"type": "category", "data": labels},
            "grid": {"left": 260},
            "series": [{"type": "bar", "data": [c["strength"] for c in cycles]}],
        }
    ).classes("w-full h-72")


def quality_chart(report: dict[str, Any]) -> None:
    labels, scores = [], []
    for table in report.get("tables", []):
        for column in table.get("columns", []):
            if column.get("quality_score") is not None:
                labels.append(f"{table['name']}.{column['name']}")
                scores.append(round(column["quality_score"], 3))
    if not labels:
        ui.label("No quality scores yet.").classes("text-gray-500")
        return
    ui.echart(
        {
            "title": {"text": "Quality per column", "textStyle": {"fontSize": 14}},
            "tooltip": {},
            "xAxis": {"type": "category", "data": labels, "axisLabel": {"rotate": 60}},
            "yAxis": {"type": "value", "max": 1},
            "grid": {"bottom": 140},
            "series": [{"type": "bar", "data": scores}],
        }
    ).classes("w-full h-96")


@console_page("/analysis", "Analysis")
def analysis_page(ctx: ServiceContext, source: str | None = None) -> None:
    sources = analysis_service.list_sources(ctx)["sources"]
    state: dict[str, Any] = {"job": None, "seen": None}
    with ui.row().classes("w-full p-4 gap-6 no-wrap"):
        with ui.column().classes("w-1/4 gap-2"):
            ui.label("Sources").classes("text-lg font-semibold")
            for found in sources:
                ui.link(found["name"], f"/analysis?source={found['name']}").classes(
                    "font-medium" if found["name"] == source else ""
                )
            ui.label("Add a source").classes("font-semibold mt-4")
            name = ui.input("Name")
            origin = ui.input("From (dataset id ds_… or a folder in the data root)")
            error = error_label()

            async def add() -> None:
                ok, added = await attempt(
                    analysis_service.add_source,
                    ctx,
                    name.value or "",
                    origin.value or "",
                    error=error,
                )
                if ok and added:
                    ui.navigate.to(f"/analysis?source={added['name']}")

            ui.button("Add source", on_click=add)
        with ui.column().classes("w-3/4 gap-3"):
            if source is None:
                ui.label("Pick a source on the left, or add one.").classes("text-gray-500")
                return None
            source_view(ctx, source, state)


def source_view(ctx: ServiceContext, source: str, state: dict[str, Any]) -> None:
    error = error_label()
    with ui.row().classes("items-center gap-4"):
        ui.label(source).classes("text-xl font-semibold")
        ui.link("phases in Dagster", asset_link("analysis", "import", source), new_tab=True)

        async def start() -> None:
            ok, started = await attempt(analysis_service.start_run, ctx, source, error=error)
            if ok and started and started["job"]:
                state["job"] = started["job"]["job_id"]

        ui.button("Run analysis", on_click=start).props("data-testid=run-analysis")

    @ui.refreshable
    def phases() -> None:
        status = analysis_service.status(ctx, source)
        entries = status.get("phases", [])
        done = sum(1 for p in entries if p.get("state") == "ok")
        ui.linear_progress(value=done / max(len(entries), 1), show_value=False)
        with ui.row().classes("gap-2"):
            for phase in entries:
                ui.badge(
                    f"{phase['phase']}: {phase['state']}",
                    color=STATE_COLOURS.get(phase["state"], "grey"),
                )
        if state["job"]:
            job = analysis_service.show_job(ctx, state["job"])
            ui.link(
                f"job {job['job_id'][:8]}: {job['status'].lower()}",
                run_link(job["job_id"]),
                new_tab=True,
            )
            for message in job.get("errors", []):
                ui.label(message).classes("text-negative text-sm")

    @ui.refreshable
    def report() -> None:
        try:
            document = analysis_service.report(ctx, source)
        except Exception as exc:  # a source never analysed has no report yet
            ui.label(f"No report yet ({exc.__class__.__name__}).").classes("text-gray-500")
            return
        if not document.get("tables"):
            ui.label("No report yet: run the analysis.").classes("text-gray-500")
            return
        findings = document.get("findings", [])[:10]
        if findings:
            ui.label("Findings").classes("font-semibold")
            grid(
                [{k: v for k, v in f.items() if not isinstance(v, dict | list)} for f in findings],
                height="h-56",
            )
        with ui.grid(columns=2).classes("w-full"):
            relationship_chart(document)
            correlation_chart(document)
            cycles_chart(document)
            quality_chart(document)

    phases()
    report()

    def tick() -> None:
        status = analysis_service.status(ctx, source)
        job = analysis_service.show_job(ctx, state["job"]) if state["job"] else None
        seen = (status, job)
        if seen != state["seen"]:
            state["seen"] = seen
            phases.refresh()
            report.refresh()

    state["seen"] = (analysis_service.status(ctx, source), None)
    ui.timer(1.0, tick)
