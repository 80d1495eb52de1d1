"""dat_pipeline: staged aggregation, ingestion, backfill and analysis as a Dagster code location."""

import contextlib
import signal


def _default_interrupts() -> None:
    """Give SIGINT and SIGTERM their defaults back when this process inherited them ignored.

    A background job of a non-interactive shell (CI scripts, `cmd &`) starts with SIGINT ignored.
    Before every execution Dagster copies SIGINT's handler onto SIGTERM
    (`dagster._utils.interrupts.setup_interrupt_handlers`), so SIGTERM became ignored mid-process
    and in every child started afterwards: the `tail -F` children that mirror step output ignore
    the SIGTERM Dagster stops them with, and each step waits 30 s for them and leaks them. Every
    process that loads this package (CLI, API server, code server, run and step workers)
    therefore starts with Python's own SIGINT handler, which Dagster copies instead."""
    with contextlib.suppress(ValueError):  # only the main thread may set handlers
        if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


_default_interrupts()
