"""The three places that use Dagster's private API (`dagster._core`), pinned: a Dagster upgrade that
changes them fails a test first. Submitting an asset backfill (`orchestration.backfill`) is pinned by
`backfill/test_backfill_dagster.py`, the CLI's in-process instance without log capture
(`defs.instance`) by `defs/test_in_process_instance.py`; the origins of a queued ingestion run are
pinned here."""

from __future__ import annotations

from pathlib import Path

import yaml

from dat_pipeline.defs.ingestion import JOB_NAME
from dat_pipeline.orchestration.ingestion import _origins

WORKSPACE = Path(__file__).resolve().parents[1] / "workspace.yaml"


def test_a_queued_ingestion_run_points_at_the_workspace_code_location():
    location = yaml.safe_load(WORKSPACE.read_text(encoding="utf-8"))["load_from"][0]
    remote, python = _origins()
    assert remote.job_name == python.job_name == JOB_NAME
    code_location = remote.repository_origin.code_location_origin
    assert code_location.location_name == location["python_module"]["location_name"]
    pointer = python.repository_origin.code_pointer
    assert (pointer.module, pointer.fn_name) == (location["python_module"]["module_name"], "defs")
