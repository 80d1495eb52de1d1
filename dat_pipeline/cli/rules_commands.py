"""`dat rules templates`: every cleaning rule type with its parameters and a YAML example."""

from __future__ import annotations

import typer

from dat_pipeline.cli.output import JsonOption, emit_json, emit_table

rules_app = typer.Typer(help="Cleaning rules: templates.", no_args_is_help=True)


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
