"""Generated pandera models and JSON Schemas round-trip on real extracted data; constraints merge
without duplicates and contradictions are clear errors."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pandera.errors
import pytest
import sqlalchemy as sa

from dat_pipeline.backfill.demo import generate_trades, load_trades
from dat_pipeline.reverse_etl import (
    ConstraintError,
    analyze_table,
    build_model_spec,
    parse_constraint,
    read_frame,
    rows_for_json,
    validate_frame,
    write_model,
)

CONSTRAINTS = [
    "ticker:valid_ticker",
    "side:allowed_values:BUY,SELL",
    "qty:positive",
    "qty:positive",
    "price:range:0:10000",
    "id:not_null",
]


def _import(path: Path, class_name: str) -> type:
    spec = importlib.util.spec_from_file_location(f"generated_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return getattr(module, class_name)


def test_generated_model_validates_real_data_and_catches_violations(
    db_url: str, tmp_path: Path
) -> None:
    engine = sa.create_engine(db_url)
    load_trades(engine, generate_trades(400))
    info = analyze_table(engine, "trades")
    spec = build_model_spec(info, CONSTRAINTS)
    paths = write_model(spec, tmp_path / "models")
    ruff = Path(sys.executable).with_name("ruff")
    check = subprocess.run([ruff, "format", "--check", str(paths["pandera"])], capture_output=True)
    assert check.returncode == 0, check.stdout
    model = _import(paths["pandera"], spec.class_name)
    schema = json.loads(paths["json_schema"].read_text())
    validator = jsonschema.Draft202012Validator(schema)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["x-primary-key"] == ["id"] and schema["properties"]["id"]["x-unique"]
    # DuckDB keeps no VARCHAR length; the others do.
    assert schema["properties"]["ticker"].get("maxLength") == (None if "duckdb" in db_url else 5)
    assert schema["properties"]["side"]["enum"] == ["BUY", "SELL"]
    assert schema["properties"]["qty"]["exclusiveMinimum"] == 0

    with engine.connect() as connection:
        frame = read_frame(connection, info)
    model.validate(frame)
    assert all(not list(validator.iter_errors(row)) for row in rows_for_json(frame))

    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO trades (id, ticker, side, qty, price, ts) "
                "VALUES (100001, 'AAPL', 'HOLD', -5, 10, NULL)"
            )
        )
    with engine.connect() as connection:
        frame = read_frame(connection, info)
    engine.dispose()
    with pytest.raises(pandera.errors.SchemaErrors):
        model.validate(frame, lazy=True)
    bad = next(r for r in rows_for_json(frame) if r["id"] == 100001)
    messages = " ".join(e.message for e in validator.iter_errors(bad))
    assert "'HOLD' is not one of" in messages and "-5 is less than or equal to" in messages
    report = validate_frame(spec, frame)
    assert report.rows == 401 and report.valid_rows == 400
    assert {(f["column"], f["examples"][0]["id"]) for f in report.failures} == {
        ("side", 100001),
        ("qty", 100001),
    }


def test_constraints_merge_without_duplicates(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'm.sqlite'}")
    load_trades(engine, generate_trades(10))
    info = analyze_table(engine, "trades")
    spec = build_model_spec(
        info, ["qty:positive", "qty:positive", "qty:non_negative", "qty:range:5:", "qty:range::50"]
    )
    rules = {f.name: f.rules for f in spec.fields}["qty"]
    assert (rules.lower.value, rules.lower.inclusive, rules.upper.value) == (5, True, 50)
    assert rules.applied == ["positive", "non_negative", "range:5:", "range::50"]
    assert spec.constraints.count("qty:positive") == 1


@pytest.mark.parametrize(
    ("constraints", "message"),
    [
        (["qty:positive", "qty:range:-10:-1"], "positive and range:-10:-1 leave no valid value"),
        (["qty:range:1:2", "qty:range:3:4"], "leave no valid value"),
        (["ticker:valid_ticker", "ticker:email"], "can never both hold"),
        (["side:allowed_values:BUY,SELL", "side:allowed_values:HOLD"], "never allows"),
        (["qty:allowed_values:-1,2", "qty:positive"], "allowed value -1"),
        (["ticker:positive"], "applies to integer or decimal or float columns only"),
        (["qty:email"], "applies to string columns only"),
        (["nope:unique"], "column 'nope' does not exist"),
        (["qty:rangee"], "unknown name 'rangee'"),
        (["qty:range:a:b"], "is not a number"),
        (["ticker:regex:[unclosed"], "invalid regular expression"),
        (["qty"], "must look like COLUMN:NAME"),
    ],
)
def test_bad_or_contradictory_constraints_are_clear_errors(
    tmp_path: Path, constraints: list[str], message: str
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'c.sqlite'}")
    load_trades(engine, generate_trades(5))
    info = analyze_table(engine, "trades")
    with pytest.raises(ConstraintError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_model_spec(info, constraints)


def test_regex_keeps_colons_and_anchors_like_pandera() -> None:
    constraint = parse_constraint("code:regex:^[A-Z]{2}:\\d+$")
    assert constraint.args == ("^[A-Z]{2}:\\d+$",)
