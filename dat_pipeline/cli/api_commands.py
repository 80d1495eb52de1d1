"""`dat serve` (the HTTP API) and `dat tokens create|list|revoke` (its bearer tokens)."""

from __future__ import annotations

import typer

from dat_pipeline.cli.output import JsonOption, act, emit_json, emit_table, handles_errors, reply
from dat_pipeline.services import tokens

tokens_app = typer.Typer(
    help="Bearer tokens of the HTTP API; each scopes a caller to its projects.",
    no_args_is_help=True,
)


@handles_errors
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs) and the web console at /."""
    import uvicorn

    from dat_pipeline.services.context import prepare_dagster_home

    prepare_dagster_home()
    uvicorn.run(
        "dat_pipeline.api.app:create_console_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )


@tokens_app.command("create")
@handles_errors
def tokens_create(
    projects: list[str] = typer.Option(..., "--project", help="Project to scope to (repeatable)."),
    label: str | None = typer.Option(None, "--label", help="What the token is for."),
    as_json: bool = JsonOption,
) -> None:
    """Create a token; it is printed once and only its salted hash is stored."""
    created = act(lambda ctx: tokens.create(ctx, projects, label))
    if as_json:
        emit_json(created)
        return
    typer.echo(created["token"])
    typer.echo(
        f"token {created['token_id']} for {', '.join(created['projects'])}: store it now, "
        "it is not shown again",
        err=True,
    )


@tokens_app.command("list")
@handles_errors
def tokens_list(
    all_tokens: bool = typer.Option(False, "--all", help="Include revoked tokens."),
    as_json: bool = JsonOption,
) -> None:
    """List tokens (ids, projects, labels; never the secrets)."""
    listed = act(lambda ctx: tokens.list_tokens(ctx, all_tokens))
    if as_json:
        emit_json(listed)
        return
    emit_table(
        "API tokens",
        ["token_id", "projects", "label", "created_at", "revoked_at"],
        [
            [r["token_id"], ", ".join(r["projects"]), r["label"], r["created_at"], r["revoked_at"]]
            for r in listed["tokens"]
        ],
    )


@tokens_app.command("revoke")
@handles_errors
def tokens_revoke(token_id: str, as_json: bool = JsonOption) -> None:
    """Revoke a token; requests with it are refused at once."""
    record = act(lambda ctx: tokens.revoke(ctx, token_id))
    reply(record, as_json, f"revoked {record['token_id']} ({record['revoked_at']})")
