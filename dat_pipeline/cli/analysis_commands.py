"""`dat analysis add-source|sources|run|status|reset|graph|report`: the analysis pipeline (SPEC 4).

Dagster is imported only by the commands that start or register runs, so `status`, `graph`,
`report` and a `run` with nothing to do stay quick.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from dat_pipeline.cli.dat_commands import _parse_sets
from dat_pipeline.cli.output import (
    JsonOption,
    act,
    emit_json,
    emit_table,
    fail,
    handles_errors,
    reply,
    service,
)
from dat_pipeline.services.context import open_context

if TYPE_CHECKING:
    from dat_pipeline.analysis.runner import PhaseReport


analysis_app = typer.Typer(
    help="Analyse sources: typing, statistics, quality, keys, time, cycles, validation and a "
    "readiness verdict, as Dagster assets partitioned by source.",
    no_args_is_help=True,
)


@analysis_app.command("add-source")
@handles_errors
def add_source_command(
    name: str = typer.Argument(..., help="Source name: lowercase letters, digits and _."),
    from_: str = typer.Option(
        ...,
        "--from",
        help="A folder or file under the data root, a DAT dataset id (ds_xxxxxxxx: each of "
        "its tables), db://SOURCE (a registered database source) or upload:PROJECT (ingestion's "
        "clean outputs).",
    ),
    follow: bool = typer.Option(
        False, "--follow", help="For a dataset: follow the newest export under the same name."
    ),
    options: list[str] = typer.Option(
        [], "--option", help="Phase option key=value, e.g. type_threshold=0.9."
    ),
    project: str | None = typer.Option(
        None, "--project", help="Project the source belongs to (default: default)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Register a source (a new partition of `sources`)."""
    source = act(
        lambda ctx: service("analysis").add_source(
            ctx, name, from_, follow, _parse_sets(options), project
        )
    )
    if as_json:
        emit_json(source)
    else:
        typer.echo(f"source {source['name']}: {source['kind']} {source['location']}")


@analysis_app.command("sources")
@handles_errors
def sources_command(as_json: bool = JsonOption) -> None:
    """List the analysis sources."""
    found = act(lambda ctx: service("analysis").list_sources(ctx)["sources"])
    if as_json:
        emit_json({"sources": found})
        return
    emit_table(
        "analysis sources",
        ["name", "kind", "location", "follow", "created_at"],
        [[s["name"], s["kind"], s["location"], s["follow"], s["created_at"]] for s in found],
        empty="No analysis source yet: dat analysis add-source NAME --from PATH (a folder or "
        "file under the data root, or a dataset id).",
    )


@analysis_app.command("run")
@handles_errors
def run_command(
    source: str = typer.Argument(..., help="Source name."),
    phase: str | None = typer.Option(None, "--phase", help="Run this phase and what it needs."),
    concurrency: int | None = typer.Option(
        None,
        "--concurrency",
        min=1,
        help="Phases run at the same time (processes); 1 runs them in this process. Default: "
        "in this process below 1 GiB of source files (faster there), else 2 processes.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Run the analysis of a source on the Dagster instance; unchanged phases are skipped."""

    def show(report: PhaseReport) -> None:
        print(report.line(), file=sys.stderr if as_json else sys.stdout, flush=True)

    if not as_json:
        typer.echo(f"analysis of {source}:")
    run = act(lambda ctx: service("analysis").run(ctx, source, phase, concurrency, show))
    counts: dict[str, int] = {}
    for report in run["phases"]:
        counts[report["state"]] = counts.get(report["state"], 0) + 1
    if as_json:
        emit_json(run)
    else:
        parts = [f"{counts.get(k, 0)} {k}" for k in ("ran", "skipped", "failed", "blocked")]
        typer.echo(
            f"{', '.join(parts)} in {run['seconds']:.2f} s"
            + (f" (run {run['run_id']})" if run["run_id"] else "")
        )
    if not run["success"]:
        failed = [r["phase"] for r in run["phases"] if r["state"] == "failed"]
        blocked = [r["phase"] for r in run["phases"] if r["state"] == "blocked"]
        fail(
            f"analysis of {source}: failed {', '.join(failed) or '-'}; "
            f"blocked {', '.join(blocked) or '-'} (dat analysis status {source})"
        )


@analysis_app.command("status")
@handles_errors
def status_command(source: str, as_json: bool = JsonOption) -> None:
    """Phase, state (ok, stale, missing, failed, blocked), duration and data version."""
    view = act(lambda ctx: service("analysis").status(ctx, source))
    rows = view["phases"]
    if as_json:
        emit_json(view)
        return
    emit_table(
        f"analysis of {source}",
        ["phase", "state", "duration s", "data version", "finished", "note"],
        [
            [
                r["phase"],
                r["state"],
                None if r["duration_s"] is None else f"{r['duration_s']:.2f}",
                (r["data_version"] or "")[:12],
                r["finished_at"],
                r["error"]
                or (f"blocked by {', '.join(r['blocked_by'])}" if r["blocked_by"] else ""),
            ]
            for r in rows
        ],
    )


@analysis_app.command("reset")
@handles_errors
def reset_command(
    source: str,
    phase: str | None = typer.Option(None, "--phase", help="Reset this phase and its dependents."),
    as_json: bool = JsonOption,
) -> None:
    """Delete the stored results of a phase and its dependents (default: every phase)."""
    result = act(lambda ctx: service("analysis").reset(ctx, source, phase))
    reply(result, as_json, f"reset: {', '.join(result['reset']) or 'nothing (no stored results)'}")


@analysis_app.command("graph")
@handles_errors
def graph_command(
    fmt: str = typer.Option("text", "--format", help="text or mermaid."),
    as_json: bool = JsonOption,
) -> None:
    """The phase graph: each phase with what it needs."""
    if fmt not in ("text", "mermaid"):
        fail(f"--format must be text or mermaid, not {fmt!r}", code=2)
    if as_json:
        emit_json(service("analysis").graph())
        return
    typer.echo(service("analysis").graph_text(fmt))


@analysis_app.command("report")
@handles_errors
def report_command(
    source: str,
    fmt: str = typer.Option("md", "--format", help="md, html or json (json: on stdout)."),
    as_json: bool = JsonOption,
) -> None:
    """The analysis report: JSON on stdout, or a Markdown/HTML file whose path is printed."""
    if fmt not in ("md", "html", "json"):
        fail(f"--format must be md, html or json, not {fmt!r}", code=2)
    with open_context() as ctx:
        if fmt == "json":
            emit_json(service("analysis").report(ctx, source))
            return
        path = service("analysis").write(ctx, source, fmt)
    if as_json:
        emit_json({"source": source, "format": fmt, "path": str(path)})
    else:
        typer.echo(str(path))
