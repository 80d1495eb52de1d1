"""The lock state machine on real files and real stores (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import polars as pl
import pytest

from dat_pipeline.dat.stages import STAGES
from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.errors import GateError, NotFoundError, StageConfigError
from dat_pipeline.store import ControlStore

SAMPLE_FILES = ["sample/sales_2024_q1.csv", "sample/stores.tsv"]


def lock_and_build(flow: DatWorkflow, run_id: str, stage: str, config: dict) -> str:
    status = flow.lock(run_id, stage, config)
    flow.materialize(run_id, stage)
    return status.stage_id


def locked_through_selection(flow: DatWorkflow) -> str:
    run = flow.create_run(name="Q1 sales").run_id
    lock_and_build(flow, run, "discovery", {"root": "sample"})
    lock_and_build(flow, run, "selection", {"files": SAMPLE_FILES})
    return run


def test_discovery_catalogs_every_sample_file_with_format_and_size(workflow: DatWorkflow):
    run = workflow.create_run().run_id
    lock_and_build(workflow, run, "discovery", {"root": "sample", "include": ["*.csv", "*.tsv"]})
    catalog = workflow.load_artifact(run, "discovery")
    by_path = {row["path"]: row for row in catalog.iter_rows(named=True)}
    assert set(by_path) == {
        "sample/sales_2024_q1.csv",
        "sample/sales_2024_q2_semicolon.csv",
        "sample/returns_utf16.csv",
        "sample/stores.tsv",
    }
    q1 = by_path["sample/sales_2024_q1.csv"]
    assert q1["size_bytes"] == (workflow.data_root / q1["path"]).stat().st_size
    assert q1["readable"] and q1["format"] == "csv"
    assert by_path["sample/stores.tsv"]["format"] in ("tsv", "csv")


def test_discovery_excludes_and_reports_unreadable_files(workflow: DatWorkflow):
    (workflow.data_root / "sample" / "empty.csv").write_bytes(b"")
    run = workflow.create_run().run_id
    lock_and_build(workflow, run, "discovery", {"root": "sample", "exclude": ["*.xlsx"]})
    catalog = workflow.load_artifact(run, "discovery")
    assert "sample/products.xlsx" not in catalog["path"].to_list()
    empty = catalog.filter(pl.col("path") == "sample/empty.csv").row(0, named=True)
    assert empty["readable"] is False and "empty" in empty["reason"]


def test_locking_selection_before_discovery_names_the_missing_stage(workflow: DatWorkflow):
    run = workflow.create_run().run_id
    with pytest.raises(GateError, match=r"discovery is not locked .*dat lock"):
        workflow.lock(run, "selection", {"files": SAMPLE_FILES})


def test_export_is_refused_while_parse_is_locked_and_allowed_once_parse_completed(
    workflow: DatWorkflow,
):
    run = locked_through_selection(workflow)
    lock_and_build(workflow, run, "table_availability", {})
    lock_and_build(workflow, run, "table_selection", {"tables": {"sample/*": ["*"]}})
    workflow.lock(run, "parse", {})
    before = workflow.store.run_events(run)
    with pytest.raises(GateError, match=r"cannot lock export: parse has not completed"):
        workflow.lock(run, "export", {"formats": ["parquet"]})
    assert workflow.store.run_events(run) == before, "a refused lock left a trace"
    assert not workflow.stage_status(run, "export").locked

    workflow.materialize(run, "parse")
    status = workflow.lock(run, "export", {"formats": ["parquet"]})
    assert status.locked
    workflow.materialize(run, "export")
    assert workflow.stage_status(run, "export").completed


def test_selection_of_an_unknown_file_names_it(workflow: DatWorkflow):
    run = workflow.create_run().run_id
    lock_and_build(workflow, run, "discovery", {"root": "sample"})
    with pytest.raises(StageConfigError, match=r"sample/nope\.csv"):
        workflow.lock(run, "selection", {"files": ["sample/nope.csv", SAMPLE_FILES[0]]})


def test_unlocking_selection_cascades_to_context_but_not_discovery(workflow: DatWorkflow):
    run = locked_through_selection(workflow)
    workflow.lock(run, "context", {"description": "quarterly sales"})
    unlocked = workflow.unlock(run, "selection")
    assert unlocked == ["selection", "context"]
    states = {s.stage: s.state for s in workflow.status(run)}
    assert states["discovery"] == "LOCKED"
    assert states["selection"] == states["context"] == "UNLOCKED"


def test_unlocking_context_cascades_nothing(workflow: DatWorkflow):
    run = locked_through_selection(workflow)
    workflow.lock(run, "context", {"notes": "n"})
    assert workflow.unlock(run, "context") == ["context"]
    assert workflow.stage_status(run, "selection").locked


def test_unlock_keeps_artifacts_and_config(workflow: DatWorkflow):
    run = locked_through_selection(workflow)
    before = workflow.artifacts.list_files(run)
    workflow.unlock(run, "discovery")
    assert workflow.artifacts.list_files(run) == before
    kept = workflow.stage_status(run, "selection")
    assert kept.state == "UNLOCKED" and kept.config["files"] == SAMPLE_FILES


def test_skip_optional_stage_locks_it_completed_with_an_empty_artifact(workflow: DatWorkflow):
    run = locked_through_selection(workflow)
    status = workflow.skip(run, "context")
    assert status.locked and status.completed
    assert workflow.load_artifact(run, "context").height == 0
    with pytest.raises(GateError, match="not optional"):
        workflow.skip(run, "selection")


def test_materializing_an_unlocked_stage_says_how_to_lock_it(workflow: DatWorkflow):
    run = workflow.create_run().run_id
    with pytest.raises(GateError, match=r"not locked \(lock it first: dat lock"):
        workflow.materialize(run, "discovery")


def test_unknown_run_and_stage_are_clear_errors(workflow: DatWorkflow):
    with pytest.raises(NotFoundError, match="unknown run 'ghost'"):
        workflow.status("ghost")
    run = workflow.create_run().run_id
    with pytest.raises(NotFoundError, match="unknown stage 'nope'"):
        workflow.lock(run, "nope", {})


def test_invalid_config_names_the_field(workflow: DatWorkflow):
    run = workflow.create_run().run_id
    with pytest.raises(StageConfigError, match="recursve"):
        workflow.lock(run, "discovery", {"root": "sample", "recursve": True})
    with pytest.raises(StageConfigError, match="absolute"):
        workflow.lock(run, "discovery", {"root": "/etc"})
    with pytest.raises(StageConfigError, match=r"leaves the data root"):
        workflow.lock(run, "discovery", {"root": "../.."})


def test_relock_with_identical_inputs_reuses_the_artifact_and_computes_nothing(
    data_root: Path, store: ControlStore
):
    calls: list[str] = []

    def counting(spec):
        def compute(inputs, config):
            calls.append(spec.name)
            return spec.compute(inputs, config)

        return dataclasses.replace(spec, compute=compute)

    flow = DatWorkflow(store, data_root, stages={n: counting(s) for n, s in STAGES.items()})
    run = locked_through_selection(flow)
    assert calls == ["discovery", "selection"]
    first_ids = {s.stage: s.stage_id for s in flow.status(run)}
    flow.unlock(run, "discovery")
    lock_and_build(flow, run, "discovery", {"root": "sample"})
    lock_and_build(flow, run, "selection", {"files": list(reversed(SAMPLE_FILES))})
    assert calls == ["discovery", "selection"], "re-lock with the same inputs recomputed"
    assert {s.stage: s.stage_id for s in flow.status(run)} == first_ids
    reused = [e for e in store.run_events(run) if e.kind == "complete" and e.detail["reused"]]
    assert len(reused) == 2
    lock_and_build(flow, run, "selection", {"files": SAMPLE_FILES[:1]})
    assert calls[-1] == "selection"


def test_relock_with_new_inputs_unlocks_dependents(workflow: DatWorkflow):
    run = locked_through_selection(workflow)
    workflow.lock(run, "context", {"notes": "x"})
    workflow.lock(run, "selection", {"files": SAMPLE_FILES[:1]})
    assert workflow.stage_status(run, "context").state == "UNLOCKED"
    kinds = [(e.kind, e.stage) for e in workflow.store.run_events(run)][-2:]
    assert kinds == [("unlock", "context"), ("lock", "selection")]


def test_ids_are_the_same_for_two_copies_of_the_root_at_different_paths(
    tmp_path: Path, data_root: Path
):
    copies = []
    for name in ("machine_a", "elsewhere/machine_b"):
        root = tmp_path / name / "data"
        shutil.copytree(data_root / "sample", root / "sample")
        copies.append(DatWorkflow(ControlStore(f"sqlite:///{tmp_path / name / 'c.db'}"), root))
    results = []
    for flow in copies:
        run = flow.create_run(run_id="same-run").run_id
        lock_and_build(flow, run, "discovery", {"root": "sample", "include": ["*.csv"]})
        lock_and_build(flow, run, "selection", {"files": SAMPLE_FILES[:1]})
        ids = {s.stage: s.stage_id for s in flow.status(run) if s.locked}
        selection = flow.load_artifact(run, "selection").select("path", "size_bytes", "format")
        results.append((ids, selection))
    assert results[0][0] == results[1][0]
    assert results[0][1].equals(results[1][1])


def test_symlink_to_a_file_outside_the_root_is_not_readable(workflow: DatWorkflow, tmp_path: Path):
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    os.symlink(secret, workflow.data_root / "sample" / "leak.csv")
    run = workflow.create_run().run_id
    lock_and_build(workflow, run, "discovery", {"root": "sample"})
    row = workflow.load_artifact(run, "discovery").filter(pl.col("path") == "sample/leak.csv")
    assert row["readable"].to_list() == [False]
    assert "outside the data root" in row["reason"][0]
    # selected like any unreadable file (SPEC 1.4), reported, never read, never pickable
    lock_and_build(workflow, run, "selection", {"files": ["sample/leak.csv", *SAMPLE_FILES]})
    lock_and_build(workflow, run, "table_availability", {})
    availability = workflow.load_artifact(run, "table_availability")
    leak = availability.filter(pl.col("path") == "sample/leak.csv").row(0, named=True)
    assert leak["status"] == "error" and "outside the data root" in leak["error"]
    assert "hunter2" not in str(availability.to_dicts())
    with pytest.raises(StageConfigError, match=r"leak\.csv"):
        workflow.lock(run, "table_selection", {"tables": {"sample/leak.csv": ["*"]}})


def test_event_log_is_append_only(workflow: DatWorkflow):
    run = locked_through_selection(workflow)
    snapshot = workflow.store.run_events(run)
    workflow.unlock(run, "discovery")
    workflow.lock(run, "discovery", {"root": "sample"})
    after = workflow.store.run_events(run)
    assert after[: len(snapshot)] == snapshot
    seqs = [e.seq for e in after]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert [e.kind for e in after[len(snapshot) :]][:2] == ["unlock", "unlock"]
