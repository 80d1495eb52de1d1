"""The `dat` command: everything a user does outside the Dagster UI."""

from __future__ import annotations

import typer

from dat_pipeline.cli import dat_commands, profile_commands
from dat_pipeline.cli.cancel_command import cancel
from dat_pipeline.cli.rules_commands import rules_app

app = typer.Typer(
    help="dat_pipeline: staged aggregation (DAT) runs, stages and artifacts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
dat_commands.register(app)
app.add_typer(profile_commands.profiles_app, name="profiles")
app.command("cleanup")(profile_commands.cleanup)
app.add_typer(rules_app, name="rules")
app.command("cancel")(cancel)


def main() -> None:
    app()
