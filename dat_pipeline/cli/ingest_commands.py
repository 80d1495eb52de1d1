"""`dat sources|ingest|jobs`: database sources, uploads, ingestion runs and their jobs (SPEC 2)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from dat_pipeline.cli.output import (
    JsonOption,
    act,
    emit_json,
    emit_table,
    fail,
    handles_errors,
    reply,
    service,
)
from dat_pipeline.errors import DatError

sources_app = typer.Typer(
    help="Database sources (passwords encrypted at rest).", no_args_is_help=True
)
ingest_app = typer.Typer(help="Upload files, preview rules, run ingestions.", no_args_is_help=True)
jobs_app = typer.Typer(help="Ingestion jobs: status, progress, logs, cancel.", no_args_is_help=True)


# -- sources ----------------------------------------------------------------------------------
@sources_app.command("add")
@handles_errors
def sources_add(
    name: str = typer.Argument(..., help="Source name: lowercase letters, digits, _."),
    kind: str = typer.Option(..., "--kind", help="mysql | postgresql | sqlite | duckdb"),
    host: str | None = typer.Option(None, "--host"),
    port: int | None = typer.Option(None, "--port"),
    database: str = typer.Option(
        ..., "--database", help="Database name, or a file under the data root (sqlite, duckdb)."
    ),
    user: str | None = typer.Option(None, "--user"),
    password_env: str | None = typer.Option(
        None, "--password-env", help="Read the password from this environment variable."
    ),
    password_prompt: bool = typer.Option(False, "--password-prompt", help="Ask for the password."),
    table: str | None = typer.Option(None, "--table"),
    query: str | None = typer.Option(None, "--query"),
    project: str | None = typer.Option(None, "--project", help="Default project of ingestions."),
    replace: bool = typer.Option(False, "--replace", help="Overwrite a source of that name."),
    as_json: bool = JsonOption,
) -> None:
    """Add a database source; the password is encrypted with DAT_ENCRYPTION_KEY."""
    if password_env and password_prompt:
        fail("give either --password-env or --password-prompt, not both", code=2)
    password = None
    if password_env:
        password = os.environ.get(password_env)
        if password is None:
            raise DatError(f"environment variable {password_env} is not set (from --password-env)")
    elif password_prompt:
        password = typer.prompt("Password", hide_input=True, err=True)
    stored = act(
        lambda ctx: service("ingestion").add_source(
            ctx,
            name,
            kind,
            database,
            host=host,
            port=port,
            user=user,
            password=password,
            table=table,
            query=query,
            project=project,
            replace=replace,
        )
    )
    if as_json:
        emit_json(stored)
    else:
        typer.echo(
            f"added {stored['kind']} source {name!r} (password: {stored['password'] or 'none'})"
        )


@sources_app.command("list")
@handles_errors
def sources_list(as_json: bool = JsonOption) -> None:
    """List database sources (passwords show as ********)."""
    sources = act(lambda ctx: service("ingestion").list_sources(ctx))
    if as_json:
        emit_json(sources)
        return
    columns = ["name", "kind", "host", "port", "database", "user", "password", "table", "project"]
    emit_table(
        "database sources",
        columns,
        [[s[c] for c in columns] for s in sources],
        empty="No database source yet: dat sources add NAME --kind postgresql --host ... "
        "(dat sources add --help).",
    )


@sources_app.command("show")
@handles_errors
def sources_show(
    name: str,
    tables: bool = typer.Option(False, "--tables", help="Also connect and list its tables."),
    as_json: bool = JsonOption,
) -> None:
    """Show one source; --tables connects and lists its tables."""
    data = act(lambda ctx: service("ingestion").get_source(ctx, name, tables))
    if as_json:
        emit_json(data)
        return
    emit_table(f"source {name}", ["field", "value"], [[k, v] for k, v in data.items()])


@sources_app.command("test")
@handles_errors
def sources_test(name: str, as_json: bool = JsonOption) -> None:
    """Connect (within 10 s) and report the reason on failure."""
    result = act(lambda ctx: service("ingestion").test_source(ctx, name))
    if as_json:
        emit_json(result)
    elif result["ok"]:
        typer.echo(result["message"])
    if not result["ok"]:
        fail(result["message"])


@sources_app.command("delete")
@handles_errors
def sources_delete(name: str, as_json: bool = JsonOption) -> None:
    """Delete a source and its encrypted password."""
    result = act(lambda ctx: service("ingestion").delete_source(ctx, name))
    reply(result, as_json, f"deleted source {name!r}")


# -- ingest -----------------------------------------------------------------------------------
@ingest_app.command("upload")
@handles_errors
def ingest_upload(
    file: Path = typer.Argument(..., help="The file to upload."),
    project: str = typer.Option(..., "--project", help="Project (uploads/<project>/raw/)."),
    as_json: bool = JsonOption,
) -> None:
    """Store a file under uploads/<project>/raw/ with checksum, size, format and row count."""
    upload = act(lambda ctx: service("ingestion").upload(ctx, file, project))
    if as_json:
        emit_json(upload)
        return
    note = " (already uploaded: same checksum)" if upload["duplicate"] else ""
    typer.echo(
        f"{upload['upload_id']}: {upload['path']}, {upload['size_bytes']} bytes, "
        f"{upload['format']}, {upload['row_count']} rows, sha256 {upload['sha256'][:12]}{note}"
    )


def _rules(rules: Path | None) -> str | None:
    from dat_pipeline.ingestion.runs import read_rules

    return None if rules is None else read_rules(rules)


MapOption = typer.Option(
    None,
    "--map",
    help="Field mapping OLD=NEW renames a column, OLD= drops it (repeatable; before the rules).",
)


def _mapping(pairs: list[str] | None) -> dict[str, str | None] | None:
    mapping: dict[str, str | None] = {}
    for pair in pairs or []:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip():
            raise DatError(f"--map {pair!r}: write OLD=NEW to rename, OLD= to drop")
        mapping[old.strip()] = new.strip() or None
    return mapping or None


@ingest_app.command("preview")
@handles_errors
def ingest_preview(
    source: str = typer.Argument(..., help="A file, an upload id or a database source name."),
    project: str | None = typer.Option(
        None, "--project", help="Its rules apply (uploads/<project>/rules.yaml) without --rules."
    ),
    rules: Path | None = typer.Option(None, "--rules", help="Rules YAML file."),
    table: str | None = typer.Option(None, "--table"),
    limit: int | None = typer.Option(None, "--limit", help="At most DAT_PREVIEW_ROW_LIMIT."),
    mapping: list[str] | None = MapOption,
    as_json: bool = JsonOption,
) -> None:
    """Show up to DAT_PREVIEW_ROW_LIMIT rows with each rule's verdict."""
    result = act(
        lambda ctx: service("ingestion").preview(
            ctx, source, _rules(rules) or "", table, limit, _mapping(mapping), project=project
        )
    )
    if as_json:
        emit_json(result)
        return
    columns = list(result["columns"])
    headers = [*columns, *result["rules"], "kept"]
    rows = [
        [
            *(row["values"][c] for c in columns),
            *("ok" if row["verdicts"][r] else "FAIL" for r in result["rules"]),
            "yes" if row["kept"] else "no",
        ]
        for row in result["rows"]
    ]
    emit_table(f"{result['source']} table {result['table']!r}", headers, rows)


