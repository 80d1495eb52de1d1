"""Bad input through the whole analysis pipeline (issue 7, "Must show"): an empty table, a
one-row table, an all-null column, a table of 2,000 columns, a column of 1 MB text values and a
time column holding a single timestamp. Every phase runs through the runner, none crashes, and the
report gives a clear reason for each case.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from dat_pipeline.analysis.report import build_report, render_markdown
from dat_pipeline.analysis.runner import AnalysisRunner
from dat_pipeline.analysis.sources import add_source
from dat_pipeline.store import open_store

WIDE_COLUMNS = 2_000
MEGABYTE = 1 << 20


def write_bad_folder(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "empty.csv").write_text("id,name,amount\n", encoding="utf-8")
    (folder / "one_row.csv").write_text("id,name,amount,day\n1,solo,12.5,2024-03-01\n")
    pl.DataFrame(
        {
            "id": list(range(1, 101)),
            "nothing": [None] * 100,
            "amount": [float(i % 17) * 3.5 for i in range(100)],
        },
        schema={"id": pl.Int64, "nothing": pl.String, "amount": pl.Float64},
    ).write_csv(folder / "all_null.csv")
    wide = pl.DataFrame(
        {f"c{i:04d}": [(row * 7 + i) % 11 for row in range(20)] for i in range(WIDE_COLUMNS)}
    )
    wide.write_csv(folder / "wide.csv")
    pl.DataFrame(
        {
            "doc_id": [1, 2, 3],
            "body": [letter * MEGABYTE for letter in "abc"],
        }
    ).write_parquet(folder / "long_text.parquet")
    pl.DataFrame(
        {
            "event_id": list(range(1, 31)),
            "seen_at": ["2024-05-01 12:00:00"] * 30,
            "value": [float(i % 5) for i in range(30)],
        }
    ).write_csv(folder / "single_time.csv")


def test_bad_inputs_run_through_every_phase_and_the_report_says_why(data_root: Path):
    write_bad_folder(data_root / "bad")
    add_source(open_store(), "bad", "bad")
    runner = AnalysisRunner()
    for phase in runner.graph.order:
        outcome = runner.run_phase("bad", phase)  # raises PhaseFailedError on a crash
        assert outcome.meta.status == "ok", (phase, outcome.meta.error)
    assert [s.state for s in runner.states("bad")] == ["ok"] * len(runner.graph.order)

    report = build_report(runner, "bad")
    json.dumps(report)  # the contract is plain JSON
    markdown = render_markdown(report)
    tables = {t["name"]: t for t in report["tables"]}
    assert set(tables) == {"empty", "one_row", "all_null", "wide", "long_text", "single_time"}

    empty = tables["empty"]
    assert empty["rows"] == 0 and empty["readiness"] == "blocked"
    assert any("empty" in reason for reason in empty["reasons"])

    one_row = tables["one_row"]
    assert one_row["rows"] == 1
    assert any("single row" in reason for reason in one_row["reasons"])

    nothing = next(c for c in tables["all_null"]["columns"] if c["name"] == "nothing")
    assert nothing["null_fraction"] == 1.0 and nothing["readiness"] == "blocked"
    assert any("all values are null" in reason for reason in nothing["reasons"])

    wide = tables["wide"]
    assert wide["rows"] == 20 and len(wide["columns"]) == WIDE_COLUMNS
    assert all(c["type"] == "integer" for c in wide["columns"])
    measured = runner.load_result("bad", "correlations").tables["correlations"]
    wide_pairs = measured.filter(pl.col("table") == "wide")
    assert 0 < wide_pairs.height <= 60 * 59  # pairs are capped, not 2,000 x 1,999
    # 20 rows are too few for a finding: every pair stays in the artifact with its reason
    assert not wide_pairs["kept"].any() and wide_pairs["reason"].is_not_null().all()
    assert not [c for c in report["correlations"] if c["table"] == "wide"]
    assert "the 60 with the highest variance were compared" in report["summaries"]["correlations"]

    body = next(c for c in tables["long_text"]["columns"] if c["name"] == "body")
    assert body["type"] == "string"
    assert any("long text" in reason for reason in body["reasons"]), body["reasons"]
    assert len(markdown) < 2 * MEGABYTE  # the report shows cut values, not the 1 MB texts

    single = next(t for t in report["temporal"] if t["table"] == "single_time")
    assert single["column"] == "seen_at" and single["granularity"] is None
    assert "single timestamp" in single["reason"]
    assert "single timestamp" in markdown
