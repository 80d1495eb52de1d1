"""The token actions (`dat tokens create|list|revoke`): bearer tokens of the HTTP API and the
console, each scoping a caller to its projects. The mechanism is `services.access`."""

from __future__ import annotations

from typing import Any

from dat_pipeline.services import access
from dat_pipeline.services.context import ServiceContext


def create(ctx: ServiceContext, projects: list[str], label: str | None = None) -> dict[str, Any]:
    """A new token for `projects`: its record and `token`, shown this once (only a salted hash
    is stored)."""
    record, token = access.create_token(ctx.store, projects, label)
    return {**record.to_dict(), "token": token}


def list_tokens(ctx: ServiceContext, include_revoked: bool = False) -> dict[str, Any]:
    """Tokens, oldest first: ids, projects, labels; never the secrets."""
    records = access.list_tokens(ctx.store, include_revoked=include_revoked)
    return {"tokens": [record.to_dict() for record in records]}


def revoke(ctx: ServiceContext, token_id: str) -> dict[str, Any]:
    """Revoke a token; requests with it are refused at once."""
    return access.revoke_token(ctx.store, token_id).to_dict()
