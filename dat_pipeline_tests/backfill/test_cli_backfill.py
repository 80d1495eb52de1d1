"""`dat db analyze|model` and `dat backfill plan|run|status|manifest` against a stored source."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from helpers import write_trades
from typer.testing import CliRunner

from dat_pipeline.cli import app
from dat_pipeline.sources import add_database_source, make_source
from dat_pipeline.store import open_store

runner = CliRunner()
JAN = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def demo(data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_trades(data_root / "db" / "trades.sqlite", 300, 10)
    source = make_source(name="demo", kind="sqlite", database="db/trades.sqlite")
    add_database_source(open_store(), source, None)
    config = tmp_path / "backfill.yaml"
    config.write_text(
        "tables:\n  - name: trades\n    source: demo\n    table: trades\n    time_column: ts\n"
        "    start: 2024-01-01\n    constraints: [ticker:valid_ticker, qty:positive]\n"
    )
    monkeypatch.setenv("DAT_BACKFILL_CONFIG", str(config))
    return config


def ok(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr or result.output
    return json.loads(result.stdout)


def test_db_analyze_and_model(demo: Path, tmp_path: Path) -> None:
    info = ok("db", "analyze", "demo", "trades")
    assert info["table"] == "trades" and info["row_count"] == 300
    assert (
        info["primary_key"] == ["id"] and info["foreign_keys"][0]["ref_table"] == "trades_tickers"
    )
    model = ok("db", "model", "demo", "trades", "-c", "qty:positive", "--out", str(tmp_path / "m"))
    assert Path(model["pandera"]).is_file() and Path(model["json_schema"]).is_file()
    assert model["class_name"] == "TradesModel"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["db", "analyze", "demo", "trades; DROP TABLE trades"], "does not exist"),
        (["db", "analyze", "nobody", "trades"], "nobody"),
        (
            [
                "db",
                "model",
                "demo",
                "trades",
                "-c",
                "qty:positive",
                "-c",
                "qty:range:-10:-1",
                "--out",
                "x",
            ],
            "contradictory constraints on column 'qty'",
        ),
        (
            ["backfill", "plan", "ghost", "--start", "2024-01-01", "--end", "2024-01-02"],
            "no table 'ghost'",
        ),
        (
            ["backfill", "plan", "trades", "--start", "2024-01-09", "--end", "2024-01-02"],
            "is not after",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_code_1(demo: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_backfill_plan_run_status_manifest(demo: Path) -> None:
    plan = ok("backfill", "plan", "trades", "--start", "2024-01-01", "--end", "2024-01-08")
    assert plan["window_count"] == 7 and plan["runs"] == 1
    assert sum(w["estimated_rows"] for w in plan["windows"]) == plan["estimated_rows"] > 0

    submitted = ok("backfill", "run", "trades", "--start", "2024-01-01", "--end", "2024-01-08")
    assert submitted["windows"] == 7 and submitted["first"] == "2024-01-01"
    with dg.DagsterInstance.get() as instance:
        assert instance.get_backfill(submitted["backfill_id"]) is not None

    status = ok("backfill", "status", "trades", "--end", "2024-01-08")
    assert (status["done"], status["failed"], status["missing"]) == (0, 0, 7)
    assert ok("backfill", "manifest", "trades")["records"] == []
