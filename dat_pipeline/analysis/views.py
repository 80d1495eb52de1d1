"""JSON views of the analysis: the documents `dat analysis ... --json` prints and the HTTP API
returns, in one home so the CLI contract and the API responses cannot diverge."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from dat_pipeline.analysis.runner import AnalysisRun, AnalysisRunner
from dat_pipeline.analysis.sources import Source


def source_dict(source: Source) -> dict[str, Any]:
    """A source: name, kind, location, follow, options, created_at (`dat analysis sources`)."""
    return {
        "name": source.name,
        "kind": source.kind,
        "location": source.location,
        "follow": source.follow,
        "options": source.options,
        "created_at": source.created_at,
    }


def status_view(runner: AnalysisRunner, source: str) -> dict[str, Any]:
    """Every phase of a source: state, duration, data version, error (`dat analysis status`)."""
    return {
        "source": source,
        "phases": [
            {
                "phase": s.phase,
                "state": s.state,
                "duration_s": s.duration_s,
                "data_version": s.fingerprint,
                "finished_at": s.finished_at,
                "error": s.error,
                "blocked_by": list(s.blocked_by),
            }
            for s in runner.states(source)
        ],
    }


def up_to_date_run(
    runner: AnalysisRunner, source: str, phases: Sequence[str] | None = None
) -> AnalysisRun | None:
    """The run answer when every selected phase is unchanged (all `skipped`, no Dagster run),
    read from the stored fingerprints without starting Dagster; None when something must run."""
    start = time.perf_counter()
    plan = runner.plan(source, phases)
    unchanged = runner.unchanged_reports(source, phases)
    if len(unchanged) != len(plan):
        return None
    return AnalysisRun(source, True, time.perf_counter() - start, None, list(unchanged.values()))
