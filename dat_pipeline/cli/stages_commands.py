"""`dat stages` and `dat stages show STAGE`: the stages, their gates, what unlocking cascades, and
each stage's config keys, generated from the stage graph and the stage's config model."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import typer

from dat_pipeline.cli.output import (
    JsonOption,
    WideOption,
    emit_json,
    emit_table,
    handles_errors,
    say,
)
from dat_pipeline.cli.render import terminal_width
from dat_pipeline.errors import NotFoundError

stages_app = typer.Typer(
    help="The DAT stages: gates, cascades and config keys (--json for scripts).",
    invoke_without_command=True,
)


def _graph() -> Any:
    from dat_pipeline.dat.graph import load_graph
    from dat_pipeline.settings import get_settings

    return load_graph(get_settings().stage_graph)


def gate_text(rule: Any) -> str:
    """When a stage may be locked, and why."""
    if not rule.requires:
        return "any time: it is the first stage"
    parts = [
        f"{name} locked, not necessarily built (its config is checked when it is built, so a "
        "whole chain can be locked ahead)"
        for name in rule.requires
        if name not in rule.requires_completed
    ]
    parts += [
        f"{name} built completely (it reads every table {name} wrote)"
        for name in rule.requires_completed
    ]
    return "; ".join(parts)


def stage_views(graph: Any) -> list[dict[str, Any]]:
    """One record per stage, in graph order: gate, cascade, whether it may be skipped."""
    return [
        {
            "stage": rule.name,
            "requires": list(rule.requires),
            "requires_completed": list(rule.requires_completed),
            "unlocks": list(graph.cascade(rule.name)),
            "optional": rule.optional,
            "gate": gate_text(rule),
            "description": " ".join(rule.description.split()),
        }
        for rule in (graph.rule(name) for name in graph.order)
    ]


def readable_type(prop: dict[str, Any]) -> str:
    """A JSON-schema property as a person says it: `list of text`, `true/false`, `one of a|b`."""
    options = [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]
    nullable = len(options) < len(prop.get("anyOf", [prop]))
    names = [_one_type(option) for option in options] or ["anything"]
    text = " or ".join(names)
    return f"{text} (optional)" if nullable else text


def _one_type(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return "one of " + "|".join(str(v) for v in prop["enum"])
    if "const" in prop:
        return json.dumps(prop["const"])
    kind = prop.get("type")
    if kind == "array":
        return f"list of {_one_type(prop.get('items', {}))}"
    if kind == "object":
        values = prop.get("additionalProperties")
        if isinstance(values, dict):
            return f"mapping of text to {readable_type(values)}"
        return "mapping"
    return {
        "string": "text",
        "boolean": "true/false",
        "integer": "whole number",
        "number": "number",
    }.get(kind or "", "anything")


def _placeholder(prop: dict[str, Any]) -> Any:
    """A value of the property's type, to show the syntax."""
    options = [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]
    first = options[0] if options else {}
    if "enum" in first:
        return first["enum"][0]
    kind = first.get("type")
    if kind == "array":
        return [_placeholder(first.get("items", {}))]
    if kind == "object":
        values = first.get("additionalProperties")
        return {"NAME": _placeholder(values) if isinstance(values, dict) else "VALUE"}
    return {"string": "TEXT", "boolean": True, "integer": 1, "number": 1.0}.get(kind or "", "")


def key_views(stage: str) -> list[dict[str, Any]]:
    """The config keys of a stage, from its config model: name, type, default, description."""
    from dat_pipeline.dat.stages import STAGES

    model = STAGES[stage].config_model
    schema = model.model_json_schema()
    keys = []
    for name, field in model.model_fields.items():
        resolved = _resolve(schema.get("properties", {}).get(name, {}), schema)
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        keys.append(
            {
                "key": name,
                "type": readable_type(resolved),
                "required": field.is_required(),
                "default": default,
                "description": field.description or "",
                "example": field.examples[0]
                if field.examples
                else (default if default not in (None, [], {}) else _placeholder(resolved)),
            }
        )
    return keys


