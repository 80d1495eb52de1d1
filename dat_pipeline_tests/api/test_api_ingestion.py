"""Ingestion over HTTP: streamed uploads with a size limit, preview, a sync run, its job, scoping."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient

from dat_pipeline.api import create_app
from dat_pipeline.services.access import create_token
from dat_pipeline.settings import get_settings
from dat_pipeline.store import open_store

LIMIT = 64 * 1024


@pytest.fixture
def client(data_root: Path) -> Iterator[TestClient]:
    settings = dataclasses.replace(get_settings(), upload_max_bytes=LIMIT)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _auth(project: str) -> dict[str, str]:
    _record, token = create_token(open_store(), [project])
    return {"Authorization": f"Bearer {token}"}


def _leftovers(data_root: Path) -> list[Path]:
    temp = Path(tempfile.gettempdir())
    return [*temp.glob("dat_upload_*"), *data_root.glob("uploads/**/*.*")]


def test_upload_is_stored_with_checksum_then_previewed_and_ingested(
    client: TestClient, data_root: Path
):
    sales = _auth("sales")
    content = (data_root / "sample" / "sales_2024_q1.csv").read_bytes()
    files = {"file": ("sales_2024_q1.csv", content, "text/csv")}
    created = client.post("/api/ingestion/uploads", headers=sales, files=files)
    assert created.status_code == 201, created.text
    upload = created.json()
    assert upload["project"] == "sales" and upload["size_bytes"] == len(content)
    assert (data_root / upload["path"]).read_bytes() == content
    again = client.post("/api/ingestion/uploads", headers=sales, files=files)
    assert again.status_code == 200 and again.json()["duplicate"] is True

    rules = "- {type: NOT_NULL, column: order_id}\n"
    shown = client.post(
        "/api/ingestion/preview",
        headers=sales,
        json={"source": upload["upload_id"], "rules": rules, "limit": 3},
    )
    assert shown.status_code == 200, shown.text
    assert shown.json()["rows_shown"] == 3 and len(shown.json()["rules"]) == 1

    ran = client.post("/api/ingestion/runs", headers=sales, json={"source": upload["upload_id"]})
    assert ran.status_code == 200, ran.text
    result = ran.json()
    assert result["mode"] == "sync" and result["status"] == "COMPLETED"
    job = client.get(f"/api/ingestion/jobs/{result['job_id']}", headers=sales).json()
    assert job["status"] == "COMPLETED" and job["rows_processed"] == upload["row_count"]
    clean = pl.read_parquet(data_root / job["outputs"]["clean"])
    assert clean.height == result["rows_kept"]
    listed = client.get("/api/ingestion/jobs", headers=sales).json()["jobs"]
    assert [j["job_id"] for j in listed] == [result["job_id"]]
    logs = client.get(f"/api/ingestion/jobs/{result['job_id']}/logs", headers=sales).json()
    assert logs["lines"]

    other = _auth("marketing")
    assert (
        client.get(f"/api/ingestion/uploads/{upload['upload_id']}", headers=other).status_code
        == 404
    )
    assert client.get(f"/api/ingestion/jobs/{result['job_id']}", headers=other).status_code == 404
    assert client.get("/api/ingestion/jobs", headers=other).json()["jobs"] == []
    hidden = client.post(
        "/api/ingestion/preview", headers=other, json={"source": upload["upload_id"]}
    )
    assert hidden.status_code == 404


def test_upload_over_the_limit_is_refused_while_streaming_and_leaves_nothing(
    client: TestClient, data_root: Path
):
    before = set(_leftovers(data_root))
    headers = _auth("sales")
    big = b"a,b\n" + b"1,2\n" * (LIMIT // 4 + 10)

    def chunks() -> Iterator[bytes]:
        # Chunked transfer without a Content-Length: only the streaming check can refuse it.
        yield b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        yield b"Content-Type: text/csv\r\n\r\n"
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]
        yield b"\r\n--XyZ--\r\n"

    streamed = client.post(
        "/api/ingestion/uploads",
        headers={**headers, "Content-Type": "multipart/form-data; boundary=XyZ"},
        content=chunks(),
    )
    assert streamed.status_code == 413, streamed.text
    assert streamed.json()["error"]["code"] == "payload_too_large"
    declared = client.post(
        "/api/ingestion/uploads", headers=headers, files={"file": ("big.csv", big * 20, "text/csv")}
    )
    assert declared.status_code == 413
    assert set(_leftovers(data_root)) == before
    assert client.get("/api/ingestion/jobs", headers=headers).json()["jobs"] == []

    junk = client.post(
        "/api/ingestion/uploads", headers=headers, files={"file": ("x.bin", b"\x00\x01" * 50)}
    )
    assert junk.status_code == 400 and junk.json()["error"]["message"]
    assert set(_leftovers(data_root)) == before


def test_sources_are_scoped_and_never_show_the_password(
    client: TestClient, data_root: Path, monkeypatch: pytest.MonkeyPatch
):
    from cryptography.fernet import Fernet

    monkeypatch.setenv("DAT_ENCRYPTION_KEY", Fernet.generate_key().decode())
    get_settings.cache_clear()
    headers = _auth("sales")
    body = {
        "name": "crm",
        "kind": "postgresql",
        "host": "127.0.0.1",
        "database": "crm",
        "user": "reader",
        "password": "s3cret-pw",
    }
    created = client.post("/api/ingestion/sources", headers=headers, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["password"] == "********" and created.json()["project"] == "sales"
    listed = client.get("/api/ingestion/sources", headers=headers)
    assert [s["name"] for s in listed.json()] == ["crm"] and "s3cret-pw" not in listed.text
    other = _auth("marketing")
    assert client.get("/api/ingestion/sources/crm", headers=other).status_code == 404
    assert client.delete("/api/ingestion/sources/crm", headers=other).status_code == 404
    assert client.delete("/api/ingestion/sources/crm", headers=headers).json()["deleted"] is True
