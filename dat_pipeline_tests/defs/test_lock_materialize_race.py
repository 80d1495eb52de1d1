"""`dat lock RUN STAGE --materialize` and the lock sensor agree: a sensor tick between the CLI's
lock and its in-process run requests nothing, so the stage is materialized once."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from dat_pipeline.defs import dat as dat_defs
from dat_pipeline.defs.instance import get_instance
from dat_pipeline.defs.resources import DatResource
from dat_pipeline.orchestration import record
from dat_pipeline.services import dat as service
from dat_pipeline.services.context import open_context


def sensor_tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"dat": DatResource()}
    )
    return dat_defs.dat_lock_sensor(context)


def tick_before_each_run(monkeypatch: pytest.MonkeyPatch) -> list[dg.SensorResult]:
    """Each hand-off of a Dagster run starts with a sensor tick over every event: the locks and
    the artifacts are written, the Dagster run does not exist yet."""
    ticks: list[dg.SensorResult] = []
    hand_off = record.hand_off

    def tick_then_hand_off(*args, **kwargs):
        with get_instance() as instance:
            ticks.append(sensor_tick(instance, None))
        return hand_off(*args, **kwargs)

    monkeypatch.setattr(record, "hand_off", tick_then_hand_off)
    return ticks


def test_a_sensor_tick_between_the_cli_lock_and_its_run_requests_nothing(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
):
    ticks = tick_before_each_run(monkeypatch)
    with open_context() as ctx:
        run = service.create_run(ctx, name="race")["run_id"]
        status = service.lock(ctx, run, "discovery", {"root": "sample"}, materialize=True)
        assert status["completed"]
        record.wait_recorded()  # the Dagster run is recorded by a detached process
        instance = ctx.instance()
        [during] = ticks
        assert during.run_requests == [], "the sensor requested the stage the CLI is building"
        after = sensor_tick(instance, during.cursor)
        assert after.run_requests == []
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=dat_defs.stage_key("discovery"), asset_partitions=[run]
            ),
            limit=10,
        ).records
        assert len(records) == 1
        [lock] = [e for e in ctx.store.run_events(run) if e.kind == "lock"]
        assert lock.detail["dagster_run"] == records[0].run_id  # the lock names the run


def test_the_chain_relocks_of_the_cli_are_left_to_its_runs(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
):
    with open_context() as ctx:
        run = service.create_run(ctx, name="chain")["run_id"]
        for stage, config in [
            ("discovery", {"root": "sample"}),
            ("selection", {"files": ["sample/stores.tsv"]}),
            ("table_availability", {}),
        ]:
            service.lock(ctx, run, stage, config, materialize=True)
        relock = {"root": "sample", "include": ["*.tsv"]}  # new inputs: the cascade unlocks
        service.lock(ctx, run, "discovery", relock, materialize=True)
        ticks = tick_before_each_run(monkeypatch)
        relocked = service.chain(ctx, run)["relocked"]
        assert [done["stage"] for done in relocked] == ["selection", "table_availability"]
        assert ticks and all(tick.run_requests == [] for tick in ticks), [
            request.tags for tick in ticks for request in tick.run_requests
        ]