def _resolve(prop: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Inline `$ref`s to the model's definitions (enums of Literal lists land there)."""
    if "$ref" in prop:
        return _resolve(schema["$defs"][prop["$ref"].rsplit("/", 1)[-1]], schema)
    resolved = dict(prop)
    for key in ("items", "additionalProperties"):
        if isinstance(prop.get(key), dict):
            resolved[key] = _resolve(prop[key], schema)
    if "anyOf" in prop:
        resolved["anyOf"] = [_resolve(p, schema) for p in prop["anyOf"]]
    return resolved


def example_command(stage: str, keys: list[dict[str, Any]]) -> str:
    """One `dat lock` line: the required keys, else the first key, to show the syntax."""
    shown = [k for k in keys if k["required"]] or keys[:1]
    sets = [
        f"--set {k['key']}={k['example']}"
        if isinstance(k["example"], str)
        else f"--set '{k['key']}={json.dumps(k['example'], ensure_ascii=False)}'"
        for k in shown
    ]
    return " ".join(["dat lock RUN", stage, *sets])


@stages_app.callback()
@handles_errors
def stages(ctx: typer.Context, as_json: bool = JsonOption, wide: bool = WideOption) -> None:
    """Every stage in order: when it may be locked and why, and what unlocking it cascades to."""
    if ctx.invoked_subcommand is not None:
        return
    views = stage_views(_graph())
    if as_json:
        emit_json({"stages": views})
        return
    emit_table(
        "DAT stages, in order (dat stages show STAGE: its config keys)",
        ["stage", "may be locked when", "optional"],
        [
            [v["stage"], gate_text_short(v), "yes (dat skip)" if v["optional"] else ""]
            for v in views
        ],
        wide=wide,
    )
    width = terminal_width()
    typer.echo("\nunlocking a stage also unlocks (their configs are kept):")
    for v in views:
        line = f"{v['stage']}: {', '.join(v['unlocks']) or 'nothing'}"
        typer.echo(textwrap.fill(line, width, initial_indent="  ", subsequent_indent="    "))
    typer.echo("\nwhen each stage may be locked, and why:")
    for v in views:
        line = f"{v['stage']}: {v['gate']}"
        typer.echo(textwrap.fill(line, width, initial_indent="  ", subsequent_indent="    "))


def gate_text_short(view: dict[str, Any]) -> str:
    locked = [n for n in view["requires"] if n not in view["requires_completed"]]
    parts = [f"{n} locked" for n in locked] + [f"{n} built" for n in view["requires_completed"]]
    return ", ".join(parts) or "any time"


@stages_app.command("show")
@handles_errors
def show(stage: str, as_json: bool = JsonOption, wide: bool = WideOption) -> None:
    """A stage's config keys (type, default, meaning), its gate and one example."""
    graph = _graph()
    if stage not in graph.order:
        raise NotFoundError(f"unknown stage {stage!r}; the stages are: {', '.join(graph.order)}")
    view = next(v for v in stage_views(graph) if v["stage"] == stage)
    keys = key_views(stage)
    example = example_command(stage, keys)
    if as_json:
        emit_json({**view, "keys": keys, "example": example})
        return
    say(f"{stage}: {view['description']}")
    say(f"may be locked: {view['gate']}")
    say(f"unlocking it also unlocks: {', '.join(view['unlocks']) or 'nothing'}")
    if view["optional"]:
        typer.echo(f"optional: dat skip RUN {stage}")
    typer.echo("")
    emit_table(
        "config keys (--set key=value, or a YAML file with --config)",
        ["key", "type", "default", "meaning"],
        [
            [
                k["key"],
                k["type"],
                "required" if k["required"] else json.dumps(k["default"], ensure_ascii=False),
                k["description"],
            ]
            for k in keys
        ],
        wide=wide,
    )
    say(f"\nexample: {example}")


def register(app: typer.Typer) -> None:
    app.add_typer(stages_app, name="stages")
