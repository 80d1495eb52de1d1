"""`dat rules templates`: every cleaning rule type with its parameters and a YAML example."""

from __future__ import annotations

from pathlib import Path

import typer

from dat_pipeline.cli.output import JsonOption, act, emit_json, emit_table, handles_errors

rules_app = typer.Typer(
    help="Cleaning rules: templates and the named rule sets of a project.", no_args_is_help=True
)


@rules_app.command("templates")
def templates(as_json: bool = JsonOption) -> None:
    """List every rule type with its parameters and a ready-to-edit YAML example."""
    from dat_pipeline.services.ingestion import cleaning_templates

    found = cleaning_templates()
    if as_json:
        emit_json({"templates": found})
        return
    emit_table(
        "cleaning rule templates",
        ["type", "parameters", "example (YAML)"],
        [
            [t["type"], "\n".join(f"{k}: {v}" for k, v in t["params"].items()), t["example_yaml"]]
            for t in found
        ],
    )


@rules_app.command("save")
@handles_errors
def save_set(
    name: str = typer.Argument(..., help="Rule set name, e.g. orders_basic."),
    file: Path = typer.Option(..., "--file", help="Rules YAML file."),
    project: str = typer.Option(..., "--project"),
) -> None:
    """Validate and save a named rule set of a project (replaces one of the same name)."""
    from dat_pipeline.ingestion.runs import read_rules
    from dat_pipeline.services import ingestion

    saved = act(lambda ctx: ingestion.save_rule_set(ctx, name, read_rules(file), project))
    typer.echo(f"saved rule set {saved['name']} of project {saved['project']}")


@rules_app.command("sets")
@handles_errors
def list_sets(project: str = typer.Option(..., "--project"), as_json: bool = JsonOption) -> None:
    """The named rule sets of a project."""
    from dat_pipeline.services import ingestion

    names = act(lambda ctx: ingestion.list_rule_sets(ctx, project))
    if as_json:
        emit_json({"project": project, "rule_sets": names})
    else:
        typer.echo("\n".join(names) or f"project {project} has no rule set")


@rules_app.command("show")
@handles_errors
def show_set(name: str, project: str = typer.Option(..., "--project")) -> None:
    """Print a named rule set's YAML (use it with `dat ingest run --rules`)."""
    from dat_pipeline.services import ingestion
    from dat_pipeline.services.context import open_context

    with open_context() as ctx:
        typer.echo(ingestion.get_rule_set(ctx, name, project), nl=False)
