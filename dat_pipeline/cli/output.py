"""How the CLI speaks: rich tables for people, exactly one JSON document with --json, and
one-line errors on stderr with exit code 1 (bad input) or 2 (bad usage)."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from dat_pipeline.errors import DatError
from dat_pipeline.paths import PathEscapeError
from dat_pipeline.store import StoreError

console = Console()
JsonOption = typer.Option(False, "--json", help="Print one JSON document on stdout.")


def fail(message: str, code: int = 1) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def handles_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain errors into one line on stderr and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (DatError, PathEscapeError, StoreError, FileNotFoundError) as exc:
            fail(str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__)

    return wrapper


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def emit_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    console.print(table)
