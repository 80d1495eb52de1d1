"""`dat datasets list|show`: the one catalog of every dataset the product wrote (SPEC 10)."""

from __future__ import annotations

import typer

from dat_pipeline.cli.output import JsonOption, act, emit_json, emit_table, handles_errors, say

datasets_app = typer.Typer(
    help="Every dataset written (DAT exports, ingestion outputs, backfill tables, analysis "
    "results), with its DuckDB view.",
    no_args_is_help=True,
)


@datasets_app.command("list")
@handles_errors
def list_(
    kind: str | None = typer.Option(
        None, "--kind", help="Only this kind: dat, ingestion, backfill or analysis."
    ),
    sync: bool = typer.Option(
        False, "--sync", help="First re-make the views of ingestion outputs and backfill tables."
    ),
    as_json: bool = JsonOption,
) -> None:
    """List datasets: id, kind, tables and rows (`show` gives the view to query)."""
    from dat_pipeline.services import datasets
    from dat_pipeline.services.context import open_context

    with open_context() as ctx:
        if sync:
            datasets.sync_views(ctx)
        found = datasets.list_datasets(ctx, kind)
    if as_json:
        emit_json(found)
        return
    rows = [
        [
            d["dataset_id"],
            d["kind"],
            len(d["tables"]),
            sum(t["row_count"] or 0 for t in d["tables"]),
        ]
        for d in found["datasets"]
    ]
    emit_table(
        "datasets",
        ["id", "kind", "tables", "rows"],
        rows,
        empty="No dataset yet: export a DAT run, run an ingestion, a backfill or an analysis.",
    )
    if rows:
        say("Its tables, lineage and SQL view: dat datasets show ID")


@datasets_app.command("show")
@handles_errors
def show(
    dataset_id: str = typer.Argument(..., help="A dataset id from `dat datasets list`."),
    as_json: bool = JsonOption,
) -> None:
    """One dataset: its tables with row counts and columns, lineage, asset and views."""
    from dat_pipeline.services import datasets

    found = act(lambda ctx: datasets.show_dataset(ctx, dataset_id))
    if as_json:
        emit_json(found)
        return
    say(
        f"{found['dataset_id']} ({found['kind']}) {found['name']}, created {found['created_at']}; "
        f"asset {found['asset']['key']}; query it: SELECT * FROM {found['view']}"
    )
    emit_table(
        "tables",
        ["name", "rows", "columns", "view"],
        [
            [t["name"], t["row_count"], ", ".join(c["name"] for c in t["columns"]), t["view"]]
            for t in found["tables"]
        ],
    )
