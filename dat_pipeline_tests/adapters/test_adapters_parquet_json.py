"""Parquet from its footer; JSON documents as record arrays; NDJSON line by line."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dat_pipeline.adapters import AdapterError, probe_table
from dat_pipeline.adapters.json_document import JsonDocumentAdapter
from dat_pipeline.adapters.ndjson import NdjsonAdapter
from dat_pipeline.adapters.parquet import ParquetAdapter

PARQUET = ParquetAdapter()
JSON = JsonDocumentAdapter()
NDJSON = NdjsonAdapter()


def events(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": range(n),
            "kind": [f"k{i % 3}" for i in range(n)],
            "day": [date(2024, 1, 1 + i % 28) for i in range(n)],
        }
    )


def write_json(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_parquet_probe_reads_schema_and_exact_rows_from_the_footer(tmp_path):
    path = tmp_path / "events.parquet"
    events(5_000).write_parquet(path, row_group_size=1_000)

    probe = PARQUET.probe_schema(path, "events")

    assert probe.status == "available"
    assert [(c.name, c.dtype) for c in probe.columns] == [
        ("id", "Int64"),
        ("kind", "String"),
        ("day", "Date"),
    ]
    assert probe.row_estimate == 5_000 and probe.row_estimate_exact


def test_parquet_stream_chunks_concatenate_to_read(tmp_path):
    path = tmp_path / "events.parquet"
    events(5_000).write_parquet(path)

    chunks = list(PARQUET.stream(path, "events", chunk_rows=2_000))

    assert [chunk.height for chunk in chunks] == [2_000, 2_000, 1_000]
    assert_frame_equal(pl.concat(chunks), PARQUET.read(path, "events"))
    assert_frame_equal(PARQUET.read(path, "events"), events(5_000))


def test_a_truncated_parquet_file_is_refused(tmp_path):
    good = tmp_path / "good.parquet"
    events(100).write_parquet(good)
    path = tmp_path / "cut.parquet"
    path.write_bytes(good.read_bytes()[:-20])

    with pytest.raises(AdapterError, match=r"cut\.parquet: not a complete Parquet file"):
        PARQUET.validate(path)
    assert probe_table(path, "cut").status == "error"


def test_json_array_of_records_is_the_data_table(tmp_path):
    records = [{"id": i, "name": f"n{i}", "score": i / 2} for i in range(30)]
    path = write_json(tmp_path / "people.json", records)

    probe = JSON.probe_schema(path, "data", sample_rows=10)
    chunks = list(JSON.stream(path, "data", chunk_rows=12))

    assert JSON.list_tables(path) == ["data"]
    assert probe.row_estimate == 30 and probe.row_estimate_exact
    assert [c.name for c in probe.columns] == ["id", "name", "score"]
    assert [chunk.height for chunk in chunks] == [12, 12, 6]
    assert_frame_equal(pl.concat(chunks), JSON.read(path, "data"))
    assert JSON.read(path, "data")["name"][29] == "n29"


def test_json_object_gives_one_table_per_key_holding_records(tmp_path):
    document = {
        "meta": {"version": 2},
        "customers": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        "orders": [{"id": 10, "customer": 1}],
        "tags": ["x", "y"],
    }
    path = write_json(tmp_path / "export.json", document)

    assert JSON.list_tables(path) == ["customers", "orders"]
    assert JSON.read(path, "orders").to_dicts() == [{"id": 10, "customer": 1}]
    assert probe_table(path, "meta").status == "missing"


@pytest.mark.parametrize(
    ("document", "described"),
    [
        (42, "a single int value"),
        ([1, 2, 3], "an array whose items are not all objects"),
        ({"a": {"b": 1}, "c": [1]}, "an object with no key holding an array of objects"),
    ],
)
def test_json_that_is_not_tabular_is_refused_saying_so(tmp_path, document, described):
    path = write_json(tmp_path / "odd.json", document)

    with pytest.raises(AdapterError, match=r"odd\.json: JSON is not tabular") as raised:
        JSON.validate(path)
    assert described in str(raised.value)
    assert probe_table(path, "data").status == "error"


def test_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('[\n  {"a": 1},\n  {"a": 2,,}\n]\n')

    with pytest.raises(AdapterError, match=r"bad\.json: invalid JSON at line 3"):
        JSON.validate(path)


def test_ndjson_probe_read_and_stream(tmp_path):
    path = tmp_path / "clicks.ndjson"
    path.write_text("".join(json.dumps({"id": i, "page": f"/p{i}"}) + "\n" for i in range(2_500)))

    probe = NDJSON.probe_schema(path, "clicks")
    chunks = list(NDJSON.stream(path, "clicks", chunk_rows=1_000))

    assert probe.status == "available"
    assert probe.row_estimate == 2_500 and probe.row_estimate_exact
    assert [(c.name, c.dtype) for c in probe.columns] == [("id", "Int64"), ("page", "String")]
    assert [chunk.height for chunk in chunks] == [1_000, 1_000, 500]
    assert_frame_equal(pl.concat(chunks), NDJSON.read(path, "clicks"))


def test_ndjson_with_a_utf8_bom_is_read(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes('{"city": "Zürich"}\n{"city": "Köln"}\n'.encode("utf-8-sig"))

    assert NDJSON.read(path, "bom")["city"].to_list() == ["Zürich", "Köln"]
    assert NDJSON.probe_schema(path, "bom").encoding == "utf-8-sig"


def test_ndjson_with_a_latin1_byte_reads_it_as_latin1_and_warns_naming_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = [b'{"id": %d, "city": "Z\xc3\xbcrich"}' % i for i in range(5)]
    lines.append(b'{"id": 5, "city": "Gen\xe8ve"}')  # one Latin-1 byte in a UTF-8 file
    path = tmp_path / "mixed.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    probe = NDJSON.probe_schema(path, "mixed")
    assert probe.status == "partial" and "mixed.ndjson" in probe.error
    assert "byte 0xE8 is not UTF-8" in probe.error
    whole = NDJSON.read(path, "mixed")
    assert whole["city"].to_list() == ["Zürich"] * 5 + ["Genève"]
    assert "mixed.ndjson" in caplog.text and "Latin-1" in caplog.text
    assert_frame_equal(pl.concat(NDJSON.stream(path, "mixed", chunk_rows=2)), whole)
