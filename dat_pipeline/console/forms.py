"""A stage's config form, generated from its pydantic config model (the model's JSON schema).

Booleans become checkboxes, numbers number fields, enums selects, lists of text chip inputs and
anything else (mappings, rules, header rows) a JSON text area. A page may replace a field with a
widget of its own (the catalog table for `files`, the folder picker for `root`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from nicegui import ui

from dat_pipeline.errors import StageConfigError

Getter = Callable[[], Any]


def _kind(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema of a field without its `null` alternative."""
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    return {**schema, **options[0]} if len(options) == 1 else schema


def _help(hint: str) -> None:
    """A field's description under it, wrapped to the field's width (a Quasar hint is one line
    tall and clips a longer one)."""
    if hint:
        ui.label(hint).classes("text-xs text-gray-600 leading-snug").props("data-testid=help")


def field_widget(name: str, schema: dict[str, Any], value: Any) -> Getter:
    """One input for `name` with its description under it; returns what reads its value back."""
    kind = _kind(schema)
    label = name.replace("_", " ")
    hint = schema.get("description", "")
    kind_type = kind.get("type")
    items = kind.get("items", {})
    if kind_type == "boolean":
        box = ui.checkbox(label, value=bool(value))
        if hint:
            box.tooltip(hint)
        return lambda: box.value
    listed = kind_type == "array" and ("enum" in items or items.get("type") == "string")
    simple = listed or kind_type in ("integer", "number", "string")
    with ui.column().classes("gap-1 " + ("w-64" if simple else "w-full")):
        getter = _input(name, label, kind, items, value)
        chips = listed and "enum" not in items
        _help(f"{hint} (Enter adds)" if hint and chips else hint)
    return getter


def _input(
    name: str, label: str, kind: dict[str, Any], items: dict[str, Any], value: Any
) -> Getter:
    kind_type = kind.get("type")
    if kind_type in ("integer", "number"):
        number = ui.number(label, value=value).classes("w-full")
        cast = int if kind_type == "integer" else float
        return lambda: None if number.value in (None, "") else cast(number.value)
    if kind_type == "string" and "enum" in kind:
        choice = ui.select(kind["enum"], label=label, value=value).classes("w-full")
        return lambda: choice.value
    if kind_type == "array" and "enum" in items:
        choice = ui.select(items["enum"], label=label, value=value or [], multiple=True)
        choice.props("use-chips").classes("w-full")
        return lambda: list(choice.value or [])
    if kind_type == "array" and items.get("type") == "string":
        chips = ui.input_chips(label, value=list(value or []), new_value_mode="add-unique")
        chips.classes("w-full")
        return lambda: None if value is None and not chips.value else list(chips.value or [])
    if kind_type == "string":
        text = ui.input(label, value=value or "").classes("w-full")
        return lambda: text.value or None
    area = ui.textarea(f"{label} (JSON)", value=json.dumps(value, indent=1) if value else "")
    area.classes("w-full font-mono").props("autogrow")

    def read() -> Any:
        if not (area.value or "").strip():
            return None
        try:
            return json.loads(area.value)
        except json.JSONDecodeError as exc:
            raise StageConfigError(
                f"{name}: not valid JSON ({exc.msg} at line {exc.lineno})"
            ) from None

    return read


def config_form(
    schema: dict[str, Any],
    kept: dict[str, Any] | None,
    custom: dict[str, Callable[[Any], Getter]] | None = None,
) -> Getter:
    """Inputs for every field of a config model's JSON `schema`, filled from the kept config or the defaults; returns
    what reads the config back (fields left empty are omitted, so the model's defaults apply)."""
    custom = custom or {}
    getters: dict[str, Getter] = {}
    with ui.row().classes("w-full items-start gap-4"):
        for name, prop in schema.get("properties", {}).items():
            value = (kept or {}).get(name, prop.get("default"))
            if name in custom:
                continue
            getters[name] = field_widget(name, prop, value)
    for name, build in custom.items():
        if name in schema.get("properties", {}):
            getters[name] = build((kept or {}).get(name))

    def read() -> dict[str, Any]:
        config = {name: get() for name, get in getters.items()}
        return {name: value for name, value in config.items() if value is not None}

    return read
