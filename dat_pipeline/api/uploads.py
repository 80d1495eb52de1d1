"""Receiving a multipart upload: streamed to a temp file, size-limited, hashed on the way.

The body is parsed as it arrives (python-multipart's streaming parser), never buffered whole: the
file part is written chunk by chunk to a private temp folder with its SHA-256 computed on the way,
and the request is refused with 413 as soon as the part passes the limit (or at once when the
declared Content-Length already does). The caller hands the temp file to the same upload function
as `dat ingest upload` and removes the folder whatever happens, so nothing is left behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO, NamedTuple

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from dat_pipeline.api.errors import ApiError

FIELD = "file"
ENVELOPE_ALLOWANCE = 64 * 1024  # multipart boundaries and part headers around the file bytes
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class ReceivedFile(NamedTuple):
    """The received file in its temp folder and the SHA-256 of its bytes (what the upload
    action needs; its name is the path's, its size the file's)."""

    path: Path
    sha256: str


def _safe_name(raw: str) -> str:
    # Browsers may send a full client path; keep the last component only.
    name = PureWindowsPath(PurePosixPath(raw).name).name
    return _SAFE_NAME.sub("_", name).lstrip(".")[:200] or "upload"


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"upload larger than the limit of {limit:,} bytes (DAT_UPLOAD_MAX_BYTES)",
        {"limit_bytes": limit},
    )


class _Receiver:
    """Callbacks of the streaming parser: keep the `file` part, drop every other part."""

    def __init__(self, folder: Path, limit: int):
        self.folder = folder
        self.limit = limit
        self.headers: dict[bytes, bytes] = {}
        self.field = b""
        self.value = b""
        self.out: BinaryIO | None = None
        self.received: ReceivedFile | None = None
        self.digest = hashlib.sha256()
        self.size = 0
        self.filename = ""
        self.in_file = False

    def on_part_begin(self) -> None:
        self.headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.field.strip().lower()] = self.value.strip()
        self.field, self.value = b"", b""

    def on_headers_finished(self) -> None:
        _kind, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        self.in_file = name == FIELD and filename is not None and self.received is None
        if self.in_file:
            self.filename = _safe_name(filename.decode("utf-8", "replace"))  # type: ignore[union-attr]
            self.out = (self.folder / self.filename).open("wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self.in_file or self.out is None:
            return
        chunk = data[start:end]
        self.size += len(chunk)
        if self.size > self.limit:
            raise _too_large(self.limit)
        self.digest.update(chunk)
        self.out.write(chunk)

    def on_part_end(self) -> None:
        if self.in_file and self.out is not None:
            self.out.close()
            self.received = ReceivedFile(self.folder / self.filename, self.digest.hexdigest())
            self.out = None
            self.in_file = False

    def close(self) -> None:
        if self.out is not None:
            self.out.close()


@contextlib.asynccontextmanager
async def receive_file(request: Request, limit: int) -> AsyncIterator[ReceivedFile]:
    """Stream the `file` part of a multipart request to a temp file; removed on exit."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise ApiError(400, "send the file as multipart/form-data with a part named 'file'")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + ENVELOPE_ALLOWANCE:
        raise _too_large(limit)
    folder = Path(tempfile.mkdtemp(prefix="dat_upload_"))
    receiver = _Receiver(folder, limit)
    callbacks = {
        name: getattr(receiver, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
        )
    }
    try:
        parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
        try:
            async for chunk in request.stream():
                parser.write(chunk)
            parser.finalize()
        except ApiError:
            raise
        except Exception as exc:  # a malformed body: the parser's own error names the problem
            raise ApiError(400, f"malformed multipart body: {exc}") from None
        finally:
            receiver.close()
        if receiver.received is None:
            raise ApiError(422, "no file in the request: send it as a part named 'file'")
        yield receiver.received
    finally:
        shutil.rmtree(folder, ignore_errors=True)


UPLOAD_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FIELD],
                    "properties": {
                        FIELD: {
                            "type": "string",
                            "format": "binary",
                            "description": "The file (CSV, Excel, Parquet, JSON, ...).",
                        }
                    },
                }
            }
        },
    }
}
