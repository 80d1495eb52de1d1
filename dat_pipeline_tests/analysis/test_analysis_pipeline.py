"""The analysis pipeline end to end: sources, Dagster assets, skipping, failures, report, CLI.

The source is a small shop generated here: customers (CSV), products (CSV) and orders (Parquet)
with planted foreign keys orders.customer_id -> customers.customer_id and orders.product_id ->
products.product_id, and a daily order date.
"""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import datetime
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from helpers import REPORT_SECTIONS
from typer.testing import CliRunner

from dat_pipeline.analysis.phase import PhaseContext, PhaseResult
from dat_pipeline.analysis.phases import PHASES
from dat_pipeline.analysis.report import build_report, render_markdown, write_report
from dat_pipeline.analysis.runner import META_FILE, AnalysisRunner, PhaseGraph
from dat_pipeline.analysis.sources import AnalysisError, add_source, load_source_tables
from dat_pipeline.cli import app
from dat_pipeline.defs.analysis import analysis_refresh_schedule, build_analysis_assets, phase_key
from dat_pipeline.orchestration.analysis import ensure_source_partition, launch_analysis
from dat_pipeline.paths import PathEscapeError
from dat_pipeline.store import open_store

PHASE_NAMES = [
    "import",
    "typing",
    "statistics",
    "statistical_quality",
    "relationships",
    "semantic",
    "correlations",
    "topology",
    "temporal",
    "business_cycles",
    "slicing",
    "validation",
    "entropy",
]
CONTRACT_KEYS = {"findings", "roles", *REPORT_SECTIONS}
cli = CliRunner()


