"""Helpers shared by the table stages (table_availability, table_selection, preview, parse).

They turn the artifacts of those stages back into Python values (columns, selected tables,
mappings) and apply a table's column mapping and cleaning rules the same way in every stage.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from dat_pipeline.adapters import Adapter, ColumnInfo, get_adapter
from dat_pipeline.adapters.base import PROBE_TIMEOUT, HeaderRows
from dat_pipeline.cleaning import Rule, RuleError, apply_rules, parse_rules, rule_label
from dat_pipeline.errors import DatError, StageConfigError
from dat_pipeline.paths import PathEscapeError, resolve_inside

# Probe statuses a table may be selected with: `partial` tables read with warnings.
SELECTABLE_STATUSES = ("available", "partial")
ALL_TABLES = "*"


def is_selectable(row: Mapping[str, Any]) -> bool:
    """Whether a table_availability row can be selected: available, partial, or a table whose
    probe only ran out of time (parse reads it whole; its columns are known then)."""
    if row["table"] is None:
        return False
    timed_out = row["status"] == "error" and (row["error"] or "").startswith(PROBE_TIMEOUT)
    return row["status"] in SELECTABLE_STATUSES or timed_out


ColumnMapping = dict[str, str | None]


@dataclass(frozen=True)
class SelectedTable:
    """One row of the table_selection artifact, decoded."""

    path: str
    table: str
    adapter: str
    format: str | None
    mapping: ColumnMapping = field(default_factory=dict)
    columns: list[ColumnInfo] = field(default_factory=list)
    row_estimate: int | None = None
    # table_selection's header_rows for this table (None: where the probe found the header).
    header: HeaderRows | None = None
    # The file as table_availability probed it (None for a database table or an old artifact).
    size_bytes: int | None = None
    modified_ns: int | None = None

    @property
    def read_options(self) -> dict[str, Any]:
        """Keyword arguments of the adapter's `read`/`stream` for this table."""
        return {"header": self.header} if self.header else {}

    def check_unchanged(self, source: Path) -> None:
        """Raise when the file is not the one table_availability probed (size or time differ):
        its columns, header and row count may all be different now."""
        if self.size_bytes is None:
            return
        now = file_version(source)
        if (now["size_bytes"], now["modified_ns"]) != (self.size_bytes, self.modified_ns):
            raise DatError(
                f"{self.path} changed after table_availability probed it (size "
                f"{self.size_bytes:,} -> {now['size_bytes'] or 0:,} bytes); lock discovery and "
                "table_availability again to probe the new version, or restore the file"
            )

    @property
    def label(self) -> str:
        """How the table is named in messages and logs."""
        return f"{self.path} table {self.table!r}"

    def source(self, data_root: Path) -> Path:
        """The file on disk, checked to stay inside the data root."""
        return source_path(data_root, self.path)

    def reader(self) -> Adapter:
        return get_adapter(self.adapter)


def file_version(path: Path) -> dict[str, int | None]:
    """Size and modification time of a file (None for what is not a file, e.g. a database table):
    what tells parse that a file changed after table_availability probed it."""
    try:
        stat = Path(path).stat()
    except (OSError, ValueError):
        return {"size_bytes": None, "modified_ns": None}
    return {"size_bytes": stat.st_size, "modified_ns": stat.st_mtime_ns}


def source_path(data_root: Path, relative: str) -> Path:
    """Resolve a selected file under the data root; a path that escapes it is a config error."""
    try:
        return resolve_inside(data_root, relative)
    except PathEscapeError as exc:
        raise StageConfigError(f"selected file {relative!r}: {exc}") from None


def relative_message(message: str | None, absolute: Path, relative: str) -> str | None:
    """Adapters name the path they were given (absolute here); show the data-root path instead."""
    if message is None:
        return None
    return message.replace(str(absolute), relative)


def columns_to_json(columns: Sequence[ColumnInfo]) -> str:
    return json.dumps([{"name": c.name, "dtype": c.dtype} for c in columns], ensure_ascii=False)


def columns_from_json(text: str | None) -> list[ColumnInfo]:
    if not text:
        return []
    return [ColumnInfo(name=item["name"], dtype=item["dtype"]) for item in json.loads(text)]


def mapping_from_json(mapping: str | Mapping[str, str | None] | None) -> ColumnMapping:
    if mapping is None:
        return {}
    if isinstance(mapping, str):
        return dict(json.loads(mapping))
    return dict(mapping)


def mapped_columns(
    columns: Sequence[ColumnInfo], mapping: Mapping[str, str | None]
) -> list[ColumnInfo]:
    """The columns after `mapping`: renamed where mapped to a name, dropped where mapped to None."""
    result = []
    for column in columns:
        if column.name not in mapping:
            result.append(column)
        elif (target := mapping[column.name]) is not None:
            result.append(ColumnInfo(name=target, dtype=column.dtype))
    return result


