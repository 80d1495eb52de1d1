"""Errors of the DAT workflow. Each says what is wrong and what to do next.

Besides the message, an error may carry structured fields (the stage, the missing stage, a path,
a column...): keyword arguments kept in `fields`. Front-ends map an error by its type (the HTTP
status, the exit code) and show `fields` as the API's `details`; nothing parses the message.
"""

from __future__ import annotations

from typing import Any


class DatError(ValueError):
    """Bad input to the workflow (exit code 1 in the CLI, 4xx in the API)."""

    def __init__(self, message: str = "", **fields: Any):
        super().__init__(message)
        self.fields = {key: value for key, value in fields.items() if value is not None}

    @property
    def message(self) -> str:
        """The first line of the message (what a person reads; no trace, no second line)."""
        text = str(self).strip()
        return text.splitlines()[0] if text else self.__class__.__name__


class NotFoundError(DatError):
    """A run, stage or artifact that does not exist."""


class GateError(DatError):
    """A stage cannot change state because of another stage (its gate, or it is not optional),
    or work is already running. Fields: `stage`, `missing_stage`, `reason`."""


class StageConfigError(DatError):
    """A stage config that does not validate (unknown file, bad glob, path outside the root)."""


class ForbiddenError(DatError):
    """The caller may not act on this project (a token that does not cover it)."""


class DatabaseError(DatError):
    """A source database refused or failed a query: one line, the driver's, with no secret."""