def write_shop(folder: Path, price_shift: float = 0.0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    customers = pl.DataFrame(
        {
            "customer_id": list(range(1, 61)),
            "name": [f"Customer {i}" for i in range(1, 61)],
            "email": [f"c{i}@example.com" for i in range(1, 61)],
            "country": [["FR", "DE", "US", "GB"][i % 4] for i in range(1, 61)],
        }
    )
    products = pl.DataFrame(
        {
            "product_id": [f"P{i:03d}" for i in range(1, 21)],
            "category": [["coffee", "tea", "cake", "juice"][i % 4] for i in range(1, 21)],
            "price": [round(2.5 + i * 0.75 + price_shift, 2) for i in range(1, 21)],
        }
    )
    n = 420
    orders = pl.DataFrame(
        {
            "order_id": list(range(1000, 1000 + n)),
            "customer_id": [(i * 7) % 60 + 1 for i in range(n)],
            "product_id": [f"P{(i * 3) % 20 + 1:03d}" for i in range(n)],
            "order_date": pl.date_range(
                pl.date(2024, 1, 1), pl.date(2024, 1, 1) + pl.duration(days=n // 2 - 1), eager=True
            )
            .to_frame("d")
            .select(pl.col("d").repeat_by(2).explode())["d"],
            "quantity": [1 + (i * 5) % 4 for i in range(n)],
        }
    )
    customers.write_csv(folder / "customers.csv")
    products.write_csv(folder / "products.csv")
    orders.write_parquet(folder / "orders.parquet")


@pytest.fixture
def shop(data_root: Path) -> str:
    write_shop(data_root / "shop")
    add_source(open_store(), "shop", "shop")
    return "shop"


def night(instance: dg.DagsterInstance) -> dg.ScheduleEvaluationContext:
    return dg.build_schedule_context(
        instance=instance, scheduled_execution_time=datetime(2026, 1, 2, 3, 0)
    )


def meta_stamps(runner: AnalysisRunner, source: str) -> dict[str, int]:
    return {
        phase: (runner.phase_dir(source, phase) / META_FILE).stat().st_mtime_ns
        for phase in PHASE_NAMES
    }


def test_registry_is_the_thirteen_phases_of_the_spec_in_graph_order():
    graph = PhaseGraph(PHASES)
    assert graph.order == PHASE_NAMES
    assert graph.needs("entropy") == ("statistics", "semantic", "relationships", "correlations")
    assert graph.descendants("temporal") == ["business_cycles", "slicing"]
    assert graph.closure(["slicing"]) == [
        "import",
        "typing",
        "statistics",
        "relationships",
        "semantic",
        "correlations",
        "temporal",
        "slicing",
    ]


def test_sources_are_checked_and_read_as_raw_text(data_root: Path, shop: str):
    store = open_store()
    with pytest.raises(AnalysisError, match="already exists"):
        add_source(store, "shop", "shop")
    with pytest.raises(AnalysisError, match="written db://crm_postgres"):
        add_source(store, "crm", "crm_postgres")
    with pytest.raises(AnalysisError, match="not valid"):
        add_source(store, "Bad Name", "shop")
    with pytest.raises(PathEscapeError, match="leaves the data root"):
        add_source(store, "escape", "../..")
    tables = load_source_tables(AnalysisRunner().source(shop))
    assert sorted(tables) == ["customers", "orders", "products"]
    orders = tables["orders"]
    assert orders["_row_number"].to_list()[:3] == [0, 1, 2]
    assert all(dtype == pl.String for name, dtype in orders.schema.items() if name != "_row_number")
    assert tables["products"]["product_id"][0] == "P001"


def test_nightly_refresh_requests_the_stale_phases_of_each_source_and_ships_stopped(
    data_root: Path, shop: str
):
    assert analysis_refresh_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    with dg.instance_for_test() as instance:
        ensure_source_partition(instance, shop)
        tick = list(analysis_refresh_schedule(night(instance)))
    [request] = tick
    assert request.partition_key == shop
    assert {key.path[-1] for key in request.asset_selection} == {*PHASE_NAMES, "warehouse_views"}


def test_pipeline_runs_as_dagster_assets_skips_when_unchanged_and_reruns_on_change(
    data_root: Path, shop: str
):
    runner = AnalysisRunner()
    with dg.instance_for_test() as instance:
        first = launch_analysis(instance, shop, in_process=True)
        assert first.success, first.to_dict()
        assert [p.state for p in first.phases] == ["ran"] * 13

        report = build_report(runner, shop)
        assert set(report) >= CONTRACT_KEYS
        assert {t["name"] for t in report["tables"]} == {"customers", "orders", "products"}
        orders = next(t for t in report["tables"] if t["name"] == "orders")
        assert orders["rows"] == 420
        date_column = next(c for c in orders["columns"] if c["name"] == "order_date")
        assert date_column["type"] == "date"
        links = {
            (r["from_table"], tuple(r["from_columns"]), r["to_table"], tuple(r["to_columns"]))
            for r in report["relationships"]
        }
        assert ("orders", ("customer_id",), "customers", ("customer_id",)) in links
        assert ("orders", ("product_id",), "products", ("product_id",)) in links
        assert any(t["column"] == "order_date" for t in report["temporal"])
        assert set(report["topology"]) >= {"components", "fact_tables", "dimension_tables"}
        assert "orders" in report["topology"]["fact_tables"]
        markdown = render_markdown(report)
        assert "## Relationships" in markdown
        # the ranked findings come first, each a sentence with its numbers and its evidence
        assert markdown.index("## Findings") < markdown.index("## Phases")
        assert report["findings"] and len(report["findings"]) <= 25
        first = report["findings"][0]
        assert set(first) == {"rank", "phase", "table", "columns", "statement", "score", "evidence"}
        assert first["rank"] == 1 and f"1. {first['statement']}" in markdown
        roles = {(r["table"], r["column"]): r["role"] for r in report["roles"]}
        assert roles[("orders", "order_id")] == "identifier"
        assert roles[("orders", "customer_id")] == "foreign_key"
        assert roles[("orders", "order_date")] == "timestamp"
        assert date_column["role"] == "timestamp" and date_column["role_evidence"]
        with duckdb.connect(str(data_root / "warehouse.duckdb"), read_only=True) as warehouse:
            views = warehouse.execute(
                'SELECT from_table, to_table FROM "shop"."relationships__relationships"'
            ).fetchall()
        assert ("orders", "customers") in views

        # The nightly refresh has nothing to request for an up-to-date source.
        [skip] = list(analysis_refresh_schedule(night(instance)))
        assert isinstance(skip, dg.SkipReason) and "up to date" in (skip.skip_message or "")

        # Nothing changed: no phase work at all, not even a Dagster run.
        stamps = meta_stamps(runner, shop)
        second = launch_analysis(instance, shop, in_process=True)
        assert [p.state for p in second.phases] == ["skipped"] * 13
        assert second.run_id is None
        assert meta_stamps(runner, shop) == stamps

        # Forcing the assets to run anyway: each one sees its fingerprint and skips.
        forced = dg.materialize(
            build_analysis_assets(),
            selection=[phase_key(p) for p in PHASE_NAMES],
            partition_key=shop,
            instance=instance,
        )
        assert forced.success
        materialized = {
            event.asset_key.path[-1]: event.materialization
            for event in forced.get_asset_materialization_events()
        }
        assert set(materialized) == set(PHASE_NAMES)
        assert all(m.metadata["skipped"].value is True for m in materialized.values())
        [check] = forced.get_asset_check_evaluations()
        assert check.check_name == "derived_checks_pass" and check.asset_key == phase_key(
            "validation"
        )
        assert meta_stamps(runner, shop) == stamps
        versions = {s.phase: s.fingerprint for s in runner.states(shop)}
        record = instance.get_latest_materialization_event(phase_key("entropy"))
        assert record is not None
        assert record.asset_materialization.tags["dagster/data_version"] == versions["entropy"]

        # One table changes: fingerprints change and the phases run again.
        time.sleep(0.01)
        write_shop(data_root / "shop", price_shift=1.0)
        assert set(runner.plan(shop).values()) == {"stale"}
        third = launch_analysis(instance, shop, in_process=True)
        assert [p.state for p in third.phases] == ["ran"] * 13
        changed = {s.phase: s.fingerprint for s in runner.states(shop)}
        assert all(changed[p] != versions[p] for p in PHASE_NAMES)
        assert all(s.state == "ok" for s in runner.states(shop))


def test_a_failed_phase_fails_only_its_dependents_and_the_report_names_them(
    data_root: Path, shop: str
):
    def broken(_ctx: PhaseContext) -> PhaseResult:
        raise RuntimeError("planted failure in temporal")

    specs = [
        dataclasses.replace(spec, run=broken) if spec.name == "temporal" else spec
        for spec in PHASES
    ]
    runner = AnalysisRunner(graph=PhaseGraph(specs))
    with dg.instance_for_test() as instance:
        run = launch_analysis(instance, shop, in_process=True, runner=runner)
    states = {p.phase: p.state for p in run.phases}
    assert not run.success
    assert states["temporal"] == "failed"
    assert states["business_cycles"] == states["slicing"] == "blocked"
    assert {p for p, s in states.items() if s == "ran"} == set(PHASE_NAMES) - {
        "temporal",
        "business_cycles",
        "slicing",
    }
    report = build_report(runner, shop)
    assert report["failed_phases"] == [
        {
            "phase": "temporal",
            "error": "RuntimeError: planted failure in temporal",
            "blocked": ["business_cycles", "slicing"],
        }
    ]
    assert report["temporal"] == [] and report["slices"] == []
    assert report["relationships"], "phases that do not need temporal still report"
    markdown = write_report(runner, shop, "md").read_text(encoding="utf-8")
    assert "temporal failed" in markdown and "business_cycles, slicing" in markdown


def dat(*args: str) -> dict:
    result = cli.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr or result.output
    return json.loads(result.stdout)


def test_cli_runs_phases_in_parallel_processes_then_skips_and_reports(data_root: Path):
    write_shop(data_root / "shop")
    added = dat("analysis", "add-source", "shop", "--from", "shop")
    assert added["kind"] == "folder"
    assert [s["name"] for s in dat("analysis", "sources")["sources"]] == ["shop"]

    first = dat("analysis", "run", "shop", "--phase", "relationships", "--concurrency", "2")
    assert [(p["phase"], p["state"]) for p in first["phases"]] == [
        ("import", "ran"),
        ("typing", "ran"),
        ("relationships", "ran"),
    ]
    with dg.DagsterInstance.get() as instance:
        dagster_run = instance.get_run_by_id(first["run_id"])
        assert dagster_run is not None and dagster_run.tags["dagster/partition"] == "shop"
        assert instance.has_dynamic_partition("sources", "shop")
    again = dat("analysis", "run", "shop", "--phase", "relationships")
    assert {p["state"] for p in again["phases"]} == {"skipped"} and again["run_id"] is None

    status = {p["phase"]: p for p in dat("analysis", "status", "shop")["phases"]}
    assert status["relationships"]["state"] == "ok"
    assert status["relationships"]["data_version"] == first["phases"][2]["data_version"]
    assert status["entropy"]["state"] == "missing"

    mermaid = cli.invoke(app, ["analysis", "graph", "--format", "mermaid"])
    assert mermaid.exit_code == 0 and mermaid.stdout.startswith("graph TD")
    assert "p_relationships --> p_topology" in mermaid.stdout

    report = cli.invoke(app, ["analysis", "report", "shop", "--format", "json"])
    assert report.exit_code == 0, report.stderr
    document = json.loads(report.stdout)
    assert set(document) >= CONTRACT_KEYS
    assert any(r["to_table"] == "customers" for r in document["relationships"])
    written = dat("analysis", "report", "shop", "--format", "html")
    assert Path(written["path"]).read_text(encoding="utf-8").startswith("<!doctype html>")

    reset = dat("analysis", "reset", "shop", "--phase", "typing")
    assert reset["reset"] == ["typing", "relationships"]
    missing = cli.invoke(app, ["analysis", "status", "nope"])
    assert missing.exit_code == 1 and "no analysis source 'nope'" in missing.stderr
