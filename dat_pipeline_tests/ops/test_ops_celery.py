"""Scale-out: the analysis job on the dagster-celery executor, with two Celery worker processes
on the local Redis or RabbitMQ and the production instance (PostgreSQL), gives the same results
as the in-process run."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml
from dagster_celery.make_app import make_app
from ops_support import BIN, PROJECT, ProductionHome, background, tail, wait_until
from polars.testing import assert_frame_equal
from services import require_service

from dat_pipeline.analysis.runner import AnalysisRunner
from dat_pipeline.analysis.sources import add_source
from dat_pipeline.defs.analysis import analysis_assets
from dat_pipeline.names import SOURCE_TAG
from dat_pipeline.orchestration.analysis import ensure_source_partition
from dat_pipeline.settings import get_settings
from dat_pipeline.store import ControlStore

HERE = Path(__file__).resolve().parent
SOURCE = "shop"
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
# Brokers (and result backends) of the README: Redis, using databases of the local Redis that only
# this test uses (deploy/celery.yaml uses 0 and 1), and RabbitMQ with its own RPC result backend.
BROKERS = {
    "redis": ("Redis", 6379, "redis://127.0.0.1:6379/13", "redis://127.0.0.1:6379/14"),
    "rabbitmq": ("RabbitMQ", 5672, "pyamqp://guest:guest@127.0.0.1:5672//", "rpc://"),
}


def results(runner: AnalysisRunner) -> dict[str, pl.DataFrame]:
    tables = {}
    for phase in runner.graph.order:
        for path in sorted(runner.phase_dir(SOURCE, phase).glob("*.parquet")):
            frame = pl.read_parquet(path)
            if "path" not in frame.columns:  # absolute paths differ between data roots
                tables[f"{phase}/{path.stem}"] = frame
    return tables


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.parametrize("broker", BROKERS)
def test_analysis_on_two_celery_workers_equals_the_in_process_run(
    broker: str, production_home: ProductionHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    service, port, broker_url, backend_url = BROKERS[broker]
    require_service(service, port)
    make_app(
        {"broker": broker_url, "backend": backend_url}
    ).control.purge()  # tasks of earlier runs
    from ops_celery_jobs import celery_analysis_job

    deployed = yaml.safe_load((PROJECT / "deploy" / "celery.yaml").read_text())
    config = deployed["execution"]["config"] | {"broker": broker_url, "backend": backend_url}
    config_file = tmp_path / "celery.yaml"
    config_file.write_text(yaml.safe_dump({"execution": {"config": config}}))

    runner = AnalysisRunner()
    add_source(runner.store, SOURCE, "sample")
    instance = dg.DagsterInstance.get()
    ensure_source_partition(instance, SOURCE)
    # `dagster-celery worker start` runs `celery` from PATH: the venv's.
    path = f"{BIN}:{production_home.env.get('PATH', '')}"
    env = {**production_home.env, "PYTHONPATH": str(HERE), "PATH": path}
    logs = [tmp_path / f"worker{n}.log" for n in (1, 2)]
    start = [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app"]
    workers = [
        [*start, "-y", str(config_file), "-n", f"dat{n}@%h", "-l", "info", "--", "--pool=solo"]
        for n in (1, 2)
    ]
    with (
        background(workers[0], env, logs[0]) as first,
        background(workers[1], env, logs[1]) as second,
    ):
        for process, log in zip((first, second), logs, strict=True):

            def ready(process=process, log=log) -> bool:
                assert process.poll() is None, f"celery worker exited:\n{tail(log)}"
                return "ready." in tail(log, 20000)

            wait_until(ready, 90, f"celery worker {log.name}")
        result = dg.execute_job(
            dg.reconstructable(celery_analysis_job),
            instance=instance,
            run_config={"execution": {"config": config}, **QUIET},
            tags={"dagster/partition": SOURCE, SOURCE_TAG: SOURCE},
        )
    assert result.success, "\n".join(tail(log) for log in logs)
    hosts = {
        record.event_log_entry.dagster_event.event_specific_data.metadata["Celery worker"].value
        for record in instance.get_records_for_run(
            result.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT
        ).records
        if "Celery worker" in record.event_log_entry.dagster_event.event_specific_data.metadata
    }
    assert len(hosts) == 2, f"steps ran on {hosts}: expected both workers"
    distributed = results(runner)
    assert len(distributed) >= 30

    # The same source, analysed in this process on a separate data root and store.
    local_root = tmp_path / "local"
    shutil.copytree(production_home.data_root / "sample", local_root / "sample")
    monkeypatch.setenv("DAT_DATA_ROOT", str(local_root))
    monkeypatch.setenv("DAT_STORE_URL", f"sqlite:///{tmp_path / 'local.db'}")
    get_settings.cache_clear()
    local = AnalysisRunner(ControlStore(get_settings().store_url), local_root)
    add_source(local.store, SOURCE, "sample", data_root=local_root)
    with dg.instance_for_test() as local_instance:
        ensure_source_partition(local_instance, SOURCE)
        baseline = dg.materialize(
            analysis_assets, partition_key=SOURCE, instance=local_instance, run_config=QUIET
        )
    assert baseline.success
    expected = results(local)
    assert distributed.keys() == expected.keys()
    for name, frame in expected.items():
        assert_frame_equal(distributed[name], frame, check_row_order=False)
