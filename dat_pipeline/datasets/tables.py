"""How the parsed tables of a run become the tables of its DataSet (SPEC 1.4 export).

Tables with the same columns (after mappings) are unioned into one dataset table; so are the
tables a user names together in table_selection's `union` (`[["file:table", ...], ...]`, globs
allowed); every other table stays a table of its own. Unioning unrelated tables would give one
wide, sparse table whose `id` and `name` mix meanings, which no analysis can use.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from dat_pipeline.errors import StageConfigError

MAX_NAME = 60


def split_entry(entry: str) -> tuple[str, str]:
    """`file:table` -> (file, table); a bare `file` (or a `db://` path) means all its tables."""
    file, sep, table = entry.rpartition(":")
    if not sep or "/" in table or not file or file.endswith(":"):
        return entry, "*"
    return file, table


def union_groups(
    union: Sequence[Sequence[str]], tables: Sequence[tuple[str, str]]
) -> list[int | None]:
    """The union group of each selected (file, table), or None; raises when an entry of `union`
    names no selected table or one table is named in two groups."""
    groups: list[int | None] = [None] * len(tables)
    for index, entries in enumerate(union):
        for entry in entries:
            file_pattern, table_pattern = split_entry(entry)
            matched = [
                position
                for position, (file, table) in enumerate(tables)
                if fnmatch.fnmatchcase(file, file_pattern)
                and fnmatch.fnmatchcase(table, table_pattern)
            ]
            if not matched:
                known = ", ".join(f"{f}:{t}" for f, t in tables[:8])
                raise StageConfigError(
                    f"table_selection union {index}: {entry!r} names no selected table "
                    f"(selected: {known}); write it as 'file:table'"
                )
            for position in matched:
                if groups[position] not in (None, index):
                    file, table = tables[position]
                    raise StageConfigError(
                        f"table_selection union: {file}:{table} is in groups "
                        f"{groups[position]} and {index}; name each table in one group"
                    )
                groups[position] = index
    return groups


@dataclass(frozen=True)
class PartTable:
    """One parsed table: where it came from, its file, its columns, its union group if any."""

    path: str
    table: str
    output: Path
    columns: tuple[str, ...]
    union_group: int | None = None


@dataclass
class DatasetTable:
    """One table of a DataSet: a name and the parsed tables unioned into it."""

    name: str
    parts: list[PartTable] = field(default_factory=list)


def _clean(name: str) -> str:
    return re.sub(r"[^\w-]+", "_", name).strip("_")[:MAX_NAME] or "table"


def _stem(path: str) -> str:
    name = PurePosixPath(path).name
    return name if path.startswith("db://") else name.split(".", 1)[0]


def _common_prefix(names: Sequence[str]) -> str:
    """The common start of `names`, cut back to a word boundary (`sales_2024_q1`, `sales_2024_q2`
    -> `sales_2024`)."""
    first, last = min(names), max(names)
    size = next(
        (i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), len(first)
    )
    if any(len(name) > size and name[size].isalnum() for name in names):
        size = max((i for i in range(size) if not first[i].isalnum()), default=0)
    return first[:size]


def _base_name(parts: Sequence[PartTable]) -> str:
    names = [part.table for part in parts]
    if len(set(names)) == 1:
        return _clean(names[0])
    prefix = _common_prefix(names).strip("_- .")
    return _clean(prefix) if len(prefix) >= 3 else _clean(names[0])


def plan_tables(parts: Sequence[PartTable]) -> list[DatasetTable]:
    """Group `parts` into dataset tables (in order of first appearance) with unique names."""
    grouped: dict[tuple, DatasetTable] = {}
    for part in parts:
        key = (
            ("union", part.union_group)
            if part.union_group is not None
            else ("columns", frozenset(part.columns))
        )
        grouped.setdefault(key, DatasetTable(name="")).parts.append(part)
    tables = list(grouped.values())
    bases = [_base_name(table.parts) for table in tables]
    taken: set[str] = set()
    for table, base in zip(tables, bases, strict=True):
        name = base
        if bases.count(base) > 1 and len(table.parts) == 1:
            name = _clean(f"{_stem(table.parts[0].path)}_{base}")
        candidate, number = name, 2
        while candidate.lower() in taken:
            candidate, number = f"{name}_{number}", number + 1
        table.name = candidate
        taken.add(candidate.lower())
    return tables
