"""The `dat` command: everything a user does outside the Dagster UI."""

from __future__ import annotations

import typer

from dat_pipeline.cli import dat_commands

app = typer.Typer(
    help="dat_pipeline: staged aggregation (DAT) runs, stages and artifacts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
dat_commands.register(app)


def main() -> None:
    app()
