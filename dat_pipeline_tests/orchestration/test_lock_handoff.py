"""`dat lock --materialize` builds in the caller's process and hands the Dagster run that
records it to a detached process: the run, its logs and one materialization per stage id still
show on the instance; a domain failure hands off nothing; a failed recording names its log."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import dagster as dg
import pytest

from dat_pipeline.dat.stages import STAGES
from dat_pipeline.defs import dat as dat_defs
from dat_pipeline.defs.resources import DatResource
from dat_pipeline.errors import DatError
from dat_pipeline.orchestration import record
from dat_pipeline.services import dat as service
from dat_pipeline.services.context import open_context


def test_the_handed_off_run_records_the_built_stage_once_with_the_domain_log(data_root: Path):
    with open_context() as ctx:
        run = service.create_run(ctx, name="handoff")["run_id"]
        status = service.lock(ctx, run, "discovery", {"root": "sample"}, materialize=True)
        assert status["completed"] and status["artifact"]  # built before the call returns
        [lock] = [e for e in ctx.store.run_events(run) if e.kind == "lock"]
        dagster_run_id = lock.detail["dagster_run"]
        assert record.wait_recorded(dagster_run_id) == [dagster_run_id]
        completes = [e for e in ctx.store.run_events(run) if e.kind == "complete"]
        assert len(completes) == 1, "the completion was logged twice (or computed twice)"
        assert completes[0].detail["reused"] is False
    with dg.DagsterInstance.get() as instance:
        found = instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=dat_defs.stage_key("discovery"), asset_partitions=[run]
            ),
            limit=10,
        ).records
        assert [r.run_id for r in found] == [dagster_run_id]
        entry = found[0].event_log_entry.asset_materialization
        assert entry.metadata["stage_id"].value == status["stage_id"]
        messages = [
            r.event_log_entry.user_message
            for r in instance.get_records_for_run(dagster_run_id).records
        ]
        assert any(m.startswith("discovered") for m in messages), messages  # the domain's log
        assert any("reused" in m for m in messages), messages
        tick = dg.build_sensor_context(instance=instance, resources={"dat": DatResource()})
        assert dat_defs.dat_lock_sensor(tick).run_requests == []
    assert not record.record_log(ctx.workflow, dagster_run_id).exists(), "log kept on success"


def test_a_domain_failure_fails_the_caller_and_hands_off_nothing(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
):
    def broken(inputs, config):  # type: ignore[no-untyped-def]
        raise DatError("the selection broke\nsecond line")

    monkeypatch.setitem(STAGES, "selection", replace(STAGES["selection"], compute=broken))
    with open_context() as ctx:
        run = service.create_run(ctx, name="fails")["run_id"]
        service.lock(ctx, run, "discovery", {"root": "sample"}, materialize=True)
        record.wait_recorded()
        service.lock(ctx, run, "selection", {"files": ["sample/stores.tsv"]})
        with pytest.raises(DatError) as failed:
            service.materialize(ctx, run)
        assert (
            str(failed.value) == f"materializing selection of run {run} failed: the selection broke"
        )
        assert record.wait_recorded() == [], "a failed build was handed off"
    with dg.DagsterInstance.get() as instance:
        assert len(instance.get_runs(dg.RunsFilter(tags={"dat/run": run}))) == 1


def test_a_failed_recording_names_its_log(data_root: Path):
    with open_context() as ctx:
        run = service.create_run(ctx, name="unrecorded")["run_id"]
        flow = ctx.workflow
        handoff = record.hand_off(flow, run, ["no_such_stage"], "not-a-run", "CRITICAL", {})
        with pytest.raises(DatError) as failed:
            record.wait_recorded(handoff.dagster_run_id, timeout=60)
    assert str(handoff.log) in str(failed.value)
    assert handoff.log.is_file() and handoff.log.read_text().strip()


def test_status_names_a_recording_that_failed_until_another_run_records_the_stage(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
):
    """The caller never imports Dagster, so a broken instance shows only in the child: `dat
    status` says which built stages are not in Dagster, why, and where the log is."""
    home = Path(os.environ["DAGSTER_HOME"])
    good = (home / "dagster.yaml").read_text()
    with open_context() as ctx:
        run = service.create_run(ctx, name="unrecorded")["run_id"]  # adds the partition
        (home / "dagster.yaml").write_text("storage: [not, a, mapping]\n")
        service.lock(ctx, run, "discovery", {"root": "sample"}, materialize=True)
        assert [r["state"] for r in service.run_status(ctx, run)["dagster_records"]] in (
            ["pending"],
            ["failed"],
        )
        record.settle()
        [failed] = service.run_status(ctx, run)["dagster_records"]
    assert failed["state"] == "failed" and failed["stages"] == ["discovery"]
    assert not Path(failed["log"]).is_absolute() and (data_root / failed["log"]).is_file()
    shown = subprocess.run(
        [sys.executable, "-m", "dat_pipeline.cli", "status", run],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
    )
    said = " ".join(shown.stdout.split())  # wrapped at the terminal's width
    assert (
        f"built but not recorded in Dagster: discovery: {failed['reason']} (log: "
        f"{failed['log']}; materialize them in the Dagster UI to record them, the artifacts "
        "are reused)"
    ) in said

    (home / "dagster.yaml").write_text(good)  # fixed: the UI's re-run records the stage
    with dg.DagsterInstance.get() as instance:
        done = dat_defs.materialize_stages(instance, run, ["discovery"], {"dat": DatResource()})
        assert done.success
    with open_context() as ctx:
        assert service.run_status(ctx, run)["dagster_records"] == []
