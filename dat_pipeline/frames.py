"""Small views of a frame for people: a Markdown preview and a column schema."""

from __future__ import annotations

import polars as pl


def markdown_preview(frame: pl.DataFrame, rows: int = 10, max_width: int = 40) -> str:
    """The first `rows` rows as a Markdown table (cells cut to `max_width` characters)."""
    if frame.width == 0:
        return "_(no columns)_"

    def cell(value: object) -> str:
        text = "" if value is None else str(value)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.head(rows).iter_rows()]
    more = [f"\n_{frame.height - rows} more rows_"] if frame.height > rows else []
    return "\n".join([header, rule, *body, *more])


def schema_of(frame: pl.DataFrame) -> dict[str, str]:
    return {name: str(dtype) for name, dtype in frame.schema.items()}
