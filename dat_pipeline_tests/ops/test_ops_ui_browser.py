"""The web UI end to end: dagster-webserver and dagster-daemon on a free loopback port over a temp
DAGSTER_HOME, the asset graph checked through GraphQL and rendered in Debian's chromium (driven by
Playwright, no browser download), a partitioned DAT materialization and a multi-window backfill
launched with the mutations the UI sends, and both sensors ticking. Screenshots go to the
git-ignored bench/out/screenshots/."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest
from helpers import write_trades
from ops_support import (
    LAUNCH_RUN,
    LOCATION,
    PROJECT,
    RUN_STATUS,
    dagster_ui,
    graphql,
    tail,
    wait_until,
)
from playwright.sync_api import sync_playwright

from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.settings import get_settings
from dat_pipeline.store import ControlStore

CHROMIUM = Path(os.environ.get("DAT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = PROJECT / "bench" / "out" / "screenshots"
REPO = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"}
WINDOWS = ["2024-01-01", "2024-01-02", "2024-01-03"]

ASSET_NODES = "{ assetNodes { assetKey { path } groupName } }"
LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""
BACKFILL_STATUS = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill { status numPartitions runs(limit: 20) { runId status } }
  }
}"""
SENSOR_TICKS = """
query($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    ... on Sensor { sensorState { status ticks(limit: 5) { status timestamp } } }
  }
}"""


@pytest.fixture
def ui_env(data_root: Path) -> dict[str, str]:
    """The data root with the sample files (Dagster home and store beside it) and three days of
    demo trades (what backfill.yaml reads): the environment of the webserver and the daemon."""
    (data_root / "inbox").mkdir()
    write_trades(data_root / "demo" / "trades.duckdb", 300, 3)
    return dict(os.environ)


def run_params(run_id: str) -> dict:
    """What the launchpad sends for "Materialize" of dat/discovery, partition `run_id`."""
    return {
        "selector": {
            **REPO,
            "jobName": "__ASSET_JOB",
            "assetSelection": [{"path": ["dat", "discovery"]}],
        },
        "runConfigData": {"ops": {"dat__discovery": {"config": {"lock": {"root": "sample"}}}}},
        "executionMetadata": {
            "tags": [
                {"key": "dagster/partition", "value": run_id},
                {"key": "dat/run", "value": run_id},
            ]
        },
        "mode": "default",
    }


@pytest.mark.e2e
@pytest.mark.slow
def test_ui_shows_every_group_runs_a_dat_stage_and_a_backfill_and_sensors_tick(
    ui_env: dict[str, str], tmp_path: Path
):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does, as root)")
    from dat_pipeline.definitions import defs

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with dagster_ui(ui_env, tmp_path) as port:
        base = f"http://127.0.0.1:{port}"

        # The asset graph, machine-checked: every group and every asset of the Definitions.
        nodes = graphql(port, ASSET_NODES)["assetNodes"]
        shown = {tuple(n["assetKey"]["path"]): n["groupName"] for n in nodes}
        graph = defs.resolve_asset_graph()
        expected = {tuple(k.path): graph.get(k).group_name for k in graph.get_all_asset_keys()}
        assert shown == expected
        groups = set(shown.values())
        assert {"dat", "ingestion", "backfill", "analysis"} <= groups
        print(f"\nasset groups in the UI: {sorted(groups)} ({len(shown)} assets)")
        graphql(port, "mutation { setNuxSeen }")

        # A partitioned materialization of a DAT stage, as the launchpad sends it.
        flow = DatWorkflow(ControlStore(get_settings().store_url), Path(ui_env["DAT_DATA_ROOT"]))
        run_id = flow.create_run(name="ui").run_id
        dg.DagsterInstance.get().add_dynamic_partitions("dat_runs", [run_id])
        launched = graphql(port, LAUNCH_RUN, {"params": run_params(run_id)})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        dagster_run = launched["run"]["runId"]

        # A multi-window backfill of the trades table, as the backfill dialog sends it.
        params = {
            "partitionNames": WINDOWS,
            "assetSelection": [
                {"path": ["backfill", "trades_sample"]},
                {"path": ["backfill", "trades"]},
            ],
            "fromFailure": False,
        }
        backfill = graphql(port, LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        assert backfill["__typename"] == "LaunchBackfillSuccess", backfill
        backfill_id = backfill["backfillId"]

        def run_done() -> str | None:
            status = graphql(port, RUN_STATUS, {"id": dagster_run})["runOrError"]["status"]
            return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None

        assert wait_until(run_done, 180, "the DAT run", 1) == "SUCCESS", tail(
            tmp_path / "daemon.log"
        )
        assert flow.stage_status(run_id, "discovery").completed

        def backfill_done() -> dict | None:
            data = graphql(port, BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
            return data if data["status"] not in ("REQUESTED",) else None

        finished = wait_until(backfill_done, 240, "the backfill", 1)
        assert finished["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), (
            finished,
            tail(tmp_path / "daemon.log"),
        )
        assert finished["runs"] and all(r["status"] == "SUCCESS" for r in finished["runs"])
        windows = sorted(
            p.stem
            for p in (Path(ui_env["DAT_DATA_ROOT"]) / "backfill" / "trades").glob("*.parquet")
        )
        assert windows == WINDOWS

        # Both sensors are on and have ticked.
        for sensor in ("dat_lock_sensor", "inbox_sensor"):

            def ticked(sensor: str = sensor) -> dict | None:
                selector = {**REPO, "sensorName": sensor}
                state = graphql(port, SENSOR_TICKS, {"selector": selector})["sensorOrError"][
                    "sensorState"
                ]
                return state if state["ticks"] else None

            state = wait_until(ticked, 120, f"a tick of {sensor}", 1)
            assert state["status"] == "RUNNING"
            assert state["ticks"][0]["status"] in ("SUCCESS", "SKIPPED"), state

        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{base}/asset-groups", wait_until="networkidle")
            for group in sorted(groups):  # the global lineage draws one box per group
                page.get_by_text(group, exact=True).first.wait_for(timeout=60_000)
            page.screenshot(path=str(SCREENSHOTS / "asset-graph.png"))
            page.goto(f"{base}/locations/{LOCATION}/asset-groups/dat", wait_until="networkidle")
            for key, group in shown.items():
                if group == "dat":
                    page.get_by_text(key[-1], exact=True).first.wait_for(timeout=60_000)
            page.screenshot(path=str(SCREENSHOTS / "dat-group.png"))
            page.goto(f"{base}/runs/{dagster_run}", wait_until="networkidle")
            page.get_by_text(dagster_run[:8]).first.wait_for(timeout=60_000)
            page.screenshot(path=str(SCREENSHOTS / "dat-run.png"))
            page.goto(f"{base}/runs/b/{backfill_id}", wait_until="networkidle")
            page.get_by_text(backfill_id).first.wait_for(timeout=60_000)
            page.screenshot(path=str(SCREENSHOTS / "backfill.png"))
            browser.close()
    for name in ("asset-graph.png", "dat-group.png", "dat-run.png", "backfill.png"):
        assert (SCREENSHOTS / name).stat().st_size > 10_000
    print(f"screenshots in {SCREENSHOTS}")
