"""Structure and time phases (relationships, topology, temporal, business_cycles, slicing,
validation, entropy) on generated data whose truth is known by construction."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from dat_pipeline.analysis.phase import PhaseContext, PhaseResult
from dat_pipeline.analysis.phases import (
    business_cycles,
    entropy,
    relationships,
    slicing,
    temporal,
    topology,
    validation,
)

AS_OF = "2025-06-30"
CODES = [f"S{i:02d}" for i in range(1, 11)]


def typed(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_row_index("_row_number").with_columns(pl.col("_row_number").cast(pl.Int64))


def run_phase(module, tables, results=None, **options) -> PhaseResult:
    return module.run(PhaseContext("test", tables, results or {}, {"as_of": AS_OF} | options))


def star_schema(n_sales: int = 20_000, seed: int = 7) -> dict[str, pl.DataFrame]:
    """Fact `sales` -> customers(id), products(product_id), stores(store_code, region); 3 % of
    sales reference 30 customers that do not exist; `suppliers.id` is an unrelated
    auto-increment id overlapping customers.id and sales.sale_id."""
    rng = np.random.default_rng(seed)
    customers = pl.DataFrame(
        {
            "id": np.arange(1, 501),
            "name": [f"customer {i}" for i in range(500)],
            "country": rng.choice(["FR", "DE", "US"], 500),
        }
    )
    products = pl.DataFrame(
        {
            "product_id": np.arange(1, 101),
            "category": rng.choice(["toys", "food", "tools"], 100),
            "price": rng.uniform(1, 100, 100),
        }
    )
    stores = pl.DataFrame(
        {
            "store_code": CODES * 2,  # the same code exists in two regions
            "region": ["north"] * 10 + ["south"] * 10,
            "size": rng.choice([100.0, 200.0], 20),
        }
    )
    customer = rng.integers(1, 501, n_sales)
    orphan = rng.random(n_sales) < 0.03
    customer[orphan] = rng.integers(501, 531, int(orphan.sum()))
    store = rng.integers(0, 20, n_sales)
    sales = pl.DataFrame(
        {
            "sale_id": np.arange(1, n_sales + 1),
            "customer_id": customer,
            "product_id": rng.integers(1, 101, n_sales),
            "store_code": [CODES[i % 10] for i in store],
            "region": np.where(store < 10, "north", "south"),
            "quantity": rng.integers(1, 11, n_sales),
            "amount": rng.gamma(2.0, 30.0, n_sales),
        }
    )
    suppliers = pl.DataFrame({"id": np.arange(1, 51), "supplier": [f"s{i}" for i in range(50)]})
    frames = {
        "customers": customers,
        "products": products,
        "stores": stores,
        "sales": sales,
        "suppliers": suppliers,
    }
    return {name: typed(frame) for name, frame in frames.items()}


def daily_series(days: int = 365, seed: int = 3) -> pl.DataFrame:
    """One row a day: upward trend + a weekly cycle + noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    value = 100 + 0.2 * t + 15 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 2, days)
    dates = [dt.date(2023, 1, 1) + dt.timedelta(days=int(i)) for i in t]
    return typed(pl.DataFrame({"day": dates, "value": value}))


