"""Helpers shared by the test folders (imported as `helpers`): the CLI with `--json`, scratch
databases on the local servers, demo trades files, stage building, workbooks, and the contract
sets several tests pin. Heavy imports stay inside the functions: conftest.py imports this."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services import require_service
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    import openpyxl
    import polars as pl

    from dat_pipeline.dat.workflow import DatWorkflow

JAN = datetime(2024, 1, 1, tzinfo=UTC)

# The analysis report's sections that every front-end returns (SPEC 6).
REPORT_SECTIONS = {
    "source",
    "tables",
    "candidate_keys",
    "relationships",
    "correlations",
    "functional_dependencies",
    "temporal",
    "cycles",
    "turning_points",
    "slices",
    "topology",
    "quality",
    "validation",
}
# Every cleaning rule type (SPEC 3).
RULE_TYPES = {
    "NOT_NULL",
    "RANGE",
    "REGEX",
    "DEDUPE",
    "ALLOWED_VALUES",
    "TRIM",
    "CASE",
    "FILL_NULL",
    "CAST",
}


def dat(*args: str) -> dict:
    """`dat ARGS --json` in this process; its JSON answer (fails the test on a non-zero exit)."""
    from typer.testing import CliRunner

    from dat_pipeline.cli import app

    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr or result.output
    return json.loads(result.stdout)


@contextmanager
def scratch(admin_url: str, service: str, port: int, create: str, drop: str) -> Iterator[None]:
    """Run `create` on a local server as its admin, and `drop` afterwards (skips when the server
    is not there, fails under DAT_REQUIRE_SERVICES=1)."""
    require_service(service, make_url(admin_url).port or port)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(create))
    try:
        yield
    finally:
        with admin.connect() as connection:
            connection.execute(text(drop))
        admin.dispose()


def execute(url: str, *statements: str) -> None:
    """Run `statements` in one transaction on the database at `url`."""
    engine = create_engine(url)
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


def write_trades(path: Path, rows: int, days: int) -> None:
    """`rows` demo trades over `days` days from Jan 1 2024 in a new SQLite file, or a DuckDB file
    when `path` ends in .duckdb."""
    from dat_pipeline.backfill.demo import generate_trades, load_trades

    path.parent.mkdir(parents=True, exist_ok=True)
    kind = "duckdb" if path.suffix == ".duckdb" else "sqlite"
    engine = create_engine(f"{kind}:///{path}")
    load_trades(engine, generate_trades(rows, start=JAN, end=JAN + timedelta(days=days)))
    engine.dispose()


def build(flow: DatWorkflow, run: str, stage: str, config: dict, log: Any = None) -> pl.DataFrame:
    """Lock `stage` of `run` with `config`, materialize it, return its artifact."""
    flow.lock(run, stage, config)
    flow.materialize(run, stage, log=log)
    return flow.load_artifact(run, stage)


def lock_through_table_selection(
    flow: DatWorkflow, tables: dict[str, list[str]], root: str = "sample", **table_selection: Any
) -> str:
    """A new run of `flow` built from discovery of `root` to the selection of `tables` (file ->
    table patterns); its id."""
    run = flow.create_run().run_id
    for stage, config in (
        ("discovery", {"root": root}),
        ("selection", {"files": sorted(tables)}),
        ("table_availability", {}),
        ("table_selection", {"tables": tables, **table_selection}),
    ):
        build(flow, run, stage, config)
    return run


def workbook_of(title: str, rows: Iterable[list]) -> openpyxl.Workbook:
    """A workbook whose first sheet, `title`, holds `rows`."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    return book
