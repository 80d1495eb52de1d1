"""Database sources and secrets (SPEC 2.1): stored connections, engines, redaction.

The password of a source is encrypted at rest (Fernet, `DAT_ENCRYPTION_KEY`) and never appears in a
message, a log line or metadata: pass anything that might hold it through `redact`.
"""

from dat_pipeline.sources.database import (
    CONNECT_TIMEOUT_S,
    DEFAULT_PORTS,
    FILE_KINDS,
    SERVER_KINDS,
    DatabaseSource,
    SourceError,
    SourceKind,
    add_database_source,
    connect,
    connection_error_message,
    delete_database_source,
    driver_message,
    engine_for,
    get_database_source,
    list_database_sources,
    make_source,
    source_path,
    split_table,
    test_connection,
)
from dat_pipeline.sources.secrets import (
    GENERATE_KEY_HINT,
    MASK,
    SecretsError,
    decrypt_secret,
    encrypt_secret,
    redact,
    redact_url,
)

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DEFAULT_PORTS",
    "FILE_KINDS",
    "GENERATE_KEY_HINT",
    "MASK",
    "SERVER_KINDS",
    "DatabaseSource",
    "SecretsError",
    "SourceError",
    "SourceKind",
    "add_database_source",
    "connect",
    "connection_error_message",
    "decrypt_secret",
    "delete_database_source",
    "driver_message",
    "encrypt_secret",
    "engine_for",
    "get_database_source",
    "list_database_sources",
    "make_source",
    "redact",
    "redact_url",
    "source_path",
    "split_table",
    "test_connection",
]
