"""The `dat` command: everything a user does outside the Dagster UI."""

from __future__ import annotations

import typer

from dat_pipeline.cli import dat_commands, profile_commands
from dat_pipeline.cli.analysis_commands import analysis_app
from dat_pipeline.cli.api_commands import serve, tokens_app
from dat_pipeline.cli.cancel_command import cancel
from dat_pipeline.cli.db_commands import backfill_app, db_app
from dat_pipeline.cli.ingest_commands import ingest_app, jobs_app, sources_app
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
app.add_typer(sources_app, name="sources")
app.add_typer(ingest_app, name="ingest")
app.add_typer(jobs_app, name="jobs")
app.add_typer(analysis_app, name="analysis")
app.command("cancel")(cancel)
app.command("serve")(serve)
app.add_typer(tokens_app, name="tokens")
app.add_typer(db_app, name="db")
app.add_typer(backfill_app, name="backfill")


def main() -> None:
    app()
