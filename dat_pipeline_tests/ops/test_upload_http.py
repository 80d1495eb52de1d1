"""Uploads over real HTTP: `dat serve` (uvicorn) refuses a streamed body above
DAT_UPLOAD_MAX_BYTES with 413 before the client has sent it all, without buffering it, and
keeps nothing of it on disk. (Starlette's TestClient reads the whole body first: it cannot show
this.)"""

from __future__ import annotations

import json
import os
import select
import socket
import urllib.request
from pathlib import Path

import pytest
from ops_support import BIN, background, free_port, tail, wait_until
from typer.testing import CliRunner

from dat_pipeline.cli import app

LIMIT = 1024 * 1024
PLANNED = 64 * LIMIT  # what the client would send in all
CHUNK = 64 * 1024


def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return (
        int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])
        * 1024
    )


def files_under(*folders: Path) -> set[Path]:
    return {path for folder in folders for path in folder.rglob("*")}


def test_served_upload_above_the_limit_is_refused_while_streaming_without_buffering(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("DAT_UPLOAD_MAX_BYTES", str(LIMIT))
    created = CliRunner().invoke(app, ["tokens", "create", "--project", "sales"])
    assert created.exit_code == 0, created.stderr
    token = created.stdout.splitlines()[0].strip()
    temp = tmp_path / "tmp"
    temp.mkdir()
    port = free_port()
    env = {**os.environ, "TMPDIR": str(temp)}
    log = tmp_path / "serve.log"
    before = files_under(data_root, temp)

    with background([str(BIN / "dat"), "serve", "--port", str(port)], env, log) as server:

        def healthy() -> bool:
            assert server.poll() is None, f"dat serve exited:\n{tail(log)}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    return json.load(r)["status"] == "ok"
            except OSError:
                return False

        wait_until(healthy, 120, "dat serve to answer /health")
        baseline = rss_bytes(server.pid)
        sent, peak, response = 0, baseline, b""
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(
                b"POST /api/ingestion/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + f"Authorization: Bearer {token}\r\n".encode()
                + b"Content-Type: multipart/form-data; boundary=XyZ\r\n"
                + b"Transfer-Encoding: chunked\r\n\r\n"  # no Content-Length: only streaming sees it
            )
            part = (
                b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
                b"Content-Type: text/csv\r\n\r\na,b\r\n"
            )
            chunks = [part] + [b"1,2\n" * (CHUNK // 4)] * (PLANNED // CHUNK)
            for chunk in chunks:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server answered before the body was complete
                try:
                    sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += len(chunk)
                peak = max(peak, rss_bytes(server.pid))
            else:
                end = b"\r\n--XyZ--\r\n"  # all sent: close the part and end the body
                sock.sendall(f"{len(end):x}\r\n".encode() + end + b"\r\n0\r\n\r\n")
            sock.settimeout(30)
            while b"\r\n\r\n" not in response:
                received = sock.recv(65536)
                if not received:
                    break
                response += received
        assert server.poll() is None, f"dat serve died:\n{tail(log)}"

    assert response.startswith(b"HTTP/1.1 413"), response[:300]
    assert b"payload_too_large" in response or b"DAT_UPLOAD_MAX_BYTES" in response
    assert LIMIT < sent < PLANNED // 4, f"sent {sent:,} of {PLANNED:,} bytes before the 413"
    assert peak - baseline < PLANNED // 4, f"server memory grew {peak - baseline:,} bytes"
    assert files_under(data_root, temp) == before
