"""`make demo`: one DAT run over `data/sample/`, from discovery to export, on the local instance.

Each stage is locked with a config and materialized as a Dagster run on the instance under
DAGSTER_HOME, so everything the demo did shows in `make ui` afterwards.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import polars as pl
from rich.console import Console

from dat_pipeline.dat.stages import STAGES
from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.definitions import RESOURCES
from dat_pipeline.defs.dat import materialize_stages
from dat_pipeline.defs.instance import get_instance
from dat_pipeline.settings import get_settings
from dat_pipeline.store import open_store

console = Console()


def demo_configs(flow: DatWorkflow, run_id: str, stage: str) -> dict[str, Any] | None:
    """The config the demo locks `stage` with (None: skip the stage); later ones read upstream."""
    if stage == "discovery":
        return {"root": "sample"}
    if stage == "selection":
        catalog = flow.load_artifact(run_id, "discovery")
        readable = catalog.filter(pl.col("readable"))["path"].to_list()
        return {"files": [path for path in readable if "/sales_" in path]}
    if stage == "context":
        return {"description": "Demo: coffee shop sales, stores, products and customers."}
    if stage == "table_availability":
        return {}
    if stage == "table_selection":
        probes = flow.load_artifact(run_id, "table_availability")
        usable = probes.filter(pl.col("status").is_in(["available", "partial"]))
        tables: dict[str, list[str]] = {}
        for row in usable.iter_rows(named=True):
            tables.setdefault(row["path"], []).append(row["table"])
        return {
            "tables": tables,
            "rules": [{"type": "NOT_NULL", "column": "order_id", "severity": "warn"}],
        }
    if stage == "preview":
        return {}
    if stage == "parse":
        return {}
    if stage == "export":
        return {"formats": ["parquet", "csv"], "name": "demo_sales"}
    return None


def main() -> int:
    settings = get_settings()
    flow = DatWorkflow(open_store(settings.store_url), settings.data_root)
    if not (settings.data_root / "sample").is_dir():
        console.print(f"[red]no sample data under {settings.data_root / 'sample'}[/red]")
        return 1
    run = flow.create_run(name="demo")
    console.print(f"DAT run [bold]{run.run_id}[/bold] over {settings.data_root / 'sample'}")
    with get_instance() as instance:
        for stage in flow.graph.order:
            if stage not in STAGES:
                continue
            config = demo_configs(flow, run.run_id, stage)
            if config is None:
                continue
            status = flow.lock(run.run_id, stage, config)
            result = materialize_stages(instance, run.run_id, [stage], RESOURCES, "WARNING")
            if not result.success:
                error = flow.stage_status(run.run_id, stage).error
                console.print(f"[red]{stage} failed: {error}[/red]")
                return 1
            console.print(f"  {stage:<20} {status.stage_id}")
    _report(flow, run.run_id)
    return _analyse(flow, run.run_id)


def _report(flow: DatWorkflow, run_id: str) -> None:
    console.print(f"\nartifacts under {flow.artifacts.run_dir(run_id)}")
    last = [s for s in flow.status(run_id) if s.locked][-1]
    frame = flow.load_artifact(run_id, last.stage)
    if last.stage == "export":
        row = frame.row(0, named=True)
        manifest_path = flow.data_root / row["manifest_path"]
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        console.print(f"dataset {row['dataset_id']}: {manifest['row_count']} rows")
        console.print(f"manifest: {manifest_path}")
        data = pl.read_parquet(manifest_path.with_name("data.parquet"))
        console.print(data.head(5))
    else:
        console.print(f"last stage {last.stage}:")
        console.print(frame.head(8))
    console.print("\nSee it in the UI: make ui  →  http://127.0.0.1:3000 (asset group dat)")


def _analyse(flow: DatWorkflow, run_id: str) -> int:
    """Analyse the exported dataset as a source, the way `dat analysis run` does, and write the
    Markdown report."""
    from dat_pipeline.analysis.report import write_report
    from dat_pipeline.analysis.runner import AnalysisRunner
    from dat_pipeline.analysis.sources import add_source, list_sources
    from dat_pipeline.defs.analysis import launch_analysis

    dataset_id = flow.load_artifact(run_id, "export").row(0, named=True)["dataset_id"]
    source = f"demo_{dataset_id}"
    if source not in {s.name for s in list_sources(flow.store)}:
        add_source(flow.store, source, dataset_id, data_root=flow.data_root)
    runner = AnalysisRunner(flow.store, flow.data_root)
    console.print(f"\nanalysis of dataset {dataset_id} (source {source}):")
    with get_instance() as instance:
        run = launch_analysis(
            instance,
            source,
            runner=runner,
            on_progress=lambda r: console.print(r.line()),
            in_process=True,  # the sample is small: process starts would dominate
        )
    console.print(f"{len(run.phases)} phases in {run.seconds:.1f} s")
    console.print(f"analysis report: {write_report(runner, source, 'md')}")
    console.print("Results as DuckDB views in the warehouse, schema " + source)
    return 0 if run.success else 1


if __name__ == "__main__":
    sys.exit(main())
