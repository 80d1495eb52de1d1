"""A held-out corpus of hostile files, generated here, through every DAT stage (SPEC 7).

Every file is read or reported with a reason that names it; nothing hangs (a FIFO, a symlink
loop, a zip bomb, a 2 MiB line); the good rows reach the exported dataset although some tables
fail at parse.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from helpers import build, workbook_of

from dat_pipeline.dat.stages.parse import failed_tables, table_rows
from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.defs.dat import stage_metadata
from dat_pipeline.settings import get_settings

ROOT = "hostile"


@dataclass(frozen=True)
class Case:
    """One hostile file and what a user must see for it.

    outcome: `read` (parsed, `rows` rows reach the export), `unreadable` (discovery says why),
    `error`/`empty` (table_availability says why), `parse_error` (probed fine, parse marks the
    table failed with its reason and the others go on).
    """

    name: str
    write: Callable[[Path], None]
    outcome: str
    word: str = ""
    rows: int | None = None
    status: str | None = None  # the probe status when it is not the outcome's usual one


def text(content: str, encoding: str = "utf-8") -> Callable[[Path], None]:
    return lambda path: path.write_bytes(content.encode(encoding))


def raw(content: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(content)


def workbook(rows: list[list[object]]) -> Callable[[Path], None]:
    return lambda path: workbook_of("data", rows).save(path)


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_bomb(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            for _ in range(24):  # 24 MiB of zeros, a few KB compressed
                sheet.write(bytes(1 << 20))


def parquet(frame: pl.DataFrame) -> Callable[[Path], None]:
    return lambda path: frame.write_parquet(path)


def truncated_parquet(path: Path) -> None:
    buffer = io.BytesIO()
    pl.DataFrame({"id": range(100)}).write_parquet(buffer)
    path.write_bytes(buffer.getvalue()[:-20])


def gzipped(content: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(gzip.compress(content))


def gzipped_parquet(path: Path) -> None:
    buffer = io.BytesIO()
    pl.DataFrame({"id": [1]}).write_parquet(buffer)
    path.write_bytes(gzip.compress(buffer.getvalue()))


def late_latin1(path: Path) -> None:
    """1.5 MB of UTF-8 rows, then one Latin-1 byte past the probe's 1 MiB sample."""
    body = "".join(f"{i},Gen\u00e8ve\n" for i in range(120_000))
    path.write_bytes(f"id,city\n{body}".encode() + b"120000,Z\xfcrich\n")


def late_bad_ndjson_line(path: Path) -> None:
    """Good JSON lines past the probe's sample, then a broken one: only parse can see it."""
    lines = "".join(json.dumps({"id": i, "name": "x" * 20}) + "\n" for i in range(40_000))
    path.write_text(lines + '{"id": 40000, "name": \n')


def late_text_in_numbers(path: Path) -> None:
    """An integer column whose text value comes after the rows types are inferred from."""
    numbers = "".join(f"{i}\n" for i in range(30_000))
    path.write_text(f"n\n{numbers}n/a\n")


def fifo(path: Path) -> None:
    os.mkfifo(path)  # opening it to read would block forever


def symlink(target: str) -> Callable[[Path], None]:
    return lambda path: path.symlink_to(target)


