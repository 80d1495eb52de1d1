"""`dat db analyze|model` and `dat backfill plan|run|status|manifest`."""

from __future__ import annotations

from pathlib import Path

import typer

from dat_pipeline.cli.output import JsonOption, act, emit_json, emit_table, handles_errors, service

db_app = typer.Typer(help="Introspect database tables and generate models.", no_args_is_help=True)
backfill_app = typer.Typer(
    help="Plan, run and audit windowed backfills of the tables in backfill.yaml.",
    no_args_is_help=True,
)
ConfigOption = typer.Option(
    None, "--config", help="backfill.yaml to use (default: DAT_BACKFILL_CONFIG or ./backfill.yaml)."
)


@db_app.command("analyze")
@handles_errors
def analyze(
    source: str = typer.Argument(..., help="A stored database source (`dat sources list`)."),
    table: str = typer.Argument(..., help="Table name, checked against the catalog."),
    schema: str | None = typer.Option(None, "--schema", help="Schema (default: the source's)."),
    as_json: bool = JsonOption,
) -> None:
    """Columns, row count, primary and foreign keys, indexes and constraints of TABLE."""
    info = act(lambda ctx: service("reverse_etl").analyze(ctx, source, table, schema))
    if as_json:
        emit_json(info)
        return
    count = f"{info['row_count']}{' (estimated)' if info['row_count_estimated'] else ''}"
    emit_table(
        f"{info['table']}: {count} rows; primary key {', '.join(info['primary_key']) or '-'}",
        ["column", "sql type", "logical", "nullable", "default"],
        [
            [c["name"], c["sql_type"], c["logical_type"], c["nullable"], c["default"]]
            for c in info["columns"]
        ],
    )
    for fk in info["foreign_keys"]:
        typer.echo(
            f"foreign key ({', '.join(fk['columns'])}) -> {fk['ref_table']}({', '.join(fk['ref_columns'])})"
        )
    for index in info["indexes"]:
        kind = "unique index" if index["unique"] else "index"
        typer.echo(f"{kind} {index['name']} ({', '.join(index['columns'])})")
    for unique in info["unique"]:
        typer.echo(f"unique ({', '.join(unique['columns'])})")
    for check in info["check_constraints"]:
        typer.echo(f"check {check['sqltext']}")


@db_app.command("model")
@handles_errors
def model(
    source: str = typer.Argument(..., help="A stored database source."),
    table: str = typer.Argument(..., help="Table name, checked against the catalog."),
    constraint: list[str] = typer.Option(
        [], "--constraint", "-c", help="COLUMN:NAME[:ARGS], e.g. qty:positive (repeatable)."
    ),
    out: Path = typer.Option(..., "--out", help="Folder for the model files."),
    schema: str | None = typer.Option(None, "--schema", help="Schema (default: the source's)."),
    as_json: bool = JsonOption,
) -> None:
    """Write a pandera model (Polars) and a JSON Schema (draft 2020-12) for TABLE."""
    result = act(
        lambda ctx: service("reverse_etl").model(ctx, source, table, out, constraint, schema)
    )
    if as_json:
        emit_json(result)
        return
    typer.echo(f"{result['class_name']} -> {result['pandera']}")
    typer.echo(f"JSON Schema -> {result['json_schema']}")


@backfill_app.command("plan")
@handles_errors
def plan(
    table: str = typer.Argument(..., help="A table name from backfill.yaml."),
    start: str = typer.Option(..., "--start", help="First day or time (UTC), e.g. 2024-01-01."),
    end: str = typer.Option(..., "--end", help="End (exclusive, UTC), e.g. 2024-02-01."),
    config_file: Path | None = ConfigOption,
    as_json: bool = JsonOption,
) -> None:
    """Windows, estimated rows per window, estimated duration and suggested parallelism."""
    result = act(lambda ctx: service("backfill").plan(ctx, table, start, end, config_file))
    if as_json:
        emit_json(result)
        return
    emit_table(
        f"{table}: {result['window_count']} {result['granularity']} windows, "
        f"~{result['estimated_rows']} rows",
        ["window", "start", "end", "estimated rows"],
        [[w["window"], w["start"], w["end"], w["estimated_rows"]] for w in result["windows"]],
    )
    typer.echo(
        f"throughput {result['throughput_rows_per_s']} rows/s ({result['throughput_basis']}); "
        f"{result['runs']} run(s) of up to {result['max_partitions_per_run']} windows; suggested "
        f"parallelism {result['suggested_parallelism']}; estimated {result['estimated_duration_s']} s"
    )


@backfill_app.command("run")
@handles_errors
def run(
    table: str = typer.Argument(..., help="A table name from backfill.yaml."),
    start: str = typer.Option(..., "--start", help="First day or time (UTC)."),
    end: str = typer.Option(..., "--end", help="End (exclusive, UTC)."),
    config_file: Path | None = ConfigOption,
    as_json: bool = JsonOption,
) -> None:
    """Submit a Dagster backfill of the windows in [start, end) (see the UI's backfills page;
    the daemon of `make ui` launches its runs)."""
    result = act(
        lambda ctx: service("backfill").run(ctx, table, start, end, config_file=config_file)
    )
    if as_json:
        emit_json(result)
        return
    typer.echo(
        f"submitted backfill {result['backfill_id']}: {result['windows']} window(s) "
        f"{result['first']} .. {result['last']} ({result['ui']})"
    )


@backfill_app.command("status")
@handles_errors
def status(
    table: str = typer.Argument(..., help="A table name from backfill.yaml."),
    start: str | None = typer.Option(None, "--start", help="Default: the configured start."),
    end: str | None = typer.Option(None, "--end", help="Default: the latest complete window."),
    config_file: Path | None = ConfigOption,
    as_json: bool = JsonOption,
) -> None:
    """Windows done, failed and missing."""
    result = act(lambda ctx: service("backfill").status(ctx, table, start, end, config_file))
    if as_json:
        emit_json(result)
        return
    emit_table(
        f"{table}: {result['done']} done, {result['failed']} failed, {result['missing']} missing",
        ["window", "state", "rows", "errors"],
        [
            [w["window"], w["state"], w["rows"], "; ".join(w["errors"])[:120]]
            for w in result["windows"]
            if w["state"] != "done"
        ][:200],
    )


@backfill_app.command("manifest")
@handles_errors
def manifest(
    table: str = typer.Argument(..., help="A table name from backfill.yaml."),
    limit: int = typer.Option(100, "--limit", min=1, help="The newest N records."),
    config_file: Path | None = ConfigOption,
    as_json: bool = JsonOption,
) -> None:
    """The audit records of TABLE's windows (newest last)."""
    view = act(lambda ctx: service("backfill").manifest(ctx, table, limit, config_file))
    name = view["table"]
    items = view["records"]
    if as_json:
        emit_json(view)
        return
    emit_table(
        f"manifest of {name}",
        ["manifest id", "window", "status", "rows", "checksum", "duration s", "code", "errors"],
        [
            [
                r["manifest_id"],
                r["window_key"],
                r["status"],
                r["rows"],
                (r["checksum"] or "")[:12],
                r["duration_s"],
                r["code_version"],
                "; ".join(r["errors"])[:80],
            ]
            for r in items
        ],
    )
