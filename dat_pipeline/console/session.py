"""Console sign-in: a project token (the API's tokens and hashing) exchanged for a session cookie.

The cookie holds the token id and an HMAC of it under a key made when the process starts; every
page re-reads the token's row, so a revoked token signs the browser out at once. Signing in goes
through a one-time code: the page's socket event verifies the token, then the browser follows
`/console/session?code=...`, a plain HTTP route that can set the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from fastapi import Request

from dat_pipeline.services import access
from dat_pipeline.services.context import Caller
from dat_pipeline.store import ControlStore

COOKIE = "dat_console"
CODE_TTL_S = 60.0
_KEY = secrets.token_bytes(32)
_codes: dict[str, tuple[str, float]] = {}  # one-time code -> (token_id, expiry)
_codes_lock = threading.Lock()


def _sign(token_id: str) -> str:
    return hmac.new(_KEY, token_id.encode(), hashlib.sha256).hexdigest()


def cookie_value(token_id: str) -> str:
    return f"{token_id}.{_sign(token_id)}"


def issue_code(store: ControlStore, token: str) -> str | None:
    """A one-time sign-in code for a valid token; None for an unknown or revoked one."""
    record = access.verify_token(store, token)
    if record is None:
        return None
    code = secrets.token_urlsafe(24)
    with _codes_lock:
        _codes[code] = (record.token_id, time.monotonic() + CODE_TTL_S)
    return code


def redeem_code(code: str) -> str | None:
    """The token id a code was issued for (once, before it expires)."""
    with _codes_lock:
        token_id, expiry = _codes.pop(code, (None, 0.0))
    return token_id if token_id and time.monotonic() < expiry else None


def caller(store: ControlStore, request: Request) -> Caller | None:
    """The signed-in caller of `request`, or None (no cookie, bad signature, revoked token)."""
    raw = request.cookies.get(COOKIE, "")
    token_id, _, signature = raw.partition(".")
    if not token_id or not hmac.compare_digest(signature, _sign(token_id)):
        return None
    record = next((t for t in access.list_tokens(store) if t.token_id == token_id), None)
    return Caller(projects=record.projects, token_id=record.token_id) if record else None
