"""The profiling phases (typing, statistics, statistical_quality, correlations, semantic) on
generated data whose truth is known by construction, chained as the runner chains them."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from dat_pipeline.analysis.phase import PhaseContext, PhaseResult
from dat_pipeline.analysis.phases import column_profiles as statistics
from dat_pipeline.analysis.phases import correlations, semantic, statistical_quality
from dat_pipeline.analysis.phases import type_inference as typing_phase

AFTER_TYPING = (statistics, statistical_quality, correlations, semantic)


def raw_table(columns: dict[str, list]) -> pl.DataFrame:
    """A raw table as the import phase hands it over: `_row_number` plus text columns."""
    height = len(next(iter(columns.values()))) if columns else 0
    frame = pl.DataFrame(
        {name: pl.Series(name, values, dtype=pl.String) for name, values in columns.items()}
    )
    return frame.insert_column(0, pl.Series("_row_number", range(1, height + 1), dtype=pl.Int64))


def run_phases(
    tables: dict[str, pl.DataFrame], options: dict | None = None, phases=AFTER_TYPING
) -> dict[str, PhaseResult]:
    results: dict[str, PhaseResult] = {}
    results["typing"] = typing_phase.SPEC.run(
        PhaseContext("src", tables, dict(results), options or {})
    )
    typed = {
        name.removeprefix("typed__"): frame
        for name, frame in results["typing"].tables.items()
        if name.startswith("typed__")
    }
    for phase in phases:
        results[phase.SPEC.name] = phase.SPEC.run(
            PhaseContext("src", typed, dict(results), options or {})
        )
    return results


def row_of(frame: pl.DataFrame, **where) -> dict:
    selected = frame.filter(*[pl.col(k) == v for k, v in where.items()])
    assert selected.height == 1, f"expected one row for {where}, got {selected.height}"
    return selected.row(0, named=True)


def test_specs_declare_the_graph_of_the_brief():
    needs = {m.SPEC.name: m.SPEC.needs for m in (typing_phase, *AFTER_TYPING)}
    assert needs == {
        "typing": ("import",),
        "statistics": ("typing",),
        "statistical_quality": ("statistics",),
        "correlations": ("statistics", "semantic"),
        "semantic": ("statistics", "relationships"),
    }


def test_typing_detects_day_first_dates_in_a_column_of_mixed_formats():
    rng = np.random.default_rng(7)
    days = [dt.date(2023, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 700, 400)]
    values = [d.strftime("%d/%m/%Y") for d in days[:300]] + [d.isoformat() for d in days[300:]]
    values[5] = "NA"
    pairs = [f"{d:02d}/{13 - d:02d}/2024" for d in range(1, 13)]  # no part above 12
    ambiguous = (pairs * 34)[:400]
    month_first = [d.strftime("%m/%d/%Y") for d in days]
    result = run_phases(
        {"t": raw_table({"when": values, "amb": ambiguous, "us": month_first})}, phases=()
    )["typing"]
    columns = result.tables["columns"]

    when = row_of(columns, column="when")
    assert when["type"] == "date" and when["date_format"] == "%d/%m/%Y"
    assert when["failed"] == 0 and when["null_count"] == 1 and when["confidence"] == 1.0
    assert "first part > 12" in when["reason"] and "%Y-%m-%d" in when["reason"]
    typed = result.tables["typed__t"]["when"].to_list()
    assert typed[:5] == days[:5] and typed[300:] == days[300:] and typed[5] is None

    amb = row_of(columns, column="amb")
    assert amb["type"] == "date" and amb["date_format"] == "%d/%m/%Y"
    assert "ambiguous" in amb["reason"]
    assert result.tables["typed__t"]["amb"][0] == dt.date(2024, 12, 1)

    us = row_of(columns, column="us")
    assert us["type"] == "date" and us["date_format"] == "%m/%d/%Y"
    assert result.tables["typed__t"]["us"].to_list() == days


def test_typing_reads_thousands_separators_currency_and_percent():
    table = raw_table(
        {
            "us": ["1,234.56", "12", "-3,000", "999,999.5", "0.25"],
            "eu": ["1.234,56", "12", "-3.000", "999.999,5", "0,25"],
            "spaced": ["1 234", "12", "3 000 000", "45", "999"],
            "money": ["$1,200.50", "EUR 12", "12 €", "£7", "-$3"],
            "share": ["12.5%", "100%", "0%", "7 %", "3.25%"],
            "code": ["ABC123", "XYZ9", "Q1", "A", "B"],
        }
    )
    result = run_phases({"t": table}, phases=())["typing"]
    columns, typed = result.tables["columns"], result.tables["typed__t"]
    types = dict(columns.select("column", "type").iter_rows())
    assert types == {
        "us": "float",
        "eu": "float",
        "spaced": "integer",
        "money": "decimal",
        "share": "float",
        "code": "string",
    }
    assert typed["us"].to_list() == [1234.56, 12.0, -3000.0, 999999.5, 0.25]
    assert typed["eu"].to_list() == [1234.56, 12.0, -3000.0, 999999.5, 0.25]
    assert typed["spaced"].to_list() == [1234, 12, 3_000_000, 45, 999]
    assert typed["money"].to_list() == [1200.5, 12.0, 12.0, 7.0, -3.0]
    assert typed["share"].to_list() == pytest.approx([0.125, 1.0, 0.0, 0.07, 0.0325])
    assert "money" in row_of(columns, column="money")["reason"]
    assert "European" in row_of(columns, column="eu")["reason"]
    assert "percent" in row_of(columns, column="share")["reason"]


def test_typing_quarantines_values_that_fail_and_nulls_null_tokens():
    values = [str(i) for i in range(100)]
    for row in (10, 50, 90):
        values[row] = f"bad{row}"
    values[20], values[21], values[22] = "N/A", "  ", "null"
    result = run_phases({"t": raw_table({"n": values, "zip": ["01234", "20500"] * 50})}, phases=())[
        "typing"
    ]
    column = row_of(result.tables["columns"], column="n")
    assert column["type"] == "integer"
    assert (column["null_count"], column["parsed"], column["failed"]) == (3, 94, 3)
    assert column["confidence"] == pytest.approx(94 / 97)
    quarantine = result.tables["quarantine"].sort("_row_number")
    assert quarantine.columns == ["table", "column", "_row_number", "raw_value"]
    assert quarantine["_row_number"].to_list() == [11, 51, 91]
    assert quarantine["raw_value"].to_list() == ["bad10", "bad50", "bad90"]
    typed = result.tables["typed__t"]
    assert typed["n"][10] is None and typed["n"][11] == 11
    zip_code = row_of(result.tables["columns"], column="zip")
    assert zip_code["type"] == "string" and "leading zeros" in zip_code["reason"]


def test_typing_falls_back_to_text_below_the_threshold_and_honours_the_option():
    values = [str(i) for i in range(90)] + [f"x{i}" for i in range(10)]
    strict = run_phases({"t": raw_table({"n": values})}, phases=())["typing"]
    column = row_of(strict.tables["columns"], column="n")
    assert column["type"] == "string" and "90.0%" in column["reason"]
    assert strict.tables["quarantine"].height == 0
    lenient = run_phases({"t": raw_table({"n": values})}, {"type_threshold": 0.8}, phases=())
    assert row_of(lenient["typing"].tables["columns"], column="n")["type"] == "integer"
    assert lenient["typing"].tables["quarantine"].height == 10


def test_statistics_profile_counts_quantiles_histograms_top_values_and_lengths():
    numbers = [str(i) for i in range(1, 101)]
    words = ["apple"] * 50 + ["kiwi"] * 30 + ["banana"] * 19 + [None]
    results = run_phases(
        {"t": raw_table({"n": numbers, "w": words}), "u": raw_table({"a": ["1", "2"]})},
        phases=(statistics,),
    )
    stats = results["statistics"].tables
    n = row_of(stats["columns"], table="t", column="n")
    assert (n["count"], n["null_count"], n["distinct"], n["min"], n["max"]) == (
        100,
        0,
        100,
        "1",
        "100",
    )
    assert n["mean"] == pytest.approx(50.5) and n["p50"] == pytest.approx(50.5)
    assert n["p25"] == pytest.approx(25.75) and n["p75"] == pytest.approx(75.25)
    assert n["std"] == pytest.approx(np.std(np.arange(1, 101), ddof=1))
    histogram = stats["histograms"].filter(pl.col("column") == "n").sort("bin_start")
    assert histogram.height == 20 and histogram["count"].sum() == 100
    assert histogram["bin_start"][0] == 1 and histogram["bin_end"][-1] == 100
    assert histogram["count"].to_list() == [5] * 20
    w = row_of(stats["columns"], table="t", column="w")
    assert (w["null_count"], w["null_fraction"], w["distinct"]) == (1, 0.01, 3)
    assert (w["min_length"], w["max_length"]) == (4, 6)
    assert w["mean_length"] == pytest.approx((50 * 5 + 30 * 4 + 19 * 6) / 99)
    top = stats["top_values"].filter(pl.col("column") == "w")
    assert top.select("value", "count").rows() == [("apple", 50), ("kiwi", 30), ("banana", 19)]
    assert stats["tables"].sort("table").rows() == [("t", 100, 2), ("u", 2, 1)]


def test_semantic_types_and_roles_with_a_share_of_invalid_emails():
    rng = np.random.default_rng(11)
    n = 3000
    emails = [f"user{i}@example.com" for i in range(n)]
    for i in rng.choice(n, 90, replace=False):  # 3 % invalid
        emails[i] = f"user{i}-at-example.com"
    table = raw_table(
        {
            "customer_id": [str(i) for i in range(n)],
            "store_id": [str(i % 25) for i in range(n)],
            "email": emails,
            "country": rng.choice(["US", "DE", "FR", "JP", "BR"], n).tolist(),
            "currency": rng.choice(["USD", "EUR", "JPY"], n).tolist(),
            "device": [f"{i:08x}-1111-4222-8333-{i:012x}" for i in range(n)],
            "latitude": rng.uniform(-60, 70, n).round(5).astype(str).tolist(),
            "amount": rng.uniform(1, 500, n).round(2).astype(str).tolist(),
            "ordered_at": [f"2024-01-{1 + i % 28:02d}" for i in range(n)],
            "segment": rng.choice(["retail", "corporate", "public"], n).tolist(),
        }
    )
    results = run_phases({"t": table}, phases=(statistics, statistical_quality, semantic))
    found = {r["column"]: r for r in results["semantic"].tables["semantic"].iter_rows(named=True)}
    assert found["email"]["semantic_type"] == "email"
    assert found["email"]["confidence"] == pytest.approx(0.97, abs=0.002)
    assert "97.0%" in found["email"]["evidence"]
    # Emails are text: typing has nothing to quarantine and validity (typing confidence) is 1.
    assert row_of(results["typing"].tables["columns"], column="email")["failed"] == 0
    quality = row_of(results["statistical_quality"].tables["column_quality"], column="email")
    assert quality["validity"] == 1.0
    expected = {
        "customer_id": ("identifier", "identifier"),
        "store_id": ("identifier", "foreign_key"),
        "country": ("country_code", "dimension"),
        "currency": ("currency_code", "dimension"),
        "device": ("uuid", "identifier"),
        "latitude": ("latitude", "attribute"),
        "amount": ("money", "measure"),
        "ordered_at": ("date", "timestamp"),
        "segment": ("category", "dimension"),
    }
    got = {c: (found[c]["semantic_type"], found[c]["role"]) for c in expected}
    assert got == expected
    assert all(found[c]["evidence"] for c in found)


def test_benford_conformity_on_log_uniform_and_uniform_amounts():
    rng = np.random.default_rng(5)
    n = 5000
    table = raw_table(
        {
            "benford_amount": (10 ** rng.uniform(0, 4, n)).round(2).astype(str).tolist(),
            "flat_amount": rng.uniform(100, 100_000, n).round(2).astype(str).tolist(),
            "narrow_amount": rng.uniform(100, 999, n).round(2).astype(str).tolist(),
            "small_amount": (10 ** rng.uniform(-4, 0, n)).astype(str).tolist(),
            "order_id": [str(i) for i in range(n)],
        }
    )
    result = run_phases({"t": table}, phases=(statistics, statistical_quality))
    quality = result["statistical_quality"]
    benford = {r["column"]: r for r in quality.tables["benford"].iter_rows(named=True)}
    assert set(benford) == {"benford_amount", "flat_amount", "small_amount"}
    assert benford["benford_amount"]["conformity"] in ("close", "acceptable")
    assert benford["benford_amount"]["mad"] < 0.012 and benford["benford_amount"]["p_value"] > 0.001
    # 0.0042 -> 4: digits of values below 1 come from the first significant digit.
    assert benford["small_amount"]["conformity"] in ("close", "acceptable")
    assert benford["flat_amount"]["conformity"] == "nonconformity"
    assert benford["flat_amount"]["p_value"] < 1e-6
    assert benford["benford_amount"]["n"] == n
    # 100-999 spans one order of magnitude: Benford does not apply, and the summary says why.
    assert "`narrow_amount` (not tested: values span 1.0 orders" in quality.summary
    assert "`order_id` (name suggests a code" in quality.summary


def test_outliers_by_iqr_and_robust_z_find_the_planted_values():
    rng = np.random.default_rng(9)
    values = np.r_[rng.normal(100, 5, 1990), np.full(10, 500.0)]
    result = run_phases({"t": raw_table({"x": values.astype(str).tolist()})})
    outliers = result["statistical_quality"].tables["outliers"]
    robust = row_of(outliers, column="x", method="robust_z")
    iqr = row_of(outliers, column="x", method="iqr")
    assert 10 <= robust["count"] <= 12 and robust["upper"] < 500
    assert 10 <= iqr["count"] <= 30 and iqr["lower"] < 100 < iqr["upper"] < 500
    quality = row_of(result["statistical_quality"].tables["column_quality"], column="x")
    assert quality["score"] < 100 and any("outliers" in r for r in quality["reasons"])


def test_quality_scores_reflect_missing_invalid_constant_and_duplicate_values():
    n = 200
    table = raw_table(
        {
            "complete": [str(i) for i in range(n)],
            "gappy": [str(i) if i % 5 else None for i in range(n)],
            "dirty": [str(i) if i % 50 else "oops" for i in range(n)],
            "constant": ["same"] * n,
            "nothing": [None] * n,
        }
    )
    table = pl.concat([table, table.head(10).with_columns(pl.col("_row_number") + n)])
    quality = run_phases({"t": table}, phases=(statistics, statistical_quality))[
        "statistical_quality"
    ]
    columns = {r["column"]: r for r in quality.tables["column_quality"].iter_rows(named=True)}
    assert columns["complete"]["score"] == 100 and columns["complete"]["reasons"] == []
    assert columns["gappy"]["completeness"] == pytest.approx(1 - 42 / 210)
    assert columns["gappy"]["score"] < 100 and "missing" in columns["gappy"]["reasons"][0]
    assert columns["dirty"]["validity"] == pytest.approx(205 / 210)
    assert any("did not parse as integer" in r for r in columns["dirty"]["reasons"])
    assert columns["constant"]["uniqueness"] == pytest.approx(1 / 210)
    assert "constant column (one distinct value)" in columns["constant"]["reasons"]
    assert columns["nothing"]["score"] == 0 and columns["nothing"]["reasons"] == [
        "all values are null"
    ]
    table_row = row_of(quality.tables["table_quality"], table="t")
    assert 0 < table_row["score"] < 100
    assert any("10 rows" in r and "duplicates" in r for r in table_row["reasons"])
    assert any("`nothing` scores 0" in r for r in table_row["reasons"])


def test_correlations_find_planted_numeric_categorical_and_mixed_associations():
    rng = np.random.default_rng(3)
    n = 4000
    x = rng.normal(size=n)
    y = 2 * x + rng.normal(scale=0.3, size=n)
    group = rng.choice(["a", "b", "c"], n)
    colour = np.where(group == "a", "red", np.where(group == "b", "green", "blue"))
    flip = rng.random(n) < 0.1
    colour[flip] = rng.choice(["red", "green", "blue"], flip.sum())
    x_text = x.astype(str).tolist()
    for i in range(0, n, 40):  # 100 missing x values: n counts pairwise non-null rows
        x_text[i] = ""
    table = raw_table(
        {
            "x": x_text,
            "y": y.astype(str).tolist(),
            "noise": rng.normal(size=n).astype(str).tolist(),
            "group": group.tolist(),
            "colour": colour.tolist(),
            "coin": rng.choice(["heads", "tails"], n).tolist(),
            "spend": (np.where(group == "a", 50.0, 10.0) + rng.normal(size=n)).astype(str).tolist(),
        }
    )
    result = run_phases({"t": table}, phases=(statistics, correlations))["correlations"]
    pairs = {
        (frozenset((r["column_a"], r["column_b"])), r["method"]): r
        for r in result.tables["correlations"].iter_rows(named=True)
    }

    def pair(a: str, b: str, method: str) -> dict:
        return pairs[(frozenset((a, b)), method)]

    assert pair("x", "y", "pearson")["value"] > 0.9
    assert pair("x", "y", "spearman")["value"] > 0.9
    assert pair("x", "y", "pearson")["n"] == n - 100
    assert abs(pair("x", "noise", "pearson")["value"]) < 0.1
    assert abs(pair("x", "noise", "spearman")["value"]) < 0.1
    assert pair("group", "colour", "cramers_v")["value"] > 0.8
    assert pair("group", "coin", "cramers_v")["value"] < 0.1
    assert pair("group", "spend", "correlation_ratio")["value"] > 0.9
    assert pair("coin", "spend", "correlation_ratio")["value"] < 0.1
    assert pair("group", "spend", "correlation_ratio")["column_a"] == "group"


def test_functional_dependencies_exact_and_approximate():
    rng = np.random.default_rng(4)
    n = 5000
    city_country = {f"city{i}": f"country{i % 6}" for i in range(40)}
    city = rng.choice(sorted(city_country), n)
    product = rng.choice([f"p{i}" for i in range(30)], n)
    category = np.array([f"cat{int(p[1:]) % 4}" for p in product])
    noisy = rng.choice(n, 50, replace=False)  # 1 % of rows break product -> category
    category[noisy] = "misfiled"
    table = raw_table(
        {
            "row_id": [str(i) for i in range(n)],
            "city": city.tolist(),
            "country": [city_country[c] for c in city],
            "product": product.tolist(),
            "category": category.tolist(),
            "constant": ["x"] * n,
            "qty": rng.integers(1, 5, n).astype(str).tolist(),
        }
    )
    result = run_phases({"t": table}, phases=(statistics, correlations))["correlations"]
    fds = {
        (tuple(r["determinant"]), r["dependent"]): r["support"]
        for r in result.tables["functional_dependencies"].iter_rows(named=True)
    }
    assert fds[(("city",), "country")] == 1.0
    assert 0.98 <= fds[(("product",), "category")] < 1.0
    assert fds[(("product",), "category")] == pytest.approx(1 - 50 / n, abs=0.002)
    assert (("country",), "city") not in fds
    assert not any(det == ("row_id",) for det, _ in fds), "a unique column is a trivial determinant"
    assert not any(dep == "constant" for _, dep in fds), "a constant is trivially determined"
    assert not any(dep == "qty" for _, dep in fds)


def test_correlations_sample_large_tables_and_recheck_exact_dependencies():
    n = 5000
    city = [f"c{i % 50}" for i in range(n)]
    region = [f"r{i % 50 % 5}" for i in range(n)]
    region[1234] = "elsewhere"  # one row breaks city -> region
    table = raw_table({"city": city, "region": region})
    result = run_phases(
        {"t": table}, {"correlation_sample_rows": 1000}, phases=(statistics, correlations)
    )["correlations"]
    assert "random sample of 1,000 of 5,000 rows" in result.summary
    fds = result.tables["functional_dependencies"]
    support = row_of(fds, dependent="region")["support"]
    assert 0.98 <= support < 1.0


def test_bad_input_gives_reasons_instead_of_crashing():
    tables = {
        "empty": raw_table({"a": [], "b": []}),
        "one_row": raw_table({"id": ["1"], "amount": ["12.5"], "when": ["2024-01-01"]}),
        "nulls": raw_table({"id": [str(i) for i in range(20)], "nothing": [None] * 20}),
        "huge_text": raw_table({"body": ["x" * 1_000_000, "y" * 1_000_000, "short"]}),
        "no_columns": pl.DataFrame({"_row_number": [1, 2, 3]}),
        "pretyped": pl.DataFrame(
            {
                "_row_number": [1, 2, 3, 4],
                "count": [1, 2, None, 4],
                "ratio": [0.5, float("inf"), float("nan"), 1.0],
                "tags": [["a"], ["b", "c"], [], None],
            }
        ),
    }
    results = run_phases(tables)
    typing_columns = results["typing"].tables["columns"]
    assert row_of(typing_columns, table="empty", column="a")["reason"] == "table is empty"
    assert row_of(typing_columns, table="nulls", column="nothing")["reason"] == (
        "all values are null"
    )
    assert row_of(typing_columns, table="huge_text", column="body")["type"] == "string"
    assert results["typing"].tables["typed__huge_text"]["body"][0] == "x" * 1_000_000
    table_quality = {
        r["table"]: r for r in results["statistical_quality"].tables["table_quality"].to_dicts()
    }
    assert table_quality["empty"]["reasons"] == ["table is empty"]
    assert any("single row" in r for r in table_quality["one_row"]["reasons"])
    assert any("`nothing` scores 0" in r for r in table_quality["nulls"]["reasons"])
    assert table_quality["no_columns"]["reasons"] == ["table has no columns"]
    long_max = row_of(results["statistics"].tables["columns"], table="huge_text", column="body")
    assert long_max["max_length"] == 1_000_000 and len(long_max["max"]) <= 200
    assert "`empty` is empty" in results["statistics"].summary
    assert "`one_row`: 1 rows, too few" in results["correlations"].summary
    pretyped = row_of(typing_columns, table="pretyped", column="count")
    assert (pretyped["type"], pretyped["reason"]) == ("integer", "typed by the source")
    assert results["typing"].tables["typed__pretyped"]["count"].dtype == pl.Int64
    assert row_of(results["statistics"].tables["columns"], column="tags")["distinct"] == 3
    nothing = row_of(results["semantic"].tables["semantic"], table="nulls", column="nothing")
    assert nothing["semantic_type"] is None and nothing["evidence"] == "all values are null"


def test_a_table_of_two_thousand_columns_profiles_in_a_few_seconds():
    rng = np.random.default_rng(1)
    columns = {}
    for i in range(2000):
        kind = i % 4
        if kind == 0:
            values = rng.integers(0, 100, 50).astype(str)
        elif kind == 1:
            values = rng.normal(size=50).round(4).astype(str)
        elif kind == 2:
            values = rng.choice(["a", "b", "c"], 50)
        else:
            values = (np.datetime64("2024-01-01") + rng.integers(0, 300, 50)).astype(str)
        columns[f"c{i}"] = values.tolist()
    table = raw_table(columns)
    results = run_phases({"wide": table})
    types = results["typing"].tables["columns"].group_by("type").len()
    assert dict(types.iter_rows()) == {"integer": 500, "float": 500, "string": 500, "date": 500}
    assert results["statistics"].tables["columns"].height == 2000
    assert "the 60 with the highest variance were compared" in results["correlations"].summary
    assert results["semantic"].tables["semantic"].height == 2000
    pairs = results["correlations"].tables["correlations"]
    assert pairs.filter(pl.col("method") == "pearson").height == 60 * 59 // 2
    assert math.isfinite(results["statistical_quality"].tables["table_quality"]["score"][0])
