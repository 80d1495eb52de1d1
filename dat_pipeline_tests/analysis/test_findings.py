"""Findings worth reading (issue 19): planted effects rank at the top, distractors never appear.

One generated table of taxi-like trips holds four planted effects (a daily cycle in a measure, a
slice effect, a correlation, a true functional dependency) beside distractors that a naive
profiler reports as findings: calendar parts of the timestamp, an identifier, an HHMM clock-time
integer, a column derived from a measure, and a near-unique column that determines everything.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from dat_pipeline.analysis.findings import candidates, derived_aliases, rank
from dat_pipeline.analysis.phase import PhaseContext, PhaseResult
from dat_pipeline.analysis.phases import PHASES
from dat_pipeline.analysis.runner import PhaseGraph

ROWS = 20_000
ZONE_FARE = {"airport": 30.0, "center": 12.0, "suburb": 18.0, "harbor": 22.0}
ZONE_REGION = {"airport": "east", "center": "west", "suburb": "east", "harbor": "west"}
DISTRACTORS = {"year", "month", "day", "trip_id", "depart_time", "fare_eur", "session_code"}


def planted_trips(rows: int = ROWS, seed: int = 19) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = dt.datetime(2024, 3, 1)
    minutes = np.sort(rng.integers(0, 60 * 24 * 60, rows))  # 60 days
    stamps = [start + dt.timedelta(minutes=int(m)) for m in minutes]
    hour = np.array([s.hour for s in stamps])
    zone = rng.choice(list(ZONE_FARE), rows)
    distance = rng.gamma(2.0, 3.0, rows)
    fare = np.array([ZONE_FARE[z] for z in zone]) + 1.6 * distance + rng.normal(0, 2, rows)
    # waiting peaks every evening at 18:00: a daily cycle in a measure
    wait = 5 + 12 * np.exp(-((hour - 18) ** 2) / 6) + rng.gamma(2.0, 1.0, rows)
    return pl.DataFrame(
        {
            "trip_id": np.arange(1, rows + 1),
            "ts": stamps,
            "year": [s.year for s in stamps],
            "month": [s.month for s in stamps],
            "day": [s.day for s in stamps],
            "hour": hour,
            "depart_time": [s.hour * 100 + s.minute for s in stamps],
            "session_code": [f"s{v:x}" for v in rng.integers(0, 40 * rows, rows)],
            "zone": zone,
            "region": [ZONE_REGION[z] for z in zone],
            "payment": rng.choice(["card", "cash"], rows),
            "distance_km": distance.round(3),
            "fare": fare.round(2),
            "fare_eur": (fare * 0.9).round(4),
            "wait_minutes": wait.round(2),
        }
    )


def run_chain(frame: pl.DataFrame, options: dict | None = None) -> dict[str, PhaseResult]:
    """Every phase after import, from raw text, as the runner chains them."""
    raw = frame.with_columns(pl.all().cast(pl.String)).with_row_index("_row_number")
    raw = raw.with_columns(pl.col("_row_number").cast(pl.Int64))
    tables, results = {"trips": raw}, {}
    for spec in PhaseGraph(PHASES).specs.values():
        if spec.name == "import":
            continue
        context = PhaseContext(
            "t", tables, dict(results), {"as_of": "2024-06-01"} | (options or {})
        )
        results[spec.name] = spec.run(context)
        if spec.name == "typing":
            tables = {"trips": results["typing"].tables["typed__trips"]}
    return results


def ranked(results: dict[str, PhaseResult]) -> list[dict]:
    def load(phase: str, name: str) -> pl.DataFrame | None:
        return results[phase].tables.get(name) if phase in results else None

    specs = {spec.name: spec.findings for spec in PHASES}
    return rank(candidates(specs, load), aliases=derived_aliases(load))


@pytest.fixture(scope="module")
def results() -> dict[str, PhaseResult]:
    return run_chain(planted_trips())


@pytest.fixture(scope="module")
def findings(results) -> list[dict]:
    return ranked(results)


def test_roles_name_calendar_parts_identifier_clock_time_and_measures(results):
    semantic = results["semantic"].tables["semantic"]
    roles = dict(semantic.select("column", "role").iter_rows())
    assert {c: roles[c] for c in ("year", "month", "day", "hour")} == dict.fromkeys(
        ("year", "month", "day", "hour"), "calendar_part"
    )
    assert roles["trip_id"] == "identifier"
    assert roles["depart_time"] == "clock_time"
    assert roles["ts"] == "timestamp"
    assert {roles[c] for c in ("fare", "distance_km", "wait_minutes")} == {"measure"}
    assert roles["zone"] == roles["region"] == "dimension"
    evidence = dict(semantic.select("column", "role_evidence").iter_rows())
    assert "month of ts" in evidence["month"] and "100.0%" in evidence["month"]
    assert "HHMM" in evidence["depart_time"]


def test_planted_effects_rank_at_the_top(findings):
    top = findings[:6]
    about = [(f["phase"], set(f["columns"])) for f in top]
    assert ("business_cycles", {"wait_minutes", "ts"}) in about
    assert ("slicing", {"zone", "fare"}) in about
    assert ("correlations", {"distance_km", "fare"}) in about
    assert ("correlations", {"zone", "region"}) in about  # the true dependency
    cycle = next(f for f in top if f["phase"] == "business_cycles")
    assert "24.0 hours" in cycle["statement"] and "highest at 18:00" in cycle["statement"]
    assert cycle["evidence"]["spread"] <= 0.05 and len(cycle["evidence"]["methods"]) >= 2
    slice_ = next(f for f in top if f["phase"] == "slicing")
    assert "airport" in slice_["statement"] and "center" in slice_["statement"]
    assert slice_["evidence"]["p_value"] < 1e-6
    correlation = next(f for f in top if set(f["columns"]) == {"distance_km", "fare"})
    ci = correlation["evidence"]["ci_low"], correlation["evidence"]["ci_high"]
    assert ci[0] < correlation["evidence"]["value"] < ci[1]


def test_no_distractor_is_a_finding_and_no_two_findings_say_the_same(findings):
    assert 4 <= len(findings) <= 25
    for finding in findings:
        assert not DISTRACTORS & set(finding["columns"]), finding["statement"]
        assert finding["statement"] and 0 < finding["score"] <= 1
    said = [(f["phase"], frozenset(f["columns"]), f["evidence"].get("period")) for f in findings]
    assert len(said) == len(set(said))
    # the daily cycle of wait_minutes is said once, not again as a slice by hour
    assert not any(
        f["phase"] == "slicing" and set(f["columns"]) == {"hour", "wait_minutes"} for f in findings
    )
    assert [f["rank"] for f in findings] == list(range(1, len(findings) + 1))


def test_every_computation_stays_in_the_artifact_with_kept_and_reason(results):
    pairs = results["correlations"].tables["correlations"]
    derived = pairs.filter(
        (pl.col("column_a").is_in(["fare", "fare_eur"]))
        & (pl.col("column_b").is_in(["fare", "fare_eur"]))
    )
    assert derived.height >= 1 and not derived["kept"].any()
    assert derived["reason"].str.starts_with("derived").all()
    skipped = pairs.filter(pl.col("column_a").is_in(["trip_id", "year", "depart_time"]))
    assert skipped.height and skipped["reason"].str.contains("identifier|calendar|clock").all()
    zone_region = pairs.filter(
        (pl.col("method") == "cramers_v")
        & pl.col("column_a").is_in(["zone", "region"])
        & pl.col("column_b").is_in(["zone", "region"])
    )
    assert zone_region["reason"].item() == "linked by a functional dependency (reported there)"
    fds = results["correlations"].tables["functional_dependencies"]
    assert not fds.filter(pl.col("determinant").list.first() == "session_code").height
    structural = fds.filter(pl.col("dependent") == "hour")
    assert structural.height and structural["reason"].str.starts_with("structural").all()
    slices = results["slicing"].tables["slices"]
    weak = slices.filter((pl.col("dimension") == "payment") & (pl.col("measure") == "fare"))
    assert not weak["kept"].item() and "eta squared" in weak["reason"].item()
    cycles = results["business_cycles"].tables["cycles"]
    assert set(cycles["measure"].drop_nulls()) <= {
        "fare",
        "fare_eur",
        "distance_km",
        "wait_minutes",
    }


def test_roles_can_be_overridden_per_source():
    results = run_chain(planted_trips(rows=2_000), {"roles": {"trips.wait_minutes": "attribute"}})
    semantic = results["semantic"].tables["semantic"]
    row = semantic.filter(pl.col("column") == "wait_minutes").row(0, named=True)
    assert row["role"] == "attribute" and "source option roles" in row["role_evidence"]
    cycles = results["business_cycles"].tables["cycles"]
    assert "wait_minutes" not in set(cycles["measure"].drop_nulls())


def test_the_same_finding_in_tables_of_the_same_shape_is_listed_once():
    def finding(table: str, r: float, phase: str = "correlations") -> dict:
        return {
            "phase": phase,
            "table": table,
            "columns": ["amount", "price"],
            "statement": f"`amount` and `price` rise together (pearson r = {r}, n = 120)",
            "score": r,
            "evidence": {},
            "_period": None,
            "_part": None,
        }

    ranked_ = rank([finding("sales_q1", 0.84), finding("sales_q2", 0.83), finding("other", 0.5)])
    assert [f["table"] for f in ranked_] == ["sales_q1"]
    assert ranked_[0]["evidence"]["also_in"] == ["sales_q2", "other"]