CASES = [
    Case("good.csv", text("id,amount\n1,10.5\n2,20\n3,7\n"), "read", rows=3),
    Case(
        "good.parquet", parquet(pl.DataFrame({"id": [4, 5], "amount": [1.0, 2.0]})), "read", rows=2
    ),
    Case("empty.csv", raw(b""), "unreadable", "empty"),
    Case("blank.csv", text("  \n\n \n"), "unreadable", "empty"),
    Case("header_only.csv", text("id,amount\n"), "empty"),
    Case("ragged.csv", text("id,amount\n1,2\n3,4,5,6\n7,8\n"), "read", "line 3", 3, "partial"),
    Case("binary.csv", raw(bytes(range(256)) * 64), "unreadable", "binary"),
    Case("nul_in_text.csv", raw(b"a,b\n1,\x002\n3,4\n"), "unreadable", "binary"),
    Case("csv_named.xlsx", text("a,b\n1,2\n"), "read", rows=1),
    Case("corrupt.xlsx", raw(b"PK\x03\x04" + b"\x00" * 200), "unreadable", "workbook"),
    Case("zip_bomb.xlsx", zip_bomb, "error", "zip bomb"),
    Case("plain.zip", raw(zip_of({"notes.txt": b"hello"})), "unreadable", "zip archive"),
    Case("not_tabular.json", text('{"version": 3, "ok": true}'), "error", "not tabular"),
    Case("mixed_array.json", text('[{"a": 1}, 2]'), "error", "not tabular"),
    Case("scalar.json", text("42"), "error", "not tabular"),
    Case("empty_array.json", text("[]"), "empty"),
    Case("deep.json", text("[" * 50_000 + "]" * 50_000), "error", "nested too deeply"),
    Case("one_line.csv", raw(b"x" * (2 << 20)), "error", "line 1 is longer"),
    Case(
        "huge_second_line.csv",
        raw(b"a,b\n" + b"y" * (2 << 20) + b"\n"),
        "read",
        "no complete data row",
        1,
        "partial",
    ),
    Case("dup_columns.csv", text("id,id,amount\n1,2,3\n"), "read", "repeats", 1, "partial"),
    Case(
        "latin1.csv", text("id;name\n1;Z\u00fcrich\n2;G\u00f6teborg\n", "latin-1"), "read", rows=2
    ),
    Case("utf16.csv", text("\ufeffid,name\n1,\u00e9t\u00e9\n2,b\n", "utf-16-le"), "read", rows=2),
    Case("cr_only.csv", text("id,amount\r1,2\r3,4\r"), "read", rows=2),
    Case("crlf.csv", text("id,amount\r\n1,2\r\n3,4\r\n"), "read", rows=2),
    Case("packed.csv.gz", gzipped(b"id,amount\n1,2\n3,4\n5,6\n"), "read", rows=3),
    Case("damaged.csv.gz", raw(b"\x1f\x8b\x08\x00" + b"\xff" * 64), "unreadable", "gzip"),
    Case("packed.parquet.gz", gzipped_parquet, "unreadable", "decompress"),
    Case(
        "bom_then_latin1.csv",
        raw(b"\xef\xbb\xbfid,city\n1,Z\xfcrich\n2,Bern\n"),
        "read",
        "not utf-8",
        2,
        "partial",
    ),
    Case("late_latin1.csv", late_latin1, "read", rows=120_001),
    Case("late_bad_line.ndjson", late_bad_ndjson_line, "parse_error", "line"),
    Case("late_text.csv", late_text_in_numbers, "parse_error", "n/a"),
    Case("truncated.parquet", truncated_parquet, "error", "parquet"),
    Case("no_rows.parquet", parquet(pl.DataFrame(schema={"id": pl.Int64})), "empty"),
    Case("scan.pdf", text("%PDF-1.4\n%junk that is no PDF\n"), "error", "scan.pdf"),
    Case(
        "broken.docx",
        raw(zip_of({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<not xml"})),
        "error",
        "broken.docx",
    ),
    Case("empty_sheet.xlsx", workbook([]), "empty"),
    Case(
        "wide.csv",
        text(",".join(f"c{i}" for i in range(1000)) + "\n" + "1," * 999 + "1\n"),
        "read",
        rows=1,
    ),
    Case("semicolon_decimal.csv", text("a;b\n1,5;2\n2,25;3\n"), "read", rows=2),
    Case("stra\u00dfe donn\u00e9es.csv", text("id\n1\n"), "read", rows=1),
    Case("loop_a", symlink("loop_b"), "unreadable", "symlink loop"),
    Case("loop_b", symlink("loop_a"), "unreadable", "symlink loop"),
    Case("dangling.csv", symlink("gone.csv"), "unreadable", "no such file", status="missing"),
    Case("outside.csv", symlink("/etc/hostname"), "unreadable", "outside the data root"),
    Case("pipe.csv", fifo, "unreadable", "not a regular file"),
]
GOOD_ROWS = sum(c.rows or 0 for c in CASES if c.outcome == "read")


def write_corpus(folder: Path) -> None:
    folder.mkdir()
    for case in CASES:
        case.write(folder / case.name)
    sub = folder / "nested"
    sub.mkdir()
    (sub / "up").symlink_to("..", target_is_directory=True)  # a folder loop to walk into


def test_the_corpus_holds_at_least_30_hostile_files():
    assert len(CASES) >= 30 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.slow
def test_every_hostile_file_is_read_or_reported_and_the_good_rows_reach_the_export(
    flow: DatWorkflow,
):
    write_corpus(flow.data_root / ROOT)
    run = flow.create_run().run_id
    catalog = build(flow, run, "discovery", {"root": ROOT})
    by_path = {row["path"]: row for row in catalog.iter_rows(named=True)}
    assert sorted(by_path) == sorted(f"{ROOT}/{c.name}" for c in CASES)  # the folder loop too

    # Every file, the unreadable ones too: table_availability reports them.
    build(flow, run, "selection", {"files": ["*"]})
    probes = build(flow, run, "table_availability", {})
    probed: dict[str, list[dict]] = {}
    for row in probes.iter_rows(named=True):
        probed.setdefault(row["path"], []).append(row)
    assert sorted(probed) == sorted(by_path)

    build(flow, run, "table_selection", {"tables": {"*": ["*"]}})
    flow.lock(run, "parse", {})
    outcome = flow.materialize(run, "parse")
    parse = flow.load_artifact(run, "parse")
    status = flow.stage_status(run, "parse")
    assert status.completed
    # The Dagster asset's metadata lists the failed tables with their reasons too.
    metadata = stage_metadata(outcome, parse, status, follow=False)
    assert metadata["failed_tables"].data == failed_tables(parse)
    parsed = {row["path"]: row for row in table_rows(parse).iter_rows(named=True)}
    failed = {entry["path"]: entry["error"] for entry in failed_tables(parse)}

    outcomes = {}
    for case in CASES:
        path = f"{ROOT}/{case.name}"
        entry, rows = by_path[path], probed[path]
        statuses = {r["status"] for r in rows}
        messages = " ".join(r["error"] or "" for r in rows)
        if case.outcome == "unreadable":
            assert not entry["readable"] and case.word in entry["reason"].lower(), entry
            assert str(flow.data_root) not in entry["reason"], entry  # no server paths
            assert statuses == {case.status or "error"} and case.name in messages, rows
            assert path not in parsed  # table_selection cannot pick it
        elif case.outcome in ("error", "empty"):
            assert entry["readable"], entry
            assert statuses == {case.outcome}, rows
            assert case.word.lower() in messages.lower(), (path, messages)
            assert path not in parsed
        elif case.outcome == "parse_error":
            assert statuses == {"available"}, rows
            assert parsed[path]["status"] == "error" and case.word in failed[path], parsed[path]
            assert case.name in failed[path]
        else:
            assert statuses == {case.status or "available"}, rows
            assert case.word.lower() in messages.lower(), (path, messages)
            assert parsed[path]["status"] == "done", parsed[path]
            assert parsed[path]["rows"] == case.rows, parsed[path]
        outcomes[case.name] = (sorted(statuses), parsed.get(path, {}).get("status"))

    export = build(flow, run, "export", {})
    manifest_path = flow.data_root / export["manifest_path"].item()
    manifest = json.loads(manifest_path.read_text())
    assert manifest["row_count"] == GOOD_ROWS
    lineage = {entry["source_file"]: entry for entry in manifest["lineage"]}
    assert set(failed) <= set(lineage) and all("error" in lineage[p] for p in failed)
    exported = sum(pl.read_parquet(f).height for f in manifest_path.parent.glob("*.parquet"))
    assert exported == GOOD_ROWS


@pytest.mark.slow
@pytest.mark.parametrize("streamed", [False, True])
def test_probe_and_parse_read_a_stray_latin1_byte_alike(
    flow: DatWorkflow, monkeypatch: pytest.MonkeyPatch, streamed: bool
):
    if streamed:  # every file above the threshold: parse streams it in chunks
        monkeypatch.setenv("DAT_STREAM_THRESHOLD_BYTES", "1")
        get_settings.cache_clear()
    folder = flow.data_root / ROOT
    folder.mkdir()
    (folder / "early.csv").write_bytes(b"\xef\xbb\xbfid,city\n1,Z\xfcrich\n")
    late_latin1(folder / "late.csv")
    run = flow.create_run().run_id
    build(flow, run, "discovery", {"root": ROOT})
    build(flow, run, "selection", {"files": [f"{ROOT}/*.csv"]})
    probes = {
        r["path"]: r for r in build(flow, run, "table_availability", {}).iter_rows(named=True)
    }
    assert "byte 0xFC is not UTF-8" in probes[f"{ROOT}/early.csv"]["error"]
    assert "'ü'" in probes[f"{ROOT}/early.csv"]["error"]
    preview = build(flow, run, "table_selection", {"tables": {f"{ROOT}/*": ["*"]}})
    assert preview.height == 2
    parse = table_rows(build(flow, run, "parse", {}))
    for row in parse.iter_rows(named=True):
        cities = pl.read_parquet(flow.data_root / row["output"])["city"]
        assert cities[-1] == "Zürich", row["path"]


def test_a_strict_parse_of_the_corpus_fails_naming_the_failed_tables(flow: DatWorkflow):
    folder = flow.data_root / ROOT
    folder.mkdir()
    (folder / "good.csv").write_text("id\n1\n")
    late_text_in_numbers(folder / "late_text.csv")
    run = flow.create_run().run_id
    build(flow, run, "discovery", {"root": ROOT})
    build(flow, run, "selection", {"files": ["*"]})
    build(flow, run, "table_availability", {})
    build(flow, run, "table_selection", {"tables": {"*": ["*"]}})
    flow.lock(run, "parse", {"strict": True})
    with pytest.raises(Exception, match=r"strict parse.*late_text\.csv"):
        flow.materialize(run, "parse")
    assert not flow.stage_status(run, "parse").completed
