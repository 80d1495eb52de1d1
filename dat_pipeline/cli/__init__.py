"""The `dat` command: everything a user does outside the Dagster UI.

The DAT commands (`runs`, `lock`, `status`, `show`, `stages`...) are light and registered at
once; every other group is imported only when it is called, so `dat status` and `dat --help`
start without loading ingestion, analysis, the API or Dagster (SPEC 12).
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import typer
from typer.core import TyperGroup

from dat_pipeline.cli import dat_commands, stages_commands
from dat_pipeline.cli.output import set_verbose

# name: (module, attribute: a Typer app or a command function, the summary `dat --help` shows)
LAZY: dict[str, tuple[str, str, str]] = {
    "profiles": (
        "dat_pipeline.cli.profile_commands",
        "profiles_app",
        "Extraction profiles: saved stage configs that pre-fill new runs.",
    ),
    "cleanup": (
        "dat_pipeline.cli.profile_commands",
        "cleanup",
        "List artifacts of a run that nothing locked references, and partial writes; --apply "
        "deletes.",
    ),
    "rules": ("dat_pipeline.cli.rules_commands", "rules_app", "Cleaning rules: templates."),
    "sources": (
        "dat_pipeline.cli.ingest_commands",
        "sources_app",
        "Database sources (passwords encrypted at rest).",
    ),
    "ingest": (
        "dat_pipeline.cli.ingest_commands",
        "ingest_app",
        "Upload files, preview rules, run ingestions.",
    ),
    "jobs": (
        "dat_pipeline.cli.ingest_commands",
        "jobs_app",
        "Ingestion jobs: status, progress, logs, cancel.",
    ),
    "analysis": (
        "dat_pipeline.cli.analysis_commands",
        "analysis_app",
        "Analyse sources: typing, statistics, quality, keys, time, cycles, validation and a "
        "readiness verdict, as Dagster assets partitioned by source.",
    ),
    "cancel": (
        "dat_pipeline.cli.cancel_command",
        "cancel",
        "Cancel a DAT run: stages stop at their next checkpoint; completed work is kept.",
    ),
    "serve": (
        "dat_pipeline.cli.api_commands",
        "serve",
        "Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs).",
    ),
    "tokens": (
        "dat_pipeline.cli.api_commands",
        "tokens_app",
        "Bearer tokens of the HTTP API; each scopes a caller to its projects.",
    ),
    "db": (
        "dat_pipeline.cli.db_commands",
        "db_app",
        "Introspect database tables and generate models.",
    ),
    "backfill": (
        "dat_pipeline.cli.db_commands",
        "backfill_app",
        "Plan, run and audit windowed backfills of the tables in backfill.yaml.",
    ),
    "datasets": (
        "dat_pipeline.cli.dataset_commands",
        "datasets_app",
        "Every dataset written (DAT exports, ingestion outputs, backfill tables, analysis "
        "results), with its DuckDB view.",
    ),
}


_WORDS = {"str": "TEXT", "int": "N", "float": "NUMBER", "Path": "FILE", "datetime": "TIME"}


def readable_help(command: Any) -> Any:
    """Help a person reads: `RUN_ID`, `--set TEXT`, `--limit N`, not `<str>`, `<list[str]>`;
    plain text (no boxes) for every group. Applied to each command as it is loaded."""
    for param in command.params:
        if param.metavar is not None or getattr(param, "is_flag", False):
            continue
        if param.param_type_name == "argument":
            param.metavar = param.name.upper()
            param.display_type_rich = lambda ctx=None: None  # the name says it: no `<str>`
            continue
        descriptor = param.type_descriptor
        if descriptor.is_choice:
            param.metavar = "|".join(str(c) for c in descriptor.choices or ())
            continue
        bare = param.bare_type()
        inner = bare[5:-1] if bare.startswith("list[") else bare
        param.metavar = _WORDS.get(inner, inner.upper())
    if hasattr(command, "rich_markup_mode"):
        command.rich_markup_mode = None
    for sub in getattr(command, "commands", {}).values():
        readable_help(sub)
    return command


def load_lazy(name: str) -> Any:
    """Import the module behind a lazily registered command and build its click command."""
    module, attribute, _summary = LAZY[name]
    target: Any = getattr(importlib.import_module(module), attribute)
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)
    else:
        single = typer.Typer()
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return readable_help(command)


class LazyGroup(TyperGroup):
    """The top-level group: eager commands as usual, lazy ones imported on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *LAZY]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in LAZY:
            return load_lazy(cmd_name)
        command = super().get_command(ctx, cmd_name)
        return None if command is None else readable_help(command)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        eager = [(name, self.commands[name]) for name in super().list_commands(ctx)]
        rows = [(name, command.get_short_help_str(60)) for name, command in eager]
        rows += [(name, summary) for name, (_m, _a, summary) in LAZY.items()]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))


app = typer.Typer(
    cls=LazyGroup,
    help="dat_pipeline: staged aggregation (DAT) runs, stages and artifacts. Most commands "
    "take --json (one JSON document for scripts) and --wide (tables wider than the terminal).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain help: lists the lazy groups without importing them
)


@app.callback()
def _options(
    verbose: bool = typer.Option(
        False, "--verbose", help="Show the stack trace of a failure and Dagster's log."
    ),
) -> None:
    set_verbose(verbose)
    if not verbose:  # a person reads one line per outcome, not library warnings
        warnings.simplefilter("ignore")


dat_commands.register(app)
stages_commands.register(app)


def main() -> None:
    app()