def monthly_series(months: int = 72, seed: int = 4) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(months)
    value = 500 + 40 * np.cos(2 * np.pi * t / 12) + rng.normal(0, 5, months)
    dates = [dt.date(2015 + int(i) // 12, int(i) % 12 + 1, 1) for i in t]
    return typed(pl.DataFrame({"month": dates, "revenue": value}))


def semantic_frame(rows: list[tuple[str, str, str | None, float, str]]) -> PhaseResult:
    frame = pl.DataFrame(
        rows,
        schema={
            "table": pl.String,
            "column": pl.String,
            "semantic_type": pl.String,
            "confidence": pl.Float64,
            "role": pl.String,
        },
        orient="row",
    ).with_columns(evidence=pl.lit("test"))
    return PhaseResult(tables={"semantic": frame})


@pytest.fixture(scope="module")
def star() -> dict[str, pl.DataFrame]:
    return star_schema()


@pytest.fixture(scope="module")
def star_relationships(star) -> PhaseResult:
    return run_phase(relationships, star)


def rel_rows(result: PhaseResult) -> dict[tuple, dict]:
    frame = result.tables["relationships"]
    return {
        (r["from_table"], tuple(r["from_columns"]), r["to_table"], tuple(r["to_columns"])): r
        for r in frame.iter_rows(named=True)
    }


# relationships


def test_relationships_find_planted_foreign_keys_with_direction_containment_and_orphans(
    star, star_relationships
):
    found = rel_rows(star_relationships)
    sales = star["sales"]
    referenced = sales["customer_id"].unique()
    expected_containment = int((referenced <= 500).sum()) / referenced.len()
    expected_orphans = int((sales["customer_id"] > 500).sum())

    customer = found[("sales", ("customer_id",), "customers", ("id",))]
    assert customer["containment"] == pytest.approx(expected_containment, abs=1e-12)
    assert 0.9 <= customer["containment"] < 1.0
    assert customer["orphans"] == expected_orphans > 0
    assert customer["cardinality"] == "N:1"

    product = found[("sales", ("product_id",), "products", ("product_id",))]
    assert product["containment"] == 1.0 and product["orphans"] == 0
    composite = found[("sales", ("store_code", "region"), "stores", ("store_code", "region"))]
    assert composite["containment"] == 1.0 and composite["cardinality"] == "N:1"
    # nothing points the wrong way or anywhere else
    assert set(found) == {
        ("sales", ("customer_id",), "customers", ("id",)),
        ("sales", ("product_id",), "products", ("product_id",)),
        ("sales", ("store_code", "region"), "stores", ("store_code", "region")),
    }
    assert all(0 < r["confidence"] <= 1 for r in found.values())


def test_unrelated_auto_increment_ids_are_not_foreign_keys(star_relationships):
    frame = star_relationships.tables["relationships"]
    involved = set(frame["from_table"]) | set(frame["to_table"])
    # suppliers.id (1..50) is contained in customers.id (1..500) and sales.sale_id (1..20000)
    assert "suppliers" not in involved
    assert "sales" not in set(frame["to_table"])
    # customers.id and the small quantity range are contained in sales.sale_id too
    assert "quantity" not in {c for cols in frame["from_columns"] for c in cols}


def test_candidate_keys_single_and_composite(star_relationships):
    keys = {
        (r["table"], tuple(r["columns"]))
        for r in star_relationships.tables["candidate_keys"].iter_rows(named=True)
    }
    assert ("customers", ("id",)) in keys and ("sales", ("sale_id",)) in keys
    assert ("stores", ("store_code", "region")) in keys
    assert not any(t == "stores" and len(c) == 1 for t, c in keys)
    assert ("sales", ("customer_id",)) not in keys


def test_foreign_key_to_sparse_integer_key_is_found_without_name_evidence():
    rng = np.random.default_rng(11)
    account_numbers = np.unique(rng.integers(10_000_000, 99_999_999, 300))
    tables = {
        "accounts": typed(pl.DataFrame({"number": account_numbers, "owner": "x"})),
        "payments": typed(
            pl.DataFrame({"payer": rng.choice(account_numbers, 2_000), "cents": np.arange(2_000)})
        ),
    }
    found = rel_rows(run_phase(relationships, tables))
    payer = found[("payments", ("payer",), "accounts", ("number",))]
    assert payer["containment"] == 1.0 and payer["cardinality"] == "N:1"
    assert payer["confidence"] < 0.95  # no name evidence
    assert len(found) == 1


def test_one_to_one_extension_keeps_one_direction_and_bridge_gets_composite_key():
    students = typed(pl.DataFrame({"student_id": np.arange(1, 201), "name": ["a"] * 200}))
    details = typed(pl.DataFrame({"student_id": np.arange(1, 201), "gpa": np.linspace(1, 4, 200)}))
    courses = typed(pl.DataFrame({"course_id": ["C1", "C2", "C3", "C4"], "title": list("wxyz")}))
    pairs = [(s, c) for s in range(1, 201) for c in ("C1", "C2", "C3", "C4") if (s + len(c)) % 2]
    enrollments = typed(
        pl.DataFrame(pairs, schema=["student_id", "course_id"], orient="row").with_columns(
            grade=pl.lit("A")
        )
    )
    tables = {
        "students": students,
        "student_details": details,
        "courses": courses,
        "enrollments": enrollments,
    }
    result = run_phase(relationships, tables)
    found = rel_rows(result)
    one_to_one = [k for k in found if {k[0], k[2]} == {"students", "student_details"}]
    assert len(one_to_one) == 1 and found[one_to_one[0]]["cardinality"] == "1:1"
    assert ("enrollments", ("course_id",), "courses", ("course_id",)) in found
    keys = {
        (r["table"], tuple(r["columns"]))
        for r in result.tables["candidate_keys"].iter_rows(named=True)
    }
    assert ("enrollments", ("student_id", "course_id")) in keys
    roles = run_phase(topology, tables, {"relationships": result}).tables["roles"]
    assert roles.filter(pl.col("table") == "enrollments")["role"].item() == "bridge"


def test_foreign_key_with_orphans_is_kept_when_names_agree_and_the_target_is_a_key():
    """SPEC 4.9: a fifth of the tail numbers have no plane row; containment 0.8 < 0.9 is still a
    foreign key because the names agree; a column of another name with the same values is not."""
    rng = np.random.default_rng(18)
    tails = np.array([f"N{i:05d}" for i in range(1_000)])
    planes = typed(pl.DataFrame({"tailnum": tails[:800], "seats": rng.integers(50, 300, 800)}))
    picked = rng.choice(tails, 5_000)
    flights = typed(
        pl.DataFrame({"tailnum": picked, "registration": picked, "km": np.arange(5_000)})
    )
    result = run_phase(relationships, {"planes": planes, "flights": flights})
    found = rel_rows(result)
    tail = found[("flights", ("tailnum",), "planes", ("tailnum",))]
    assert tail["containment"] == pytest.approx(0.8, abs=0.01)
    assert tail["orphans"] == int((~np.isin(picked, tails[:800])).sum()) > 0
    assert "orphan rows" in tail["statement"]
    assert ("flights", ("registration",), "planes", ("tailnum",)) not in found
    stricter = run_phase(
        relationships, {"planes": planes, "flights": flights}, fk_named_min_containment=0.9
    )
    assert not rel_rows(stricter)


# topology


def test_topology_is_a_star_around_sales(star, star_relationships):
    result = run_phase(topology, star, {"relationships": star_relationships})
    shape = result.tables["topology"].row(0, named=True)
    assert shape["shape"] == "star"
    assert json.loads(shape["fact_tables"]) == ["sales"]
    assert json.loads(shape["dimension_tables"]) == ["customers", "products", "stores"]
    assert json.loads(shape["cycles"]) == []
    components = json.loads(shape["components"])
    assert ["suppliers"] in components and len(components) == 2
    roles = {r["table"]: r for r in result.tables["roles"].iter_rows(named=True)}
    assert roles["sales"]["out_keys"] == 3 and roles["sales"]["rows"] == 20_000
    assert roles["suppliers"]["role"] == "isolated"


def _relationships_result(edges: list[tuple[str, str]]) -> PhaseResult:
    frame = pl.DataFrame(
        [
            {
                "from_table": a,
                "from_columns": [f"{b}_id"],
                "to_table": b,
                "to_columns": ["id"],
                "containment": 1.0,
                "orphans": 0,
                "cardinality": "N:1",
                "confidence": 0.9,
            }
            for a, b in edges
        ],
        schema=relationships.REL_SCHEMA,
    )
    keys = pl.DataFrame(schema=relationships.KEY_SCHEMA)
    return PhaseResult(tables={"relationships": frame, "candidate_keys": keys})


@pytest.mark.parametrize(
    ("edges", "shape"),
    [
        ([("f", "d1"), ("f", "d2"), ("d2", "d3")], "snowflake"),
        ([("f", "d1"), ("g", "d1"), ("g", "d2")], "galaxy"),
        ([("a", "b"), ("b", "a")], "none"),
        ([("a", "b"), ("c", "d")], "disconnected"),
    ],
)
def test_topology_shapes_and_cycles(edges, shape):
    names = sorted({t for edge in edges for t in edge})
    tables = {n: typed(pl.DataFrame({"id": [1, 2], "x": [1.0, 2.0]})) for n in names}
    result = run_phase(topology, tables, {"relationships": _relationships_result(edges)})
    row = result.tables["topology"].row(0, named=True)
    assert row["shape"] == shape
    if shape == "none":
        assert sorted(json.loads(row["cycles"])[0]) == ["a", "b"]


# temporal and business cycles


def test_temporal_daily_series_granularity_trend_seasonality_freshness():
    frame = daily_series().filter(~pl.col("_row_number").is_in([40, 41, 42]))  # a 3-day gap
    row = run_phase(temporal, {"daily": frame}).tables["temporal"].row(0, named=True)
    assert row["granularity"] == "day"
    assert (row["start"], row["end"]) == ("2023-01-01", "2023-12-31")
    assert row["expected_periods"] == 365 and row["missing_periods"] == 3
    assert row["coverage"] == pytest.approx(362 / 365)
    assert row["trend"] == "increasing" and row["trend_p_value"] < 0.001
    assert row["seasonal_strength"] > 0.8
    assert row["freshness_days"] == pytest.approx(
        (dt.date.fromisoformat(AS_OF) - dt.date(2023, 12, 31)).days
    )


def test_temporal_monthly_series_and_bad_time_columns():
    tables = {
        "monthly": monthly_series(),
        "single": typed(pl.DataFrame({"at": [dt.datetime(2024, 5, 1, 12)], "x": [1.0]})),
        "blank": typed(pl.DataFrame({"at": [None, None]}, schema={"at": pl.Date})),
    }
    rows = {
        r["table"]: r for r in run_phase(temporal, tables).tables["temporal"].iter_rows(named=True)
    }
    assert rows["monthly"]["granularity"] == "month" and rows["monthly"]["trend"] == "none"
    assert rows["monthly"]["seasonal_strength"] > 0.8
    assert rows["single"]["granularity"] is None and "single timestamp" in rows["single"]["note"]
    assert rows["blank"]["note"] == "no non-null values"


@pytest.mark.parametrize(
    ("frame", "period", "unit"),
    [(daily_series(), 7.0, "day"), (monthly_series(), 12.0, "month")],
    ids=["weekly-in-daily", "yearly-in-monthly"],
)
def test_business_cycles_recover_the_planted_period_within_5_percent(frame, period, unit):
    tables = {"series": frame}
    upstream = {"temporal": run_phase(temporal, tables)}
    result = run_phase(business_cycles, tables, upstream)
    methods = result.tables["cycle_methods"]
    for method in ("acf", "periodogram"):
        found = methods.filter(pl.col("method") == method).row(0, named=True)
        assert found["unit"] == unit
        assert found["period"] == pytest.approx(period, rel=0.05)
        assert found["strength"] > 0.3
    # one finding per series and period, the methods that agree and their spread
    kept = result.tables["cycles"].filter(pl.col("kept"))
    assert kept.height == 1
    cycle = kept.row(0, named=True)
    assert cycle["measure"] is not None and cycle["period"] == pytest.approx(period, rel=0.05)
    assert {"acf", "periodogram"} <= set(cycle["methods"]) and cycle["spread"] <= 0.05
    assert cycle["p_value"] < 0.05 and f"{cycle['period']:.1f} {unit}s" in cycle["statement"]
    turns = result.tables["turning_points"]
    assert {"peak", "trough"} <= set(turns["kind"])
    assert turns["at"].str.contains(r"^\d{4}-\d{2}-\d{2}$").all()


def test_business_cycles_find_no_cycle_in_white_noise():
    rng = np.random.default_rng(21)
    dates = [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(1_000)]
    tables = {"noise": typed(pl.DataFrame({"day": dates, "value": rng.normal(50, 5, 1_000)}))}
    result = run_phase(business_cycles, tables, {"temporal": run_phase(temporal, tables)})
    assert result.tables["cycles"].filter(pl.col("kept")).height == 0
    assert result.tables["turning_points"].height == 0


# slicing


def test_slicing_ranks_the_planted_dimension_first():
    rng = np.random.default_rng(5)
    segment = rng.choice(["gold", "silver", "bronze"], 3_000)
    means = {"gold": 90.0, "silver": 50.0, "bronze": 10.0}
    frame = typed(
        pl.DataFrame(
            {
                "segment": segment,
                "noise": rng.choice(["a", "b", "c", "d"], 3_000),
                "spend": [means[s] for s in segment] + rng.normal(0, 5, 3_000),
            }
        )
    )
    semantic = semantic_frame(
        [
            ("shop", "segment", "category", 0.9, "dimension"),
            ("shop", "noise", "category", 0.9, "dimension"),
            ("shop", "spend", "money", 0.9, "measure"),
        ]
    )
    result = run_phase(
        slicing, {"shop": frame}, {"semantic": semantic, "temporal": run_phase(temporal, {})}
    )
    slices = result.tables["slices"]
    best = slices.row(0, named=True)
    assert (best["dimension"], best["measure"]) == ("segment", "spend")
    assert best["eta_squared"] > 0.9
    assert slices.filter(pl.col("dimension") == "noise")["eta_squared"].item() < 0.01
    per_slice = {s["value"]: s for s in json.loads(best["slices"])}
    assert per_slice["gold"]["count"] == int((segment == "gold").sum())
    assert per_slice["gold"]["mean"] == pytest.approx(90.0, abs=1.0)


def test_slicing_uses_weekday_of_time_columns():
    tables = {"daily": daily_series()}
    upstream = {"temporal": run_phase(temporal, tables), "semantic": semantic_frame([])}
    slices = run_phase(slicing, tables, upstream).tables["slices"]
    weekday = slices.filter(pl.col("dimension") == "day.weekday").row(0, named=True)
    assert weekday["eta_squared"] > 0.15  # the trend holds most of the variance; noise gives ~0.02
    assert len(json.loads(weekday["slices"])) == 7


# validation


def test_validation_counts_invalid_emails_future_dates_orphans_and_duplicate_keys(
    star, star_relationships
):
    rng = np.random.default_rng(9)
    n = 1_000
    emails = [f"user{i}@example.com" for i in range(n)]
    bad = rng.choice(n, 30, replace=False)
    for i in bad:
        emails[i] = f"user{i}.example.com" if i % 2 else f"user {i}@example"
    future = rng.choice(n, 12, replace=False)
    signup = np.array([dt.date(2024, 1, 1) + dt.timedelta(days=int(i % 300)) for i in range(n)])
    signup[future] = dt.date(2026, 1, 1)
    member_ids = np.arange(n)
    member_ids[5] = 4  # one duplicated key
    members = typed(
        pl.DataFrame({"member_id": member_ids, "email": emails, "signup": list(signup)})
    )
    tables = dict(star) | {"members": members}
    semantic = semantic_frame(
        [
            ("members", "email", "email", 0.97, "attribute"),
            ("members", "member_id", "identifier", 0.9, "identifier"),
        ]
    )
    result = run_phase(
        validation, tables, {"semantic": semantic, "relationships": star_relationships}
    )
    checks = {
        (r["check"], r["table"], r["column"]): r
        for r in result.tables["checks"].iter_rows(named=True)
    }
    email = checks[("email_format", "members", "email")]
    assert email["failed"] == 30
    examples = json.loads(email["examples"])
    assert len(examples) == 5 and all("@example.com" not in e["value"] for e in examples)
    assert checks[("date_not_future", "members", "signup")]["failed"] == 12
    fk = checks[("foreign_key_resolves", "sales", "customer_id")]
    assert fk["failed"] == int((star["sales"]["customer_id"] > 500).sum())
    assert checks[("foreign_key_resolves", "sales", "store_code, region")]["failed"] == 0
    assert checks[("key_unique", "members", "member_id")]["failed"] == 1
    assert checks[("key_unique", "customers", "id")]["failed"] == 0


# entropy


def entropy_upstream(tables: dict[str, pl.DataFrame]) -> dict[str, PhaseResult]:
    table = "t"
    typing_columns = pl.DataFrame(
        [
            (table, "id", "integer", 1.0, 0, 1_000, 0, None, None),
            (table, "empty", "string", None, 1_000, 0, 0, None, "all values are null"),
            (table, "level", "string", 1.0, 0, 1_000, 0, None, None),
            (table, "code", "integer", 0.7, 0, 700, 300, None, None),
        ],
        schema=[
            "table",
            "column",
            "type",
            "confidence",
            "null_count",
            "parsed",
            "failed",
            "date_format",
            "reason",
        ],
        orient="row",
    )
    statistics_columns = pl.DataFrame(
        {"table": [table], "column": ["id"], "p25": [250.0], "p75": [750.0]}
    )
    keys = pl.DataFrame({"table": [table], "columns": [["id"]], "unique_fraction": [1.0]})
    return {
        "typing": PhaseResult(tables={"columns": typing_columns}),
        "statistics": PhaseResult(tables={"columns": statistics_columns}),
        "semantic": semantic_frame(
            [
                (table, "id", "identifier", 0.95, "key"),
                (table, "empty", None, 0.5, "attribute"),
                (table, "level", "category", 0.9, "dimension"),
                (table, "code", "identifier", 0.9, "attribute"),
            ]
        ),
        "relationships": PhaseResult(
            tables={
                "candidate_keys": keys,
                "relationships": pl.DataFrame(schema=relationships.REL_SCHEMA),
            }
        ),
        "correlations": PhaseResult(tables={}),
    }


def test_entropy_blocks_all_null_column_and_marks_clean_key_ready():
    frame = typed(
        pl.DataFrame(
            {
                "id": np.arange(1_000),
                "empty": pl.Series([None] * 1_000, dtype=pl.String),
                "level": ["a"] * 999 + ["b"],
                "code": np.arange(1_000) % 7,
            }
        )
    )
    tables = {"t": frame}
    result = run_phase(entropy, tables, entropy_upstream(tables))
    columns = {r["column"]: r for r in result.tables["columns"].iter_rows(named=True)}
    assert columns["id"]["readiness"] == "ready"
    assert columns["id"]["entropy"] == pytest.approx(1.0)
    assert columns["id"]["score"] < 0.2
    assert columns["empty"]["readiness"] == "blocked"
    assert any("null" in reason for reason in columns["empty"]["reasons"])
    assert columns["code"]["readiness"] == "blocked"  # type confidence 0.7
    assert columns["level"]["entropy"] < 0.05
    assert set(columns) == {"id", "empty", "level", "code"}
    verdict = result.tables["tables"].row(0, named=True)
    assert verdict["readiness"] == "blocked" and "2 of 4 columns blocked" in verdict["reasons"][0]


def test_entropy_without_upstream_results_says_what_is_unknown():
    tables = {"t": typed(pl.DataFrame({"x": [1, 2, 3, 3]}))}
    row = run_phase(entropy, tables).tables["columns"].row(0, named=True)
    assert row["readiness"] == "ready"
    assert any("no typing result" in r for r in row["reasons"])
    assert any("no semantic result" in r for r in row["reasons"])


# bad input


def test_bad_input_does_not_crash_any_phase():
    tables = {
        "empty": typed(pl.DataFrame({"a": [], "d": []}, schema={"a": pl.Int64, "d": pl.Date})),
        "one_row": typed(pl.DataFrame({"id": [1], "v": [2.5], "d": [dt.date(2024, 1, 1)]})),
        "nulls": typed(pl.DataFrame({"n": [None, None, None]}, schema={"n": pl.Float64})),
        "single_time": typed(
            pl.DataFrame({"at": [dt.datetime(2024, 1, 1)] * 5, "v": [1.0, 2.0, 3.0, 4.0, 5.0]})
        ),
        "no_columns": typed(pl.DataFrame({"x": [1, 2]})).select("_row_number"),
    }
    results: dict[str, PhaseResult] = {"semantic": semantic_frame([])}
    for module in (relationships, topology, temporal, business_cycles, slicing, validation):
        results[module.SPEC.name] = run_phase(module, tables, results)
    results["entropy"] = run_phase(entropy, tables, results)
    temporal_rows = {
        r["table"]: r for r in results["temporal"].tables["temporal"].iter_rows(named=True)
    }
    assert "single timestamp" in temporal_rows["single_time"]["note"]
    assert temporal_rows["empty"]["note"] == "table is empty"
    verdicts = {
        r["table"]: r["readiness"]
        for r in results["entropy"].tables["tables"].iter_rows(named=True)
    }
    assert verdicts["empty"] == "blocked" and verdicts["nulls"] == "blocked"
    assert results["relationships"].tables["relationships"].height == 0
    assert results["topology"].tables["topology"]["shape"].item() == "disconnected"


# the whole chain, through the real upstream phases


def test_chain_from_raw_strings_through_every_phase(star):
    from dat_pipeline.analysis.phases import PHASES

    raw = {
        name: frame.with_columns(pl.exclude("_row_number").cast(pl.String))
        for name, frame in star.items()
    }
    raw["daily"] = daily_series().with_columns(pl.exclude("_row_number").cast(pl.String))
    results: dict[str, PhaseResult] = {}
    tables = raw
    for spec in PHASES:
        if spec.name == "import":
            continue
        context = PhaseContext("chain", tables, dict(results), {"as_of": AS_OF})
        results[spec.name] = spec.run(context)
        if spec.name == "typing":
            typed_tables = results["typing"].tables
            tables = {name: typed_tables[f"typed__{name}"] for name in raw}
    found = rel_rows(results["relationships"])
    assert ("sales", ("customer_id",), "customers", ("id",)) in found
    assert results["topology"].tables["topology"]["shape"].item() == "star"
    daily = (
        results["temporal"].tables["temporal"].filter(pl.col("table") == "daily").row(0, named=True)
    )
    assert daily["granularity"] == "day" and daily["trend"] == "increasing"
    cycles = (
        results["business_cycles"]
        .tables["cycles"]
        .filter((pl.col("table") == "daily") & pl.col("kept"))
    )
    assert cycles["period"][0] == pytest.approx(7, rel=0.05)
    readiness = (
        results["entropy"]
        .tables["columns"]
        .filter((pl.col("table") == "customers") & (pl.col("column") == "id"))["readiness"]
    )
    assert readiness.item() == "ready"
