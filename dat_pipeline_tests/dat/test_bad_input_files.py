"""SPEC 7 bad input through the DAT stages: each bad file gets a clear reason that names it, and
never stops the good files, which go all the way to the dataset."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import polars as pl
import pytest
from helpers import build

from dat_pipeline.dat.stages.parse import failed_tables
from dat_pipeline.dat.workflow import DatWorkflow

GOOD = ["bad/good.csv", "bad/good.parquet"]


def write_bad_files(folder: Path) -> dict[str, str]:
    """Bad files, each with a word its reason must contain."""
    folder.mkdir()
    (folder / "good.csv").write_text("id,amount\n1,10.5\n2,20\n3,7\n")
    pl.DataFrame({"id": [4, 5], "amount": [1.0, 2.0]}).write_parquet(folder / "good.parquet")
    (folder / "empty.csv").write_bytes(b"")
    (folder / "header_only.csv").write_text("id,amount\n")
    (folder / "ragged.csv").write_text("id,amount\n1,2\n3,4,5,6\n7,8\n")
    (folder / "binary.csv").write_bytes(bytes(range(256)) * 64)
    (folder / "not_a_workbook.xlsx").write_text("a,b\n1,2\n")  # content wins: read as CSV
    (folder / "corrupt.xlsx").write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            for _ in range(200):  # 200 MB of zeros, a few hundred KB compressed
                sheet.write(bytes(1 << 20))
    (folder / "bomb.xlsx").write_bytes(bomb.getvalue())
    (folder / "not_tabular.json").write_text(json.dumps({"version": 3, "ok": True}))
    (folder / "one_line.csv").write_bytes(b"x" * (50 << 20))
    (folder / "dup_columns.csv").write_text("id,id,amount\n1,2,3\n")
    (folder / "latin1.csv").write_bytes("id;name\n1;Zürich\n2;Göteborg\n".encode("latin-1"))
    return {
        "bad/empty.csv": "empty",
        "bad/binary.csv": "binary",
        "bad/corrupt.xlsx": "workbook",
        "bad/bomb.xlsx": "zip bomb",
        "bad/not_tabular.json": "tabular",
        "bad/one_line.csv": "line",
    }


@pytest.mark.slow
def test_bad_files_get_clear_reasons_and_good_files_reach_the_dataset(flow: DatWorkflow):
    expected = write_bad_files(flow.data_root / "bad")
    run = flow.create_run().run_id
    build(flow, run, "discovery", {"root": "bad"})
    catalog = {r["path"]: r for r in flow.load_artifact(run, "discovery").iter_rows(named=True)}
    assert not catalog["bad/empty.csv"]["readable"]
    assert not catalog["bad/binary.csv"]["readable"]
    assert catalog["bad/not_a_workbook.xlsx"]["format"] == "csv"
    readable = sorted(path for path, row in catalog.items() if row["readable"])
    build(flow, run, "selection", {"files": readable})
    build(flow, run, "table_availability", {})
    probes = flow.load_artifact(run, "table_availability")
    by_file: dict[str, list[dict]] = {}
    for row in probes.iter_rows(named=True):
        by_file.setdefault(row["path"], []).append(row)

    for path, word in expected.items():
        if path not in by_file:  # unreadable at discovery already, with its reason
            assert word in (catalog[path]["reason"] or "").lower(), catalog[path]
            continue
        rows = by_file[path]
        assert all(r["status"] in ("error", "empty", "partial") for r in rows), rows
        message = " ".join((r["error"] or "") for r in rows).lower()
        assert word in message and Path(path).name in message, (path, message)

    assert {r["status"] for r in by_file["bad/header_only.csv"]} == {"empty"}
    ragged = by_file["bad/ragged.csv"][0]
    assert ragged["status"] == "partial" and "line 3" in ragged["error"]
    latin = by_file["bad/latin1.csv"][0]
    assert latin["status"] == "available" and latin["encoding"] == "latin-1"
    duplicated = by_file["bad/dup_columns.csv"][0]
    assert duplicated["status"] == "partial"
    assert [c["name"] for c in json.loads(duplicated["columns"])] == ["id", "id_2", "amount"]
    assert "repeats column names" in duplicated["error"] and "'id_2'" in duplicated["error"]

    build(flow, run, "table_selection", {"tables": {path: ["*"] for path in GOOD}})
    (flow.data_root / "bad" / "good.parquet").unlink()  # deleted between selection and parse
    build(flow, run, "parse", {})
    assert flow.stage_status(run, "parse").completed
    [failed] = failed_tables(flow.load_artifact(run, "parse"))
    assert failed["path"] == "bad/good.parquet" and "good.parquet" in failed["error"]

    build(flow, run, "export", {})
    manifest_path = flow.load_artifact(run, "export")["manifest_path"].item()
    manifest = json.loads((flow.data_root / manifest_path).read_text())
    dataset = pl.concat(
        [
            pl.read_parquet(f)
            for f in sorted((flow.data_root / manifest_path).parent.glob("*.parquet"))
        ],
        how="diagonal_relaxed",
    )
    assert (
        sorted(dataset["id"].to_list())
        == [1, 2, 3]
        == sorted(pl.read_csv(flow.data_root / "bad" / "good.csv")["id"].to_list())
    ), "the good rows must reach the exported dataset"
    assert manifest["row_count"] == 3
    lineage = {entry["source_file"]: entry for entry in manifest["lineage"]}
    assert "good.parquet" in lineage["bad/good.parquet"]["error"]
