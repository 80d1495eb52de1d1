"""The DAT workflow over HTTP: the real app on a temp data root and Dagster home."""

from __future__ import annotations

import json
import time
from pathlib import Path

import dagster as dg
import polars as pl
from api_support import Api
from typer.testing import CliRunner

from dat_pipeline.cli import app as cli_app
from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.settings import get_settings
from dat_pipeline.store import open_store


def _lock(api: Api, run: str, stage: str, config: dict | None, expect: int = 200) -> dict:
    return api.ok(
        "POST", f"/api/dat/runs/{run}/stages/{stage}/lock", expect, json={"config": config}
    )


def _materialize_and_wait(api: Api, run: str) -> dict:
    done = api.ok("POST", f"/api/dat/runs/{run}/materialize?wait=true")
    assert done["job"]["status"] == "SUCCESS", done
    return done


def test_whole_workflow_over_http_from_run_creation_to_export(api: Api, data_root: Path):
    run = api.ok("POST", "/api/dat/runs", 201, json={"name": "Q1 Sales"})
    run_id = run["run_id"]
    assert run_id.startswith("q1-sales-") and run["project"] == "alpha"
    with dg.DagsterInstance.get() as instance:
        assert instance.has_dynamic_partition("dat_runs", run_id)

    _lock(api, run_id, "discovery", {"root": "sample"})
    _materialize_and_wait(api, run_id)
    catalog = api.ok("GET", f"/api/dat/runs/{run_id}/stages/discovery/artifact?limit=100")
    paths = {row["path"] for row in catalog["rows"]}
    assert catalog["row_count"] == len(paths) and "sample/sales_2024_q1.csv" in paths

    # Two files with the same columns: the dataset unions them into one table (one file a format).
    files = ["sample/sales_2024_q1.csv", "sample/sales_2024_q2_semicolon.csv"]
    _lock(api, run_id, "selection", {"files": files})
    skipped = api.ok("POST", f"/api/dat/runs/{run_id}/stages/context/skip")
    assert skipped["state"] == "LOCKED" and skipped["completed"] is True
    _lock(api, run_id, "table_availability", {})
    done = _materialize_and_wait(api, run_id)
    assert done["materialized"] == ["selection", "table_availability"]
    probes = api.ok("GET", f"/api/dat/runs/{run_id}/stages/table_availability/artifact")["rows"]
    assert {p["path"] for p in probes} == set(files)
    assert all(p["status"] == "available" for p in probes)

    tables = {p["path"]: [p["table"]] for p in probes}
    _lock(api, run_id, "table_selection", {"tables": tables})
    _lock(api, run_id, "parse", {})
    assert _materialize_and_wait(api, run_id)["materialized"] == ["table_selection", "parse"]

    _lock(api, run_id, "export", {"formats": ["csv"], "name": "q1"})
    accepted = api.ok("POST", f"/api/dat/runs/{run_id}/materialize", 202)
    assert accepted["materialized"] == ["export"]
    job_id = accepted["job"]["job_id"]
    deadline = time.monotonic() + 240
    while (job := api.ok("GET", f"/api/dat/jobs/{job_id}"))["status"] not in ("SUCCESS", "FAILURE"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    assert job["status"] == "SUCCESS" and job["run_id"] == run_id and job["stages"] == ["export"]

    exported = api.ok("GET", f"/api/dat/runs/{run_id}/export")
    data = pl.read_parquet(data_root / exported["files"]["parquet"])
    assert exported["row_count"] == data.height == exported["manifest"]["row_count"] > 0
    assert {entry["source_file"] for entry in exported["manifest"]["lineage"]} == set(files)
    csv = api.call("GET", f"/api/dat/runs/{run_id}/export/files/csv")
    assert csv.status_code == 200
    assert pl.read_csv(csv.content).shape == data.shape
    assert api.call("GET", f"/api/dat/runs/{run_id}/export/files/excel").status_code == 404

    shown = api.ok("GET", f"/api/dat/runs/{run_id}")
    assert [s["stage"] for s in shown["stages"] if not s["completed"]] == ["preview"]
    assert api.ok("GET", f"/api/dat/runs/{run_id}/stages")["stages"] == shown["stages"]
    kinds = [e["kind"] for e in api.ok("GET", f"/api/dat/runs/{run_id}/events")["events"]]
    assert kinds[0] == "run_created" and kinds.count("complete") >= 6


def test_a_two_table_export_serves_each_table_file_and_one_workbook(api: Api, data_root: Path):
    run_id = api.ok("POST", "/api/dat/runs", 201, json={"name": "two tables"})["run_id"]
    files = ["sample/sales_2024_q1.csv", "sample/stores.tsv"]
    configs = {"discovery": {"root": "sample"}, "selection": {"files": files}}
    for stage, config in configs.items():
        _lock(api, run_id, stage, config)
    api.ok("POST", f"/api/dat/runs/{run_id}/stages/context/skip")
    _lock(api, run_id, "table_availability", {})
    _materialize_and_wait(api, run_id)
    probes = api.ok("GET", f"/api/dat/runs/{run_id}/stages/table_availability/artifact")["rows"]
    _lock(api, run_id, "table_selection", {"tables": {p["path"]: [p["table"]] for p in probes}})
    _lock(api, run_id, "parse", {})
    _materialize_and_wait(api, run_id)
    _lock(api, run_id, "export", {"formats": ["csv", "excel"]})
    _materialize_and_wait(api, run_id)

    exported = api.ok("GET", f"/api/dat/runs/{run_id}/export")
    tables = exported["manifest"]["tables"]
    assert len(tables) == len(exported["files"]["csv"]) == 2
    url = f"/api/dat/runs/{run_id}/export/files"
    for table in tables:
        csv = api.call("GET", f"{url}/csv/{table['name']}")
        assert csv.status_code == 200, csv.text
        parquet = pl.read_parquet(data_root / table["files"]["parquet"])
        assert (
            pl.read_csv(csv.content).shape
            == parquet.shape
            == (table["row_count"], len(parquet.columns))
        )
        assert (
            api.call("GET", f"{url}/parquet/{table['name']}").content
            == (data_root / table["files"]["parquet"]).read_bytes()
        )
    several = api.call("GET", f"{url}/csv")
    assert several.status_code == 400
    assert all(table["name"] in several.json()["error"]["message"] for table in tables)
    workbook = api.call("GET", f"{url}/excel")
    assert workbook.status_code == 200
    assert workbook.content == api.call("GET", f"{url}/excel/{tables[1]['name']}").content
    assert api.call("GET", f"{url}/csv/no_such_table").status_code == 404
    assert api.call("GET", f"{url}/csv/{tables[0]['name']}", project="beta").status_code == 404


def test_lock_with_unmet_gate_answers_409_naming_the_missing_stage(api: Api):
    run_id = api.ok("POST", "/api/dat/runs", 201, json={})["run_id"]
    response = api.call(
        "POST", f"/api/dat/runs/{run_id}/stages/selection/lock", json={"config": {"files": []}}
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "gate" and "discovery is not locked" in error["message"]
    assert error["details"]["missing_stage"] == "discovery"

    _lock(api, run_id, "discovery", {"root": "sample"})
    assert api.call("POST", f"/api/dat/runs/{run_id}/stages/parse/skip").status_code == 409
    bad = api.call(
        "POST", f"/api/dat/runs/{run_id}/stages/discovery/lock", json={"config": {"nope": 1}}
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_config"
    assert "nope" in bad.json()["error"]["message"]


def test_a_token_sees_only_its_projects_runs(api: Api, data_root: Path):
    alpha_run = api.ok("POST", "/api/dat/runs", 201, json={"name": "a"})["run_id"]
    cli_run = DatWorkflow(open_store(), get_settings().data_root).create_run(name="from cli")

    hidden = api.call("GET", f"/api/dat/runs/{alpha_run}", project="beta")
    missing = api.call("GET", "/api/dat/runs/no-such-run", project="beta")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["message"].replace(alpha_run, "X") == missing.json()["error"][
        "message"
    ].replace("no-such-run", "X")
    lock = api.call(
        "POST", f"/api/dat/runs/{alpha_run}/stages/discovery/lock", project="beta", json={}
    )
    assert lock.status_code == 404
    assert api.ok("GET", "/api/dat/runs", project="beta")["runs"] == []
    assert [r["run_id"] for r in api.ok("GET", "/api/dat/runs")["runs"]] == [alpha_run]
    assert [r["run_id"] for r in api.ok("GET", "/api/dat/runs", project="default")["runs"]] == [
        cli_run.run_id
    ]
    assert api.call("GET", f"/api/dat/runs/{cli_run.run_id}").status_code == 404

    forbidden = api.call("POST", "/api/dat/runs", json={"project": "beta"})
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden"
    both = api.call("POST", "/api/dat/runs", project="alpha,beta", json={"project": "beta"})
    assert both.status_code == 201 and both.json()["project"] == "beta"


def test_requests_without_a_valid_token_get_401_and_health_is_open(api: Api):
    client = api.client
    assert client.get("/health").json()["status"] == "ok"
    missing = client.get("/api/dat/runs")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
    assert missing.headers["www-authenticate"] == "Bearer"
    token = api.token("alpha")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert (
        client.get("/api/dat/runs", headers={"Authorization": f"Bearer {forged}"}).status_code
        == 401
    )
    assert client.get("/api/dat/runs", headers={"Authorization": "Bearer junk"}).status_code == 401
    assert (
        client.get("/api/dat/runs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    )


def test_tokens_cli_create_list_revoke(api: Api):
    runner = CliRunner()
    created = runner.invoke(cli_app, ["tokens", "create", "--project", "gamma", "--json"])
    assert created.exit_code == 0, created.output
    token = json.loads(created.stdout)
    headers = {"Authorization": f"Bearer {token['token']}"}
    assert api.client.get("/api/dat/runs", headers=headers).status_code == 200

    listed = json.loads(runner.invoke(cli_app, ["tokens", "list", "--json"]).stdout)["tokens"]
    assert [t["token_id"] for t in listed] == [token["token_id"]]
    assert "token" not in listed[0] and token["token"] not in json.dumps(listed)

    revoked = runner.invoke(cli_app, ["tokens", "revoke", token["token_id"], "--json"])
    assert revoked.exit_code == 0 and json.loads(revoked.stdout)["active"] is False
    assert api.client.get("/api/dat/runs", headers=headers).status_code == 401
    assert json.loads(runner.invoke(cli_app, ["tokens", "list", "--json"]).stdout)["tokens"] == []
    bad = runner.invoke(cli_app, ["tokens", "create", "--project", "Not A Project"])
    assert bad.exit_code == 1 and "project" in bad.stderr


def test_profiles_crud_and_cleanup_dry_run_then_apply(api: Api, data_root: Path):
    body = {
        "name": "sales",
        "root": "sample",
        "include": ["sales_*.csv"],
        "export_formats": ["csv"],
    }
    saved = api.ok("POST", "/api/dat/profiles", 201, json=body)
    again = api.ok("POST", "/api/dat/profiles", 201, json=body)
    assert saved["created"] is True and again["created"] is False
    assert again["profile_id"] == saved["profile_id"]
    assert api.ok("GET", "/api/dat/profiles/sales")["profile_id"] == saved["profile_id"]
    replaced = api.ok("PUT", "/api/dat/profiles/sales", json={**body, "include": ["*.csv"]})
    assert replaced["changed"] is True and replaced["previous_id"] == saved["profile_id"]
    assert [p["profile_id"] for p in api.ok("GET", "/api/dat/profiles")["profiles"]] == [
        replaced["profile_id"]
    ]
    invalid = api.call("POST", "/api/dat/profiles", json={"name": "x", "export_formats": ["pdf"]})
    assert invalid.status_code == 422 and "pdf" in invalid.json()["error"]["message"]

    run = api.ok("POST", "/api/dat/runs", 201, json={"profile": "sales"})
    assert run["profile_id"] == replaced["profile_id"] and run["follow"] is True
    run_id = run["run_id"]
    discovery = _lock(api, run_id, "discovery", None)
    assert discovery["config"]["include"] == ["*.csv"]
    _materialize_and_wait(api, run_id)
    _lock(api, run_id, "discovery", {"root": "sample", "include": ["stores.tsv"]})
    plan = api.ok("GET", f"/api/dat/runs/{run_id}/cleanup")
    assert plan["applied"] is False and plan["count"] == 1
    assert plan["items"][0]["path"].endswith(f"{discovery['stage_id']}.parquet")
    assert (data_root / plan["items"][0]["path"]).is_file()
    applied = api.ok("POST", f"/api/dat/runs/{run_id}/cleanup")
    assert applied["applied"] is True and applied["items"] == plan["items"]
    assert not (data_root / plan["items"][0]["path"]).exists()

    assert api.ok("DELETE", "/api/dat/profiles/sales")["deleted"] == sorted(
        [saved["profile_id"], replaced["profile_id"]]
    )
    assert api.call("GET", "/api/dat/profiles/sales").status_code == 404


def test_a_run_created_by_the_cli_for_a_project_is_that_projects(api: Api):
    runner = CliRunner()
    made = runner.invoke(
        cli_app, ["runs", "create", "--name", "mine", "--project", "mine", "--json"]
    )
    assert made.exit_code == 0, made.output
    run = json.loads(made.stdout)
    assert run["project"] == "mine"
    assert [r["run_id"] for r in api.ok("GET", "/api/dat/runs", project="mine")["runs"]] == [
        run["run_id"]
    ]
    assert api.ok("GET", "/api/dat/runs", project="default")["runs"] == []
    listed = json.loads(runner.invoke(cli_app, ["runs", "list", "--json"]).stdout)["runs"]
    assert [(r["run_id"], r["project"]) for r in listed] == [(run["run_id"], "mine")]
    bad = runner.invoke(cli_app, ["runs", "create", "--project", "Not A Project"])
    assert bad.exit_code == 1 and "Not A Project" in bad.stderr


def test_materializing_an_unlocked_stage_is_one_gate_error_in_the_api_and_the_cli(api: Api):
    run_id = api.ok("POST", "/api/dat/runs", 201, json={"project": "default"}, project="default")[
        "run_id"
    ]
    answer = api.call(
        "POST", f"/api/dat/runs/{run_id}/materialize", project="default", json={"stage": "parse"}
    )
    assert answer.status_code == 409
    error = answer.json()["error"]
    assert error["code"] == "gate"
    assert error["details"] == {
        "stage": "parse",
        "missing_stage": "parse",
        "reason": "is not locked",
    }
    cli = CliRunner().invoke(cli_app, ["materialize", run_id, "--stage", "parse"])
    assert cli.exit_code == 1
    assert cli.stderr.strip() == f"error: {error['message']}"
