"""What phases read through `analysis.inputs`: an absent upstream result is no information (never
an error), measures are the numeric columns the semantic result calls so, in its order."""

from __future__ import annotations

import polars as pl

from dat_pipeline.analysis.inputs import (
    column_roles,
    data_columns,
    role_measures,
    rows_by_column,
    summary_text,
    table_roles,
)
from dat_pipeline.analysis.phase import PhaseContext, PhaseResult

SEMANTIC = pl.DataFrame(
    {
        "table": ["sales", "sales", "sales", "sales", "stores"],
        "column": ["amount", "region", "note", "qty", "size"],
        "role": ["measure", "dimension", "measure", "measure", "measure"],
    }
)
SALES = pl.DataFrame(
    {
        "_row_number": [0, 1],
        "qty": [1, 2],
        "note": ["a", "b"],
        "amount": [1.5, 2.5],
        "region": ["n", "s"],
    }
)


def context(results: dict[str, PhaseResult]) -> PhaseContext:
    return PhaseContext("test", {"sales": SALES}, results)


def test_measures_are_numeric_measure_columns_in_the_semantic_order() -> None:
    ctx = context({"semantic": PhaseResult(tables={"semantic": SEMANTIC})})
    roles = column_roles(ctx)
    assert roles[("stores", "size")] == "measure"
    sales = table_roles(roles, "sales")
    assert list(sales) == ["amount", "region", "note", "qty"]
    assert role_measures(sales, SALES) == ["amount", "qty"]  # `note` is text


def test_an_absent_upstream_result_reads_as_nothing() -> None:
    ctx = context({"typing": PhaseResult(tables={})})
    assert ctx.upstream("semantic", "semantic") is None
    assert ctx.upstream("typing", "columns") is None
    assert column_roles(ctx) == {}
    assert rows_by_column(None, "sales") == {}


def test_rows_by_column_and_data_columns_and_the_skipped_line() -> None:
    rows = rows_by_column(SEMANTIC, "sales")
    assert rows["qty"]["role"] == "measure" and "size" not in rows
    assert data_columns(SALES) == ["qty", "note", "amount", "region"]
    assert summary_text(["**2 slices**"], []) == "**2 slices**"
    notes = [f"t{i}: no measure" for i in range(25)]
    text = summary_text(["**0 slices**"], notes)
    assert text.splitlines()[-1] == "Skipped: " + "; ".join(notes[:20])
