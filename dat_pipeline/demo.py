"""`make demo`: one DAT run over `data/sample/`, from discovery to export, on the local instance.

Each stage is locked with a config and materialized as a Dagster run on the instance under
DAGSTER_HOME, so everything the demo did shows in `make ui` afterwards.
"""

from __future__ import annotations

import json
import sys
import warnings
from typing import Any

import polars as pl
from rich.console import Console

from dat_pipeline.cli.render import render_records
from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.errors import DatError
from dat_pipeline.services import analysis, dat
from dat_pipeline.services.context import ServiceContext, open_context

console = Console()
NEXT_STEPS = [
    ("cp -r ~/my_files data/mine", "CSV, Excel, Parquet, JSON, PDF, Word..."),
    ("dat runs create --name mine", "prints the new RUN id"),
    ("dat lock RUN discovery --set root=mine --materialize", ""),
    ("dat show RUN discovery", "what was found and what is readable"),
    ("dat stages", "the next stages, their gates and keys"),
]


def _next_steps(run_id: str) -> str:
    steps = [*NEXT_STEPS, (f"dat status {run_id}", "this demo's stages")]
    lines = [f"  {command:<36} {note}".rstrip() for command, note in steps]
    return "\nTry it on a folder of your own:\n" + "\n".join(lines)


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


def _demo_run(ctx: ServiceContext) -> str:
    """The run an earlier `make demo` made, else a new one. Re-locking its stages with the same
    configs over unchanged files gives the same stage ids, so nothing is recomputed, the dataset
    files are not rewritten, and the analysis finds every phase current."""
    earlier = [run for run in dat.list_runs(ctx)["runs"] if run["name"] == "demo"]
    return earlier[-1]["run_id"] if earlier else dat.create_run(ctx, name="demo")["run_id"]


def main() -> int:
    warnings.simplefilter("ignore")  # the demo speaks for itself; the UI keeps the run logs
    with open_context() as ctx:
        sample = ctx.data_root / "sample"
        if not sample.is_dir():
            console.print(f"[red]no sample data under {sample}[/red]")
            return 1
        run_id = _demo_run(ctx)
        console.print(f"DAT run [bold]{run_id}[/bold] over {sample}")
        for stage in ctx.workflow.graph.order:
            if stage not in ctx.workflow.stages:
                continue
            config = demo_configs(ctx.workflow, run_id, stage)
            if config is None:
                continue
            try:
                status = dat.lock(ctx, run_id, stage, config, materialize=True)
            except DatError as exc:
                console.print(f"[red]{stage} failed: {exc.message}[/red]")
                return 1
            console.print(f"  {stage:<20} {status['stage_id']}")
        _report(ctx.workflow, run_id)
        code = _analyse(ctx, run_id)
        print(_next_steps(run_id))
        return code


def _report(flow: DatWorkflow, run_id: str) -> None:
    console.print(f"\nartifacts under {flow.artifacts.run_dir(run_id)}")
    last = [s for s in flow.status(run_id) if s.locked][-1]
    frame = flow.load_artifact(run_id, last.stage)
    if last.stage == "export":
        row = frame.row(0, named=True)
        manifest_path = flow.data_root / row["manifest_path"]
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        tables = manifest["tables"]
        console.print(
            f"dataset {row['dataset_id']}: {manifest['row_count']} rows in {len(tables)} "
            f"table(s): {', '.join(t['name'] for t in tables)}"
        )
        console.print(f"manifest: {manifest_path}")
        first = tables[0]
        data = pl.read_parquet(flow.data_root / first["files"]["parquet"]).head(5)
        sys.stdout.write(
            render_records(f"first rows of {first['name']}:", data.columns, data.rows())
        )
    else:
        head = frame.head(8)
        sys.stdout.write(render_records(f"last stage {last.stage}:", head.columns, head.rows()))
    console.print("\nSee it in the UI: make ui  →  http://127.0.0.1:3000 (asset group dat)")


def _analyse(ctx: ServiceContext, run_id: str) -> int:
    """Analyse the exported dataset as a source, the way `dat analysis run` does (in this
    process: the sample is small, process starts would dominate), and write the Markdown
    report."""
    dataset_id = ctx.workflow.load_artifact(run_id, "export").row(0, named=True)["dataset_id"]
    source = f"demo_{dataset_id}"
    if source not in {s["name"] for s in analysis.list_sources(ctx)["sources"]}:
        analysis.add_source(ctx, source, dataset_id)
    console.print(f"\nanalysis of dataset {dataset_id} (source {source}):")
    run = analysis.run(ctx, source, concurrency=1, on_progress=lambda r: console.print(r.line()))
    console.print(f"{len(run['phases'])} phases in {run['seconds']:.1f} s")
    console.print(f"analysis report: {analysis.write(ctx, source, 'md')}")
    console.print("Results as DuckDB views in the warehouse, schema " + source)
    return 0 if run["success"] else 1


if __name__ == "__main__":
    sys.exit(main())
