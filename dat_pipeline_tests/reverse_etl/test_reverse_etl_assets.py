"""The reverse ETL Dagster layer on a real instance: the model asset writes the pandera model and
JSON Schema with the catalog in its metadata and a data version that follows the model text, the
backfill assets go stale when the model changes, and `model_valid` enforces the model on the
extracted windows (passing, blocking on planted bad rows, warning under the threshold)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import sqlalchemy as sa
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContextForTest

from dat_pipeline.backfill.config import BackfillConfig, load_config
from dat_pipeline.backfill.demo import generate_trades, load_trades
from dat_pipeline.defs.backfill import (
    BACKFILL_CONFIG,
    BackfillResource,
    asset_key,
    build_backfill_defs,
    sample_key,
)
from dat_pipeline.defs.reverse_etl import CHECK_NAME, build_reverse_etl_defs, model_key
from dat_pipeline.files import write_parquet_atomic
from dat_pipeline.reverse_etl.model import JSON_SCHEMA_DIALECT, load_model

JAN = datetime(2024, 1, 1, tzinfo=UTC)
ROWS = 200  # over 5 days: about 40 rows a day
CHECK_KEY = dg.AssetCheckKey(asset_key("trades"), CHECK_NAME)
# A window run: the sample, the extraction and the model check (not the model asset).
WINDOW = dg.AssetSelection.assets(sample_key("trades"), asset_key("trades")) | (
    dg.AssetSelection.checks(CHECK_KEY)
)


@pytest.fixture(params=["duckdb", "sqlite"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database(kind: str, data_root: Path) -> str:
    path = data_root / "db" / f"trades.{kind}"
    path.parent.mkdir(parents=True)
    url = f"{kind}:///{path}"
    _execute(
        url,
        lambda engine: load_trades(
            engine, generate_trades(ROWS, start=JAN, end=JAN + timedelta(days=5))
        ),
    )
    return url


def _execute(url: str, action) -> None:
    """One engine per change, disposed at once: DuckDB refuses a read-only connection to a file
    that a read-write one still holds."""
    engine = sa.create_engine(url)
    try:
        if callable(action):
            action(engine)
        else:
            with engine.begin() as connection:
                connection.execute(*action)
    finally:
        engine.dispose()


@pytest.fixture
def config(
    kind: str, database: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> BackfillConfig:
    file = tmp_path / "backfill.yaml"
    file.write_text(
        "tables:\n  - name: trades\n"
        f"    source: {{kind: {kind}, database: db/trades.{kind}}}\n"
        "    table: trades\n    time_column: ts\n    start: 2024-01-01\n    end: 2024-02-01\n"
        "    constraints:\n      - ticker:valid_ticker\n      - side:allowed_values:BUY,SELL\n"
        "      - qty:positive\n"
        "    sample_size: 5\n    threshold: 0.9\n"
    )
    monkeypatch.setenv("DAT_BACKFILL_CONFIG", str(file))
    return load_config()


def _defs(config: BackfillConfig) -> dg.Definitions:
    return dg.Definitions.merge(build_reverse_etl_defs(config), build_backfill_defs(config))


def _run(defs: dg.Definitions, instance: dg.DagsterInstance, selection, **kwargs: object):
    return dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=selection,
        instance=instance,
        resources={"backfill": BackfillResource()},
        raise_on_error=False,
        **kwargs,
    )


def _model_event(instance: dg.DagsterInstance) -> dg.AssetMaterialization:
    return instance.get_latest_materialization_event(model_key("trades")).asset_materialization


def _status(instance: dg.DagsterInstance, defs: dg.Definitions, key: dg.AssetKey) -> StaleStatus:
    resolver = CachingStaleStatusResolver(
        instance, defs.resolve_asset_graph(), LoadingContextForTest(instance)
    )
    return resolver.get_status(key, "2024-01-02")


def test_model_asset_writes_model_and_schema_with_catalog_metadata(
    config: BackfillConfig, data_root: Path
) -> None:
    defs = _defs(config)
    with dg.instance_for_test() as instance:
        assert _run(defs, instance, [model_key("trades")]).success
        materialization = _model_event(instance)
        metadata = materialization.metadata
        python = data_root / "models" / "trades" / "trades_model.py"
        schema = data_root / "models" / "trades" / "trades.schema.json"
        assert metadata["pandera_path"].value == str(python)
        assert metadata["json_schema_path"].value == str(schema)
        text = python.read_text()
        version = hashlib.sha256(text.encode()).hexdigest()
        assert materialization.tags["dagster/data_version"] == version
        assert metadata["primary_key"].value == ["id"]
        assert metadata["foreign_keys"].value[0]["ref_table"] == "trades_tickers"
        assert metadata["row_count"].value == ROWS
        assert metadata["row_count_estimated"].value is False
        assert metadata["constraints"].value == list(config.table("trades").constraints)
        assert "| `ticker` |" in metadata["columns"].value
        assert 'isin=["BUY", "SELL"]' in metadata["model"].value
        # Same catalog and constraints: same model text, same data version.
        assert _run(defs, instance, [model_key("trades")]).success
        assert _model_event(instance).tags["dagster/data_version"] == version
    document = json.loads(schema.read_text())
    assert document["$schema"] == JSON_SCHEMA_DIALECT and document["x-primary-key"] == ["id"]
    assert document["properties"]["ticker"]["pattern"] == "^[A-Z]{1,5}$"
    model = load_model(text, metadata["class_name"].value)
    good = pl.DataFrame({"id": [1], "ticker": ["AAPL"], "side": ["BUY"], "qty": [3]})
    good = good.with_columns(price=pl.lit(1.5), ts=pl.lit(JAN))
    model.validate(good)
    with pytest.raises(Exception, match="ticker"):
        model.validate(good.with_columns(ticker=pl.lit("bad")))


def test_extracted_window_passes_the_model_check_and_goes_stale_with_a_new_model(
    config: BackfillConfig, database: str, data_root: Path
) -> None:
    defs = _defs(config)
    with dg.instance_for_test() as instance:
        assert _run(defs, instance, [model_key("trades")]).success
        result = _run(defs, instance, WINDOW, partition_key="2024-01-02")
        assert result.success
        [sample, check] = result.get_asset_check_evaluations()
        assert (sample.check_name, check.check_name) == ("sample_valid", CHECK_NAME)
        assert check.passed and check.asset_key == asset_key("trades")
        assert check.metadata["model"].value == str(data_root / "models/trades/trades_model.py")
        rows = pl.read_parquet(data_root / "backfill/trades/2024-01-02.parquet").height
        assert rows > 20 and check.metadata["rows"].value == rows
        assert _status(instance, defs, sample_key("trades")) == StaleStatus.FRESH

        # The catalog changes, so does the model.
        _execute(database, (sa.text("ALTER TABLE trades ADD COLUMN venue VARCHAR(8)"),))
        before = _model_event(instance).tags["dagster/data_version"]
        assert _run(defs, instance, [model_key("trades")]).success
        assert _model_event(instance).tags["dagster/data_version"] != before
        assert _status(instance, defs, sample_key("trades")) == StaleStatus.STALE


def test_model_check_blocks_on_bad_rows_behind_a_clean_sample(
    config: BackfillConfig, database: str, data_root: Path
) -> None:
    bad_rows = sa.text("UPDATE trades SET side = 'HOLD' WHERE ts >= :a AND ts < :b")
    # Most of Jan 3 breaks the model; its 5-row sample (the earliest rows) stays clean.
    _execute(database, (bad_rows, {"a": "2024-01-03 08:00:00", "b": "2024-01-04 00:00:00"}))
    defs = _defs(config)
    with dg.instance_for_test() as instance:  # no model materialized: built from the catalog
        result = _run(defs, instance, WINDOW, partition_key="2024-01-03")
        assert not result.success
        check = next(e for e in result.get_asset_check_evaluations() if e.check_name == CHECK_NAME)
        assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
        assert check.metadata["model"].value == "generated in memory from the catalog"
        assert check.metadata["failing_windows"].value == ["2024-01-03"]
        failure = check.metadata["failures"].value["2024-01-03"]["failures"][0]
        assert failure["column"] == "side" and failure["examples"][0]["side"] == "HOLD"
        assert check.metadata["scores"].value["2024-01-03"] < config.table("trades").threshold
    assert (data_root / "backfill/trades/2024-01-03.parquet").is_file()


def test_model_check_warns_on_a_planted_row_under_the_threshold(
    config: BackfillConfig, data_root: Path
) -> None:
    defs = _defs(config)
    window = data_root / "backfill/trades/2024-01-02.parquet"
    with dg.instance_for_test() as instance:
        assert _run(defs, instance, WINDOW, partition_key="2024-01-02").success
        frame = pl.read_parquet(window)
        planted = frame.with_columns(
            qty=pl.when(pl.col("id") == frame["id"][0]).then(-1).otherwise(pl.col("qty"))
        )
        write_parquet_atomic(window, planted)
        # The check alone on that window (a check-only run takes its partition as a tag).
        only_check = dg.AssetSelection.checks(CHECK_KEY)
        result = _run(defs, instance, only_check, tags={"dagster/partition": "2024-01-02"})
        assert result.success  # a WARN does not block
        [check] = result.get_asset_check_evaluations()
        assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
        assert check.metadata["invalid_rows"].value == 1
        failure = check.metadata["failures"].value["2024-01-02"]["failures"][0]
        assert failure["column"] == "qty" and failure["examples"][0]["qty"] == -1


def test_code_location_has_the_reverse_etl_group() -> None:
    from dat_pipeline.definitions import defs

    names = [table.name for table in BACKFILL_CONFIG.tables]  # the repository's backfill.yaml
    assert names, "backfill.yaml configures no table"
    graph = defs.resolve_asset_graph()
    keys = {key for key in graph.get_all_asset_keys() if key.path[0] == "reverse_etl"}
    assert keys == {model_key(name) for name in names}
    for name in names:
        node = graph.get(model_key(name))
        assert node.group_name == "reverse_etl" and node.owners == ["team:data-platform"]
        assert node.description and node.code_version and not node.is_partitioned
        assert {"dagster/kind/python", "dagster/kind/pandera"} <= set(node.tags)
        assert graph.get(sample_key(name)).parent_keys == {model_key(name)}
        assert dg.AssetCheckKey(asset_key(name), CHECK_NAME) in graph.asset_check_keys
