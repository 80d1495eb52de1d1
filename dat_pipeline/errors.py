"""Errors of the DAT workflow. Each says what is wrong and what to do next."""


class DatError(ValueError):
    """Bad input to the workflow (exit code 1 in the CLI, 4xx in the API)."""


class NotFoundError(DatError):
    """A run, stage or artifact that does not exist."""


class GateError(DatError):
    """A stage cannot change state because of another stage (its gate, or it is not optional)."""


class StageConfigError(DatError):
    """A stage config that does not validate (unknown file, bad glob, path outside the root)."""
