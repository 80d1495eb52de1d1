"""Errors of reverse ETL: each names the table, column or constraint and what to do next."""

from dat_pipeline.errors import DatError


class ReverseEtlError(DatError):
    """Bad input to introspection, model generation or extraction."""


class UnknownIdentifierError(ReverseEtlError):
    """A table or column name that is not in the introspected catalog."""


class ConstraintError(ReverseEtlError):
    """A constraint that does not parse, does not fit its column, or contradicts another one."""
