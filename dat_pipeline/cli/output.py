"""How the CLI speaks: readable tables for people, exactly one JSON document with --json, and
one-line errors on stderr with exit code 1 (bad input) or 2 (bad usage).

This module is imported by every command, including `--help`: it imports nothing heavy.
"""

from __future__ import annotations

import functools
import importlib
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from dat_pipeline.errors import DatError

if TYPE_CHECKING:
    from dat_pipeline.services.context import ServiceContext

T = TypeVar("T")

JsonOption = typer.Option(False, "--json", help="Print one JSON document on stdout (for scripts).")
WideOption = typer.Option(
    False, "--wide", help="One row per record even when it is wider than the terminal."
)

_state = {"verbose": False}


def set_verbose(on: bool) -> None:
    """`dat --verbose`: show stack traces of failures (and Dagster's log) on stderr."""
    _state["verbose"] = on


def verbose() -> bool:
    return _state["verbose"]


def fail(message: str, code: int = 1) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _is_domain_error(exc: BaseException) -> bool:
    """Errors whose message is written for a person: the workflow's, path escapes, store outages
    (checked without importing the store: if its module is not loaded, it raised nothing)."""
    if isinstance(exc, DatError | FileNotFoundError | PermissionError):
        return True
    for module, name in (
        ("dat_pipeline.paths", "PathEscapeError"),
        ("dat_pipeline.store.reads", "StoreError"),
    ):
        cls = getattr(sys.modules.get(module), name, None)
        if cls is not None and isinstance(exc, cls):
            return True
    return False


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (its class name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def handles_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every failure into one line on stderr and exit code 1; the trace only with
    `dat --verbose`. Usage errors (exit 2) and Ctrl-C pass through unchanged."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            if isinstance(exc, typer.exceptions.TyperException):  # usage errors: exit 2
                raise
            if verbose():
                traceback.print_exc(file=sys.stderr)
            if _is_domain_error(exc):
                fail(one_line(exc))
            fail(
                f"unexpected {exc.__class__.__name__}: {one_line(exc)} "
                "(run again as `dat --verbose ...` for the trace)"
            )

    return wrapper


def say(text: str) -> None:
    """A sentence for a person, wrapped at spaces to the terminal width (words, paths and ids
    stay whole)."""
    import textwrap

    from dat_pipeline.cli.render import terminal_width

    width = terminal_width()
    lines = textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)
    typer.echo("\n".join(lines or [""]))


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def emit_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    wide: bool = False,
    empty: str | None = None,
) -> None:
    """Records as a table when it fits the terminal, else one block per record (see render);
    with no rows, the `empty` sentence (what to do to get some) when given."""
    from dat_pipeline.cli.render import render_records

    if not rows and empty:
        typer.echo(title)
        say(empty)
        return
    sys.stdout.write(render_records(title, columns, rows, wide=wide))


def service(name: str) -> ModuleType:
    """The service-layer module `dat_pipeline.services.<name>`, imported when a command runs:
    the ingestion, analysis and backfill actions load Polars, which `--help` must not."""
    return importlib.import_module(f"dat_pipeline.services.{name}")


def act(action: Callable[[ServiceContext], T], read_only: bool = False) -> T:
    """Call a service action with a context of this process, closed afterwards: what a command
    does between parsing its input and rendering the result (`read_only` for a read)."""
    from dat_pipeline.services.context import open_context

    with open_context(read_only=read_only) as ctx:
        return action(ctx)


def reply(result: Any, as_json: bool, text: str) -> None:
    """A command's answer: `result` as one JSON document with --json, else `text`."""
    if as_json:
        emit_json(result)
    else:
        typer.echo(text)
