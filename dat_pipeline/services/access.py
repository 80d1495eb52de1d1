"""Who may see what: bearer tokens and the projects of runs and analysis sources (SPEC 9).

Used by every front-end: the API and the console verify tokens; the CLI creates and revokes
them (`dat tokens`) and records the project of a run made with `--project`.

A token reads `dat_<token_id>_<secret>`. The store keeps the token id (public, to find the row),
its projects, and a salted scrypt hash of the secret; the secret itself is shown once, by
`dat tokens create`, and never stored. Verification compares hashes in constant time. A verified
token is remembered in this process (by a SHA-256 of the whole token) so that scrypt, which is slow
on purpose, runs once per token and process rather than on every request; revocation still takes
effect at once, because every request reads the token's row.

Projects: a run created through the API belongs to the caller's project (table
`api_run_projects`); a run created by the CLI or a sensor belongs to `default`. A caller sees only
the runs of its projects; any other run answers exactly like a run that does not exist. Analysis
sources follow the same rule (table `api_analysis_source_projects`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dat_pipeline.errors import DatError, NotFoundError
from dat_pipeline.names import DEFAULT_PROJECT
from dat_pipeline.store import StoreReads, utc_now

if TYPE_CHECKING:
    from dat_pipeline.store import ControlStore

_TOKEN_PATTERN = re.compile(r"^dat_([0-9a-f]{12})_([A-Za-z0-9_-]{20,128})$")
# scrypt at n=2**14, r=8 (16 MiB, tens of ms): the interactive-login setting of RFC 7914.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}

_verified: dict[str, str] = {}  # sha256(token) -> token_id, for tokens already checked
_verified_lock = threading.Lock()


@dataclass(frozen=True)
class TokenRecord:
    """A stored token, without its secret."""

    token_id: str
    projects: tuple[str, ...]
    label: str | None
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, object]:
        return {
            "token_id": self.token_id,
            "projects": list(self.projects),
            "label": self.label,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
            "active": self.active,
        }


def _hash(secret: str, salt: bytes) -> str:
    return hashlib.scrypt(secret.encode("utf-8"), salt=salt, **_SCRYPT).hex()


def _record(row) -> TokenRecord:  # type: ignore[no-untyped-def]
    return TokenRecord(
        token_id=row["token_id"],
        projects=tuple(json.loads(row["projects"])),
        label=row["label"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def check_project(project: str) -> str:
    """A project name, as ingestion names them (`uploads/<project>/`): e.g. 'sales'."""
    from dat_pipeline.ingestion.uploads import check_project as check_ingestion_project

    return check_ingestion_project(project)


def create_token(
    store: ControlStore, projects: list[str], label: str | None = None
) -> tuple[TokenRecord, str]:
    """Create a token for `projects`; returns its record and the token (shown only this once)."""
    from sqlalchemy import insert

    from dat_pipeline.store.schema import api_tokens

    scoped = tuple(sorted({check_project(p.strip()) for p in projects}))
    if not scoped:
        raise DatError("a token needs at least one project (--project P)")
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    record = TokenRecord(token_id, scoped, label, utc_now())
    with store.write() as connection:
        connection.execute(
            insert(api_tokens).values(
                token_id=token_id,
                projects=json.dumps(list(scoped)),
                label=label,
                salt=salt.hex(),
                hash=_hash(secret, salt),
                created_at=record.created_at,
                revoked_at=None,
            )
        )
    return record, f"dat_{token_id}_{secret}"


def list_tokens(store: ControlStore, include_revoked: bool = False) -> list[TokenRecord]:
    """Tokens, oldest first (with `include_revoked`, revoked ones too)."""
    from sqlalchemy import select

    from dat_pipeline.store.schema import api_tokens

    query = select(api_tokens).order_by(api_tokens.c.created_at)
    if not include_revoked:
        query = query.where(api_tokens.c.revoked_at.is_(None))
    with store.read() as connection:
        return [_record(row._mapping) for row in connection.execute(query)]


def revoke_token(store: ControlStore, token_id: str) -> TokenRecord:
    """Revoke a token by id; it stops working at once. Revoking twice keeps the first time."""
    from sqlalchemy import select, update

    from dat_pipeline.store.schema import api_tokens

    with store.write() as connection:
        row = connection.execute(
            select(api_tokens).where(api_tokens.c.token_id == token_id)
        ).first()
        if row is None:
            raise NotFoundError(f"unknown token {token_id!r} (list tokens with: dat tokens list)")
        if row._mapping["revoked_at"] is None:
            connection.execute(
                update(api_tokens)
                .where(api_tokens.c.token_id == token_id)
                .values(revoked_at=utc_now())
            )
        row = connection.execute(
            select(api_tokens).where(api_tokens.c.token_id == token_id)
        ).first()
    return _record(row._mapping)


def verify_token(store: ControlStore, token: str) -> TokenRecord | None:
    """The active token that `token` is, or None (unknown, malformed, wrong secret, revoked)."""
    from sqlalchemy import select

    from dat_pipeline.store.schema import api_tokens

    match = _TOKEN_PATTERN.match(token.strip())
    if match is None:
        return None
    token_id, secret = match.groups()
    with store.read() as connection:
        row = connection.execute(
            select(api_tokens).where(api_tokens.c.token_id == token_id)
        ).first()
    if row is None or row._mapping["revoked_at"] is not None:
        return None
    digest = hashlib.sha256(token.strip().encode("utf-8")).hexdigest()
    with _verified_lock:
        known = _verified.get(digest)
    if known is None:
        expected = row._mapping["hash"]
        actual = _hash(secret, bytes.fromhex(row._mapping["salt"]))
        if not hmac.compare_digest(actual, expected):
            return None
        with _verified_lock:
            _verified[digest] = token_id
    elif not hmac.compare_digest(known, token_id):
        return None
    return _record(row._mapping)


def visible_job(
    job: dict[str, Any] | None,
    owner: str,
    check: Callable[[str], object],
    unknown: NotFoundError,
) -> dict[str, Any]:
    """A job view (a Dagster run) if the caller sees what it belongs to: `check(job[owner])`
    (its DAT run, its analysis source) raises NotFoundError otherwise. A job that does not exist,
    belongs to nothing or to something hidden is the same `unknown` error, naming nothing else."""
    if job is None or job[owner] is None:
        raise unknown
    try:
        check(job[owner])
    except NotFoundError:
        raise unknown from None
    return job


# -- projects of runs -------------------------------------------------------------------------
def assign_run_project(store: ControlStore, run_id: str, project: str) -> None:
    """Record that `run_id` belongs to `project` (runs without a row belong to `default`)."""
    from sqlalchemy import insert

    from dat_pipeline.store.schema import api_run_projects

    with store.write() as connection:
        connection.execute(
            insert(api_run_projects).values(run_id=run_id, project=check_project(project))
        )


def run_project(store: StoreReads, run_id: str) -> str:
    rows = store.query(
        "SELECT project FROM api_run_projects WHERE run_id = :run_id", {"run_id": run_id}
    )
    return rows[0]["project"] if rows else DEFAULT_PROJECT


def run_projects(store: StoreReads) -> dict[str, str]:
    """Every run that has a recorded project; the others belong to `default`."""
    rows = store.query("SELECT run_id, project FROM api_run_projects")
    return {row["run_id"]: row["project"] for row in rows}


# -- projects of analysis sources -------------------------------------------------------------
def assign_source_project(store: ControlStore, source: str, project: str) -> None:
    """Record that analysis source `source` belongs to `project` (none: `default`)."""
    from sqlalchemy import insert

    from dat_pipeline.store.schema import api_analysis_source_projects

    with store.write() as connection:
        connection.execute(
            insert(api_analysis_source_projects).values(
                source=source, project=check_project(project)
            )
        )


def source_projects(store: StoreReads) -> dict[str, str]:
    """Every analysis source that has a recorded project; the others belong to `default`."""
    rows = store.query("SELECT source, project FROM api_analysis_source_projects")
    return {row["source"]: row["project"] for row in rows}


def source_project(store: StoreReads, source: str) -> str:
    rows = store.query(
        "SELECT project FROM api_analysis_source_projects WHERE source = :source",
        {"source": source},
    )
    return rows[0]["project"] if rows else DEFAULT_PROJECT
