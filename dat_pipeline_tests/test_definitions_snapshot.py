"""The shape of the code location, as a reviewer sees it: asset keys, groups, deps, partitions,
checks, owners and kinds, jobs, sensors and schedules, compared with a stored snapshot.

A structural change (a new asset, a renamed job, a sensor that stops running by default) fails
this test until the snapshot is regenerated, so it shows in review:

    DAT_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest dat_pipeline_tests/test_definitions_snapshot.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"
PROJECT = Path(__file__).parent.parent


def _partitions(partitions: Any) -> str | None:
    if partitions is None:
        return None
    if isinstance(partitions, dg.DynamicPartitionsDefinition):
        return f"dynamic:{partitions.name}"
    if isinstance(partitions, dg.TimeWindowPartitionsDefinition):
        return f"time:{partitions.cron_schedule}:{partitions.start.date().isoformat()}"
    return type(partitions).__name__


def shape(defs: dg.Definitions) -> dict[str, Any]:
    """What the snapshot holds: plain, sorted, JSON-ready."""
    graph = defs.resolve_asset_graph()
    repository = defs.get_repository_def()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "partitions": _partitions(node.partitions_def),
            "checks": sorted(check.name for check in node.check_keys),
            "owners": sorted(node.owners),
            "kinds": sorted(node.kinds),
            "has_description": bool(node.description),
        }
    return {
        "assets": assets,
        "jobs": sorted(job.name for job in repository.get_all_jobs() if job.name != "__ASSET_JOB"),
        # what runs a job's steps; __ASSET_JOB is what a click on "Materialize" in the UI runs
        "executors": {job.name: job.executor_def.name for job in repository.get_all_jobs()},
        "sensors": {
            sensor.name: {
                "default_status": sensor.default_status.value,
                "minimum_interval_seconds": sensor.minimum_interval_seconds,
            }
            for sensor in sorted(repository.sensor_defs, key=lambda s: s.name)
        },
        "schedules": {
            schedule.name: {
                "cron": schedule.cron_schedule,
                "default_status": schedule.default_status.value,
            }
            for schedule in sorted(repository.schedule_defs, key=lambda s: s.name)
        },
        "resources": sorted(defs.resources or {}),
    }


@pytest.fixture
def definitions(monkeypatch: pytest.MonkeyPatch) -> dg.Definitions:
    """The code location as `workspace.yaml` loads it: from the project folder, with its
    backfill.yaml."""
    monkeypatch.chdir(PROJECT)
    from dat_pipeline.definitions import defs

    return defs


def test_definitions_match_the_snapshot(definitions: dg.Definitions):
    current = shape(definitions)
    if os.environ.get("DAT_UPDATE_SNAPSHOT"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    stored = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert current == stored, (
        "the definitions changed; if on purpose, regenerate the snapshot "
        "(DAT_UPDATE_SNAPSHOT=1, see this module's docstring) and review its diff"
    )


def test_every_asset_has_a_description_an_owner_and_a_kind(definitions: dg.Definitions):
    assets = shape(definitions)["assets"]
    assert assets
    lacking = sorted(
        key
        for key, asset in assets.items()
        if not (asset["has_description"] and asset["owners"] and asset["kinds"])
    )
    assert lacking == []


def test_the_snapshot_sees_a_structural_change(definitions: dg.Definitions):
    renamed = dg.Definitions.merge(
        definitions,
        dg.Definitions(sensors=[dg.SensorDefinition("extra", evaluation_fn=lambda _: None)]),
    )
    assert shape(renamed)["sensors"].keys() - shape(definitions)["sensors"].keys() == {"extra"}
