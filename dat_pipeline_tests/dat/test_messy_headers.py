"""Messy headers (SPEC 1.4): `#` preamble lines and title rows above the header are found by the
probe and skipped alike by parse; table_selection's `header_rows` overrides the guess; a file that
changed after its probe fails parse with a reason naming it."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from helpers import build, workbook_of

from dat_pipeline.adapters import get_adapter, probe_table
from dat_pipeline.dat.stages.parse import failed_tables, table_rows
from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.errors import StageConfigError

PREAMBLE = "# exported by legacy tool\n# 2024-06-30 23:59\nid,name,amount\n1,a,2.5\n2,b,3\n"
TITLED = "Region report,,\n,,\nregion,sales,units\nnorth,10,2\nsouth,20,3\nwest,5,1\n"


def titled_workbook(path: Path) -> None:
    rows = [["Region report"], [], ["region", "sales", "units"], ["north", 10, 2], ["south", 20, 3]]
    workbook_of("report", rows).save(path)


@pytest.mark.parametrize(
    ("name", "content", "header", "columns"),
    [
        ("preamble.csv", PREAMBLE, 3, ["id", "name", "amount"]),
        ("titled.csv", TITLED, 3, ["region", "sales", "units"]),
    ],
)
def test_csv_preamble_and_title_rows_are_skipped_by_probe_and_read_alike(
    tmp_path: Path, name: str, content: str, header: int, columns: list[str]
):
    path = tmp_path / name
    path.write_text(content)
    table = Path(name).stem
    probe = probe_table(path, table)
    assert probe.status == "partial" and f"header is on line {header}" in probe.error
    assert [c.name for c in probe.columns] == columns and probe.header.header_row == header
    frame = get_adapter("csv").read(path, table)
    assert frame.columns == columns and frame.height == probe.row_estimate


def test_an_excel_title_row_is_skipped_by_probe_and_read_alike(tmp_path: Path):
    titled_workbook(tmp_path / "report.xlsx")
    probe = probe_table(tmp_path / "report.xlsx", "report")
    assert probe.status == "partial" and "header is on row 3" in probe.error
    assert [c.name for c in probe.columns] == ["region", "sales", "units"]
    frame = get_adapter("excel").read(tmp_path / "report.xlsx", "report")
    assert frame.columns == ["region", "sales", "units"]
    assert frame["sales"].to_list() == [10.0, 20.0]


def probed_run(flow: DatWorkflow) -> str:
    folder = flow.data_root / "messy"
    folder.mkdir()
    (folder / "preamble.csv").write_text(PREAMBLE)
    (folder / "units.csv").write_text("id,name\nint,text\n1,a\n2,b\n")
    titled_workbook(folder / "report.xlsx")
    run = flow.create_run().run_id
    build(flow, run, "discovery", {"root": "messy"})
    build(flow, run, "selection", {"files": ["messy/*"]})
    build(flow, run, "table_availability", {})
    return run


def test_header_rows_override_the_probe_and_parse_follows_them(flow: DatWorkflow):
    run = probed_run(flow)
    header_rows = {
        "messy/units.csv:units": {"header_row": 1, "skip_rows": 1},
        "messy/report.xlsx:report": {"header_row": 4},
    }
    selection = build(
        flow, run, "table_selection", {"tables": {"messy/*": ["*"]}, "header_rows": header_rows}
    )
    columns = {
        row["path"]: [c["name"] for c in json.loads(row["columns"])]
        for row in selection.iter_rows(named=True)
    }
    assert columns["messy/units.csv"] == ["id", "name"]
    assert columns["messy/report.xlsx"] == ["north", "10", "2"]  # row 4 holds data: as asked
    assert columns["messy/preamble.csv"] == ["id", "name", "amount"]  # the probe's guess

    parse = table_rows(build(flow, run, "parse", {}))
    outputs = {row["path"]: flow.data_root / row["output"] for row in parse.iter_rows(named=True)}
    units = pl.read_parquet(outputs["messy/units.csv"])
    assert units["id"].to_list() == [1, 2]  # the units line is skipped, ids read as numbers
    assert pl.read_parquet(outputs["messy/report.xlsx"]).height == 1
    assert pl.read_parquet(outputs["messy/preamble.csv"])["amount"].to_list() == [2.5, 3.0]


def test_header_rows_of_a_table_not_selected_is_refused(flow: DatWorkflow):
    run = probed_run(flow)
    with pytest.raises(StageConfigError, match=r"header_rows names 'messy/nope.csv:nope'"):
        flow.lock(
            run,
            "table_selection",
            {"tables": {"messy/*": ["*"]}, "header_rows": {"messy/nope.csv:nope": {}}},
        )


def test_a_file_changed_after_its_probe_fails_parse_naming_it(flow: DatWorkflow):
    run = probed_run(flow)
    build(flow, run, "table_selection", {"tables": {"messy/*.csv": ["*"]}})
    (flow.data_root / "messy" / "preamble.csv").write_text("id,name,amount\n")  # rows gone
    parse = build(flow, run, "parse", {})
    [failed] = failed_tables(parse)
    assert failed["path"] == "messy/preamble.csv"
    assert "messy/preamble.csv changed after table_availability probed it" in failed["error"]
    done = table_rows(parse).filter(pl.col("status") == "done")["path"].to_list()
    assert done == ["messy/units.csv"]
