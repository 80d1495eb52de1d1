"""Secrets at rest: Fernet encryption under `DAT_ENCRYPTION_KEY`, and redaction for messages.

A password is encrypted when a source is added and decrypted only to open a connection. Anything
that may reach a person (errors, logs, metadata, CLI output) goes through `redact` first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken

from dat_pipeline.errors import DatError
from dat_pipeline.settings import get_settings

MASK = "********"
GENERATE_KEY_HINT = (
    'generate one with: python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())" and export it as DAT_ENCRYPTION_KEY'
)
# scheme://user:password@host -> scheme://user:********@host (also when the user part is empty)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)(?=@)")
# key=value forms that drivers and DSNs use (password=..., pwd=...)
_KV_PASSWORD = re.compile(r"(?i)\b(?P<key>password|passwd|pwd)(?P<sep>\s*=\s*)(?P<pw>[^\s&;,'\"]+)")


class SecretsError(DatError):
    """The encryption key is missing or is not the key a secret was encrypted with."""


def _fernet() -> Fernet:
    key = get_settings().encryption_key
    if not key:
        raise SecretsError(
            f"DAT_ENCRYPTION_KEY is not set, so passwords cannot be stored or read; {GENERATE_KEY_HINT}"
        )
    try:
        return Fernet(key.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise SecretsError(
            f"DAT_ENCRYPTION_KEY is not a valid Fernet key (32 url-safe base64-encoded bytes); {GENERATE_KEY_HINT}"
        ) from None


def encrypt_secret(secret: str) -> str:
    """The Fernet token of `secret` (ASCII text, safe to store)."""
    return _fernet().encrypt(secret.encode("utf-8")).decode("ascii")


def decrypt_secret(token: str, what: str = "a stored password") -> str:
    """Decrypt a token made by `encrypt_secret`; a wrong key is a `SecretsError` naming `what`."""
    fernet = _fernet()
    try:
        return fernet.decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise SecretsError(
            f"cannot decrypt {what}: DAT_ENCRYPTION_KEY is not the key it was encrypted with. "
            "Set the original key, or add the source again with its password under the current key"
        ) from None


def redact_url(text: str) -> str:
    """Mask the password part of every `scheme://user:password@host` and `password=...` in `text`."""
    masked = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return _KV_PASSWORD.sub(lambda m: m.group("key") + m.group("sep") + MASK, masked)


def redact(text: object, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every given secret and every URL password replaced by `********`."""
    result = str(text)
    # Longest first, so a secret containing another is masked whole.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        result = result.replace(secret, MASK)
    return redact_url(result)
