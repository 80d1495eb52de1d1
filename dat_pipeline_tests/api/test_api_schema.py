"""Schemathesis against the real app's /openapi.json: no 500 anywhere, every response as documented."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dat_pipeline.api import create_app
from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.services.access import assign_run_project, create_token
from dat_pipeline.settings import get_settings
from dat_pipeline.store import open_store

EXAMPLES_PER_MODE = 10  # positive and negative: 20 cases per operation at most
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
PROJECT = Path(__file__).resolve().parents[2]
SEEDED_RUN = "q1-sales-3fa2c1"  # the run id the OpenAPI examples use


def _seed(token_project: str) -> None:
    """A run the examples name, with discovery materialized, so some cases reach real data."""
    flow = DatWorkflow(open_store(), get_settings().data_root)
    flow.create_run(name="Q1 Sales", run_id=SEEDED_RUN)
    assign_run_project(flow.store, SEEDED_RUN, token_project)
    flow.lock(SEEDED_RUN, "discovery", {"root": "sample"})
    flow.materialize(SEEDED_RUN, "discovery")


def _wait_for_materializations(timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    for thread in threading.enumerate():
        if thread.name.startswith(("dat-materialize-", "dat-analysis-")):
            thread.join(max(0.0, deadline - time.monotonic()))


def _exercise(
    operation, mode, headers, tried: Counter, statuses: Counter, failures: list[str]
) -> None:  # type: ignore[no-untyped-def]
    """Run up to EXAMPLES_PER_MODE cases of one operation; failures are collected, not raised."""
    label = f"{operation.method.upper()} {operation.path}"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run_case(case) -> None:  # type: ignore[no-untyped-def]
        tried[label] += 1
        generated = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        response = case.call(headers={**generated, **headers})
        statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except AssertionError as exc:
            failures.append(f"{label} ({mode.value}): {str(exc)[:800]}")
            raise

    try:
        run_case()
    except Unsatisfiable:
        pass  # nothing to make invalid (e.g. negative cases of a route without parameters)
    except Exception as exc:  # hypothesis re-raises the first failure (or a group of them)
        if not failures or not failures[-1].startswith(label):
            failures.append(f"{label} ({mode.value}): {exc.__class__.__name__}: {exc}"[:800])


def test_every_operation_answers_as_its_schema_says(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
):
    # The repository's backfill.yaml, whatever the working directory (its database is absent).
    monkeypatch.setenv("DAT_BACKFILL_CONFIG", str(PROJECT / "backfill.yaml"))
    app = create_app()
    _record, token = create_token(open_store(), ["alpha"])
    _seed("alpha")
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"}
    tried: Counter = Counter()
    statuses: Counter = Counter()
    failures: list[str] = []
    started = time.monotonic()
    try:
        for result in schema.get_all_operations():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _exercise(result.ok(), mode, headers, tried, statuses, failures)
    finally:
        _wait_for_materializations()
    total = sum(tried.values())
    print(
        f"\nschemathesis: {total} cases over {len(tried)} operations "
        f"in {time.monotonic() - started:.1f} s; statuses {dict(sorted(statuses.items()))}"
    )
    assert len(tried) >= 20 and total >= 200
    if failures:
        pytest.fail("\n\n".join(dict.fromkeys(failures)))
