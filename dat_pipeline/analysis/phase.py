"""What a phase is: a pure function from the source's tables and upstream phase results to
result tables, a Markdown summary and a few key figures.

Phases never read files or databases themselves (the `import` phase gets its tables from the
runner), never write anything (the runner persists results as Parquet and DuckDB views) and never
call the network. That keeps each one testable on frames built in a test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl


@dataclass
class PhaseResult:
    """Named result tables (each becomes `<phase>__<name>` in the source's DuckDB schema), a
    Markdown summary for the UI and the report, and key figures for asset metadata."""

    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    summary: str = ""
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class PhaseContext:
    """What a phase sees: the source name, the source tables, earlier results, options, a logger.

    `tables` holds the raw tables for `import`, and the typed tables (the `typing` phase's output)
    for every phase after typing.
    """

    source: str
    tables: dict[str, pl.DataFrame]
    results: dict[str, PhaseResult]
    options: dict[str, Any] = field(default_factory=dict)
    log: Callable[[str], None] = lambda _message: None

    def result(self, phase: str) -> PhaseResult:
        return self.results[phase]

    def option(self, name: str, default: Any) -> Any:
        return self.options.get(name, default)

    def upstream(self, phase: str, table: str) -> pl.DataFrame | None:
        """The result table `table` of the earlier phase `phase`; None when that phase is not
        among this one's inputs or did not produce the table."""
        result = self.results.get(phase)
        return result.tables.get(table) if result is not None else None


@dataclass(frozen=True)
class Section:
    """A table of the Markdown/HTML report: the rows of the JSON report's `key` (a dotted path,
    e.g. `quality.benford`), one column per field."""

    title: str
    key: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class PhaseSpec:
    """A phase. `findings` names its result tables whose rows carry the finding columns
    (`findings.FINDING_SCHEMA`): the report ranks their kept rows. `checks` names the Dagster asset checks
    the phase's `checks` table feeds (name -> description). `sections` are its tables in the
    Markdown/HTML report."""

    name: str
    needs: tuple[str, ...]
    run: Callable[[PhaseContext], PhaseResult]
    version: str
    description: str
    findings: tuple[str, ...] = ()
    checks: dict[str, str] = field(default_factory=dict)
    sections: tuple[Section, ...] = ()
