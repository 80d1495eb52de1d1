"""dat_pipeline: staged aggregation, ingestion, backfill and analysis as a Dagster code location."""

import contextlib
import signal


def _default_sigterm() -> None:
    """Dagster mirrors step output through `tail -F` children that it stops with SIGTERM and then
    waits up to 30 s for. A process started with SIGTERM ignored (some job runners and CI shells
    do this) passes that on, so every step would stall 30 s and leak a `tail`. Every process that
    loads this package (CLI, webserver, daemon, run and step workers) restores the default."""
    if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        with contextlib.suppress(ValueError):  # only the main thread may set handlers
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


_default_sigterm()
