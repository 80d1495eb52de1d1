"""Records as text that a person reads in an 80-column terminal.

A table when every column fits the terminal; otherwise one block per record (`name  value`
lines). Values are never cut: a path, run id, table name or stage id is what the user types
next. Text with spaces wraps at spaces; a value without spaces (a path, an id) stays whole.
"""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap
from collections.abc import Sequence
from typing import Any

GAP = "  "


def terminal_width() -> int:
    """The terminal's width (the COLUMNS variable wins; 80 when not a terminal)."""
    return shutil.get_terminal_size((80, 24)).columns


def cell(value: Any) -> str:
    """One value as text: empty for None, ISO time without microseconds, one line."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = value.replace(microsecond=0).isoformat()
    elif isinstance(value, float):
        value = f"{value:.6g}"
    return " ".join(str(value).split()) if "\n" in str(value) else str(value)


def _numeric(values: list[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in present
    )


def pick_columns(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], wanted: Sequence[str] | None
) -> tuple[list[str], list[list[Any]]]:
    """Keep the `wanted` columns (in that order); an unknown name lists the known ones."""
    if not wanted:
        return list(columns), [list(row) for row in rows]
    from dat_pipeline.errors import DatError

    names = [name.strip() for item in wanted for name in item.split(",") if name.strip()]
    unknown = [name for name in names if name not in columns]
    if unknown:
        raise DatError(
            f"unknown column {', '.join(unknown)} for --columns; known: {', '.join(columns)}"
        )
    index = [list(columns).index(name) for name in names]
    return names, [[row[i] for i in index] for row in rows]


def table_text(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[str, int]:
    """A plain table (header, rule, rows) and its width."""
    texts = [[cell(v) for v in row] for row in rows]
    widths = [max([len(name)] + [len(row[i]) for row in texts]) for i, name in enumerate(columns)]
    right = [_numeric([row[i] for row in rows]) for i in range(len(columns))]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)
        ]
        return GAP.join(parts).rstrip()

    lines = [line(columns), line(["-" * w for w in widths]), *(line(row) for row in texts)]
    return "\n".join(lines) + "\n", sum(widths) + len(GAP) * (len(widths) - 1)


def records_text(columns: Sequence[str], rows: Sequence[Sequence[Any]], width: int) -> str:
    """Records turned sideways: a column of names, then as many records side by side as fit.
    When one record is too wide to share the width, every record gets a block of its own (its
    text wrapped at spaces), so one listing reads one way."""
    label = max((len(name) for name in columns), default=0)
    room = max(width - label - len(GAP), 20)
    texts = [[cell(v) for v in row] for row in rows]
    needed = [max([len(v) for v in row] + [len(str(i + 1))]) for i, row in enumerate(texts)]
    if max(needed) > room:
        return "\n".join(
            _one_record(columns, row, i + 1, label, room, width) for i, row in enumerate(texts)
        )
    blocks: list[str] = []
    group: list[int] = []
    for index in range(len(texts)):
        used = sum(needed[i] for i in group)
        if group and used + len(GAP) * len(group) + needed[index] > room:
            blocks.append(_side_by_side(columns, texts, group, label))
            group = []
        group.append(index)
    blocks.append(_side_by_side(columns, texts, group, label))
    return "\n".join(blocks)


def _side_by_side(
    columns: Sequence[str], texts: list[list[str]], group: list[int], label: int
) -> str:
    numbers = [str(i + 1) for i in group]
    widths = [
        max([len(texts[i][c]) for c in range(len(columns))] + [len(n)])
        for i, n in zip(group, numbers, strict=True)
    ]
    rule = GAP.join("-" * w for w in widths)
    lines = [
        f"{'record'.ljust(label)}{GAP}"
        + GAP.join(n.ljust(w) for n, w in zip(numbers, widths, strict=True)).rstrip(),
        f"{'-' * label}{GAP}{rule}",
    ]
    for c, name in enumerate(columns):
        values = GAP.join(texts[i][c].ljust(w) for i, w in zip(group, widths, strict=True))
        lines.append(f"{name.ljust(label)}{GAP}{values}".rstrip())
    return "\n".join(lines) + "\n"


def _one_record(
    columns: Sequence[str], row: list[str], number: int, label: int, room: int, width: int
) -> str:
    lines = [f"-- {number} " + "-" * max(width - len(str(number)) - 4, 3)]
    for name, text in zip(columns, row, strict=True):
        wrapped = (
            textwrap.wrap(text, room, break_long_words=False, break_on_hyphens=False)
            if " " in text
            else [text]
        ) or [""]
        lines.append(f"{name.ljust(label)}{GAP}{wrapped[0]}".rstrip())
        lines += [f"{' ' * (label + len(GAP))}{more}" for more in wrapped[1:]]
    return "\n".join(lines) + "\n"


def render_records(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    wide: bool = False,
    width: int | None = None,
) -> str:
    """A title line, then a table if it fits `width` (or `wide`), else one block per record."""
    width = width or terminal_width()
    head = f"{title}\n" if title else ""
    if not rows:
        return head + "(no rows)\n"
    table, table_width = table_text(columns, rows)
    if wide or table_width <= width:
        return head + table
    return head + records_text(columns, rows, width)