@ingest_app.command("run")
@handles_errors
def ingest_run(
    source: str = typer.Argument(..., help="A file, an upload id or a database source name."),
    project: str | None = typer.Option(None, "--project"),
    rules: Path | None = typer.Option(
        None, "--rules", help="Rules YAML (default: uploads/<project>/rules.yaml if present)."
    ),
    table: str | None = typer.Option(
        None, "--table", help="One table (sheet) only; default: every readable table."
    ),
    mapping: list[str] | None = MapOption,
    as_json: bool = JsonOption,
) -> None:
    """Ingest now when small (<= DAT_SYNC_MAX_BYTES and DAT_SYNC_MAX_ROWS), else queue a Dagster
    run and print its job id at once."""
    result = act(
        lambda ctx: service("ingestion").ingest(
            ctx, source, project, table, _rules(rules), _mapping(mapping)
        )
    )
    if as_json:
        emit_json(result)
    elif result["mode"] == "sync":
        for done in result["tables"]:  # every readable table of the file unless --table
            typer.echo(
                f"job {result['job_id']} COMPLETED: {done['rows_in']} rows in, "
                f"{done['rows_kept']} kept, {done['rows_rejected']} rejected -> "
                f"{done['outputs']['clean']}, {done['outputs']['rejects']}"
            )
        for skipped in result["skipped"]:
            typer.echo(f"skipped {skipped['reason']}")
    else:
        typer.echo(
            f"job {result['job_id']} queued (Dagster run); follow it with "
            f"`dat jobs show {result['job_id']}`"
        )


