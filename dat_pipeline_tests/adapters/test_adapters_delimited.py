"""CSV/TSV/TXT: sniffing delimiter, header and encoding from a bounded sample, reading and streaming."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dat_pipeline.adapters import AdapterError, get_adapter, probe_table
from dat_pipeline.adapters.delimited import DelimitedAdapter

CSV = DelimitedAdapter()
ROWS = "id,city,amount\n1,Zürich,10.5\n2,Köln,3.25\n3,Malmö,7.0\n"


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_the_registry_serves_the_csv_adapter_by_name():
    assert isinstance(get_adapter("csv"), DelimitedAdapter)


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_detected_from_the_sample(tmp_path, delimiter):
    text = ROWS.replace(",", delimiter)
    path = write(tmp_path / "sales.txt", text.encode())

    frame = CSV.read(path, "sales")

    assert frame.columns == ["id", "city", "amount"]
    assert frame["city"].to_list() == ["Zürich", "Köln", "Malmö"]
    assert frame["amount"].dtype == pl.Float64


def test_commas_inside_tab_separated_values_do_not_fool_the_sniffer(tmp_path):
    text = "name\tnote\nann\thello, world\nbob\tone, two, three\n"
    path = write(tmp_path / "notes.tsv", text.encode())

    frame = CSV.read(path, "notes")

    assert frame["note"].to_list() == ["hello, world", "one, two, three"]


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("utf-8", ROWS.encode("utf-8")),
        ("utf-8-sig", ROWS.encode("utf-8-sig")),
        ("utf-16-le", ROWS.encode("utf-16")),  # Python writes a little-endian BOM
        ("utf-16-be", b"\xfe\xff" + ROWS.encode("utf-16-be")),
        ("latin-1", ROWS.encode("latin-1")),
    ],
)
def test_each_encoding_is_reported_and_read_as_the_same_text(tmp_path, encoding, data):
    path = write(tmp_path / "cities.csv", data)

    probe = CSV.probe_schema(path, "cities")
    frame = CSV.read(path, "cities")

    assert probe.encoding == encoding
    assert probe.status == "available"
    assert [c.name for c in probe.columns] == ["id", "city", "amount"]
    assert frame.columns == ["id", "city", "amount"]
    assert frame["city"].to_list() == ["Zürich", "Köln", "Malmö"]


def test_a_first_row_of_numbers_is_data_not_a_header(tmp_path):
    path = write(tmp_path / "raw.csv", b"1,2.5,x\n2,3.5,y\n3,4.5,z\n")

    frame = CSV.read(path, "raw")

    assert frame.height == 3
    assert frame.columns == ["column_0", "column_1", "column_2"]


def test_an_unnamed_index_column_does_not_hide_the_header(tmp_path):
    path = write(tmp_path / "indexed.csv", b",city\n0,Oslo\n1,Bergen\n")

    frame = CSV.read(path, "indexed")

    assert frame["city"].to_list() == ["Oslo", "Bergen"]


def test_header_only_file_is_empty_with_its_columns(tmp_path):
    path = write(tmp_path / "header.csv", b"id;name;created\n")

    probe = CSV.probe_schema(path, "header")

    assert probe.status == "empty"
    assert [c.name for c in probe.columns] == ["id", "name", "created"]
    assert probe.row_estimate == 0 and probe.row_estimate_exact
    assert CSV.read(path, "header").shape == (0, 3)


def test_zero_byte_file_probes_empty_and_fails_validation(tmp_path):
    path = write(tmp_path / "nothing.csv", b"")

    probe = CSV.probe_schema(path, "nothing")

    assert probe.status == "empty" and probe.columns == []
    with pytest.raises(AdapterError, match=r"nothing\.csv: the file is empty"):
        CSV.validate(path)


def test_ragged_rows_are_partial_naming_the_line_and_read_leniently(tmp_path):
    path = write(tmp_path / "ragged.csv", b"a,b\n1,2\n3,4\n5,6,7\n8\n")

    probe = probe_table(path, "ragged")
    frame = CSV.read(path, "ragged")

    assert probe.status == "partial"
    assert "ragged.csv" in probe.error and "line 4 has 3 fields" in probe.error
    assert frame.shape == (4, 2)
    assert frame.row(2) == (5, 6)
    assert frame.row(3) == (8, None)


def test_large_file_row_estimate_is_close_but_not_exact(tmp_path):
    lines = "".join(f"{i},name-{i},{i * 0.5}\n" for i in range(120_000))
    path = write(tmp_path / "large.csv", ("id,name,value\n" + lines).encode())
    assert path.stat().st_size > 2 << 20

    probe = CSV.probe_schema(path, "large")

    assert not probe.row_estimate_exact
    assert abs(probe.row_estimate - 120_000) / 120_000 < 0.1
    assert [c.dtype for c in probe.columns] == ["Int64", "String", "Float64"]


def test_a_50_mb_single_line_probe_stops_at_the_1_mib_line_limit(tmp_path):
    path = tmp_path / "oneline.csv"
    path.write_bytes(b"a," * (25 << 20))

    probe = probe_table(path, "oneline")

    assert probe.status == "error"
    assert "oneline.csv" in probe.error and "line 1 is longer than 1 MiB" in probe.error


def test_a_huge_data_line_after_the_header_is_partial_not_empty(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_bytes(b"id,blob\n1," + b"x" * (3 << 20) + b"\n")

    probe = CSV.probe_schema(path, "wide")

    assert probe.status == "partial"
    assert [c.name for c in probe.columns] == ["id", "blob"]
    assert "line 2" in probe.error


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1", "utf-16"])
def test_stream_chunks_concatenate_to_read(tmp_path, encoding):
    lines = "".join(f"{i};Ort-{i}-ä;{i % 7}\n" for i in range(2_500))
    path = write(tmp_path / "chunks.csv", ("id;ort;bucket\n" + lines).encode(encoding))

    chunks = list(CSV.stream(path, "chunks", chunk_rows=1_000))

    assert [chunk.height for chunk in chunks] == [1_000, 1_000, 500]
    assert_frame_equal(pl.concat(chunks), CSV.read(path, "chunks"))
    assert chunks[0]["ort"][0] == "Ort-0-ä"


def test_binary_content_fails_validation_naming_the_file(tmp_path):
    path = write(tmp_path / "junk.csv", bytes(range(256)) * 40)

    with pytest.raises(AdapterError, match=r"junk\.csv: the content is binary"):
        CSV.validate(path)


def test_an_unknown_table_name_is_reported_as_missing(tmp_path):
    path = write(tmp_path / "cities.csv", ROWS.encode())

    probe = probe_table(path, "other")

    assert probe.status == "missing"
    assert "'other'" in probe.error and "cities" in probe.error


def test_semicolon_file_with_decimal_commas_reads_numbers(tmp_path):
    from dat_pipeline.adapters.delimited import DelimitedAdapter

    path = tmp_path / "eu.csv"
    path.write_bytes("id;price;label\n1;7,9;café\n2;1234,50;thé\n".encode("latin-1"))
    frame = DelimitedAdapter().read(path, "eu")
    assert frame["price"].dtype == pl.Float64
    assert frame["price"].to_list() == [7.9, 1234.5]


def test_semicolon_file_with_decimal_points_is_not_misread(tmp_path):
    from dat_pipeline.adapters.delimited import DelimitedAdapter

    path = tmp_path / "points.csv"
    path.write_text("id;price;note\n1;7.9;a,b\n2;3.5;c\n")
    frame = DelimitedAdapter().read(path, "points")
    assert frame["price"].to_list() == [7.9, 3.5]
    assert frame["note"].to_list() == ["a,b", "c"]