def apply_mapping(
    frame: pl.DataFrame, mapping: str | Mapping[str, str | None] | None, where: str = "the table"
) -> pl.DataFrame:
    """Rename and drop columns of `frame` as `mapping` (a dict or its JSON) says.

    A mapped column the frame lacks means the file changed since table_availability probed it:
    that is an error naming the column, not a silent skip.
    """
    mapping = mapping_from_json(mapping)
    absent = [source for source in mapping if source not in frame.columns]
    if absent:
        raise DatError(
            f"{where} has no column {', '.join(map(repr, absent))} that its column mapping names "
            f"(columns: {', '.join(frame.columns)}); the file changed since table_availability: "
            "unlock table_availability and lock it again"
        )
    dropped = [source for source, target in mapping.items() if target is None]
    renames = {source: target for source, target in mapping.items() if target is not None}
    return frame.drop(dropped).rename(renames)


def selected_tables(frame: pl.DataFrame) -> list[SelectedTable]:
    """The tables of a table_selection artifact, in artifact order."""
    return [
        SelectedTable(
            path=row["path"],
            table=row["table"],
            adapter=row["adapter"],
            format=row["format"],
            mapping=mapping_from_json(row["mapping"]),
            columns=columns_from_json(row["columns"]),
            row_estimate=row["row_estimate"],
            header=HeaderRows(**json.loads(row["header_rows"])) if row.get("header_rows") else None,
            size_bytes=row.get("size_bytes"),
            modified_ns=row.get("modified_ns"),
        )
        for row in frame.iter_rows(named=True)
    ]


def selection_rules(table_selection_config: Mapping[str, Any] | None) -> list[Rule]:
    """The cleaning rules of a table_selection config (as kept in `inputs.upstream_configs`)."""
    raw = (table_selection_config or {}).get("rules") or []
    return parse_rules(list(raw))


def applies_to(rule: Rule, columns: Sequence[str]) -> bool:
    return all(column in columns for column in rule.columns)


def rules_for(columns: Sequence[str], rules: Sequence[Rule]) -> list[Rule]:
    """The rules whose columns all exist in a table with these (mapped) column names."""
    return [rule for rule in rules if applies_to(rule, columns)]


def rule_label_map(columns: Sequence[str], rules: Sequence[Rule]) -> dict[str, str]:
    """Label of each of `rules_for(columns, rules)` as the engine names it -> its label in `rules`.

    The engine labels rules by their position in the list it runs; a table that runs a subset
    renames its verdict columns (and reject labels) with this map so every table agrees.
    """
    applicable = [(index, rule) for index, rule in enumerate(rules) if applies_to(rule, columns)]
    return {
        rule_label(rule, local): rule_label(rule, index)
        for local, (index, rule) in enumerate(applicable)
    }


def rule_labels(rules: Sequence[Rule]) -> list[str]:
    return [rule_label(rule, index) for index, rule in enumerate(rules)]


_DATETIME = re.compile(r"Datetime\(time_unit='(\w+)', time_zone=(?:'([^']+)'|None)\)")


def dtype_from_text(text: str) -> pl.DataType:
    """A polars dtype from its printed form (as probes store it); String when not recognised.

    String is the most permissive type for every rule, so an unrecognised type never fails a
    lock-time dry run that the real data would pass.
    """
    if match := _DATETIME.fullmatch(text):
        return pl.Datetime(match.group(1), match.group(2))  # type: ignore[arg-type]
    candidate = getattr(pl, text, None) if text.isidentifier() else None
    if isinstance(candidate, type) and issubclass(candidate, pl.DataType):
        try:
            return candidate()
        except TypeError:
            return pl.String()
    return pl.String()


def dry_run_rules(columns: Sequence[ColumnInfo], rules: Sequence[Rule], where: str) -> None:
    """Run `rules` on an empty frame with the probed schema: type errors surface at lock time."""
    schema = {column.name: dtype_from_text(column.dtype) for column in columns}
    positions = [index for index, rule in enumerate(rules) if applies_to(rule, list(schema))]
    try:
        apply_rules(pl.DataFrame(schema=schema), [rules[index] for index in positions])
    except RuleError as exc:
        message = str(exc)
        if exc.index is not None:
            # The engine numbers the subset it ran; name the rule by its place in the config.
            local = f"rule {exc.index} "
            message = f"rule {positions[exc.index]} " + message.removeprefix(local)
        raise StageConfigError(f"{where}: {message}") from None
    except ValueError as exc:
        raise StageConfigError(f"{where}: {exc}") from None