@ingest_app.command("uploads")
@handles_errors
def ingest_uploads(as_json: bool = JsonOption) -> None:
    """List the uploads, newest first."""
    uploads = act(lambda ctx: service("ingestion").list_uploads(ctx))
    if as_json:
        emit_json({"uploads": uploads})
        return
    emit_table(
        "uploads",
        ["upload_id", "project", "filename", "format", "rows", "created_at"],
        [
            [
                u["upload_id"],
                u["project"],
                u["filename"],
                u["format"],
                u["row_count"],
                u["created_at"],
            ]
            for u in uploads
        ],
    )


@ingest_app.command("delete-upload")
@handles_errors
def ingest_delete_upload(upload_id: str, as_json: bool = JsonOption) -> None:
    """Forget an upload and delete its raw file (cleaned outputs and jobs are kept)."""
    deleted = act(lambda ctx: service("ingestion").delete_upload(ctx, upload_id))
    reply(deleted, as_json, f"deleted {deleted['upload_id']} ({deleted['path']})")


# -- jobs -------------------------------------------------------------------------------------
@jobs_app.command("list")
@handles_errors
def jobs_list(
    status: str | None = typer.Option(None, "--status"),
    project: str | None = typer.Option(None, "--project"),
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = JsonOption,
) -> None:
    """Recent ingestion jobs, newest first."""
    found = act(lambda ctx: service("ingestion").list_jobs(ctx, status, project, limit))
    if as_json:
        emit_json(found)
        return
    columns = ["job_id", "mode", "status", "progress", "rows_processed", "project", "created_at"]
    emit_table(
        "ingestion jobs",
        columns,
        [[j[c] for c in columns] for j in found],
        empty="No ingestion job yet: dat ingest run FILE (a file under the data root).",
    )


@jobs_app.command("show")
@handles_errors
def jobs_show(job_id: str, as_json: bool = JsonOption) -> None:
    """Status, progress, rows processed, outputs and error of one job."""
    data = act(lambda ctx: service("ingestion").get_job(ctx, job_id))
    if as_json:
        emit_json(data)
        return
    fields = ["job_id", "mode", "status", "progress", "rows_processed", "project", "source"]
    rows = [[f, data[f]] for f in fields] + [["output " + k, v] for k, v in data["outputs"].items()]
    rows.append(["error", data["error"]])
    emit_table(f"job {job_id}", ["field", "value"], rows)


@jobs_app.command("logs")
@handles_errors
def jobs_logs(job_id: str, as_json: bool = JsonOption) -> None:
    """The log lines of one job."""
    lines = act(lambda ctx: service("ingestion").job_logs(ctx, job_id))
    if as_json:
        emit_json(lines)
        return
    for line in lines:
        typer.echo(f"{line['at']} {line['level']:<7} {line['message']}")


@jobs_app.command("cancel")
@handles_errors
def jobs_cancel(job_id: str, as_json: bool = JsonOption) -> None:
    """Cancel a pending or running job (and its queued Dagster run)."""
    job = act(lambda ctx: service("ingestion").cancel_job(ctx, job_id))
    reply(job, as_json, f"job {job_id} {job['status']}")
