"""Faults: a run worker killed during an analysis phase, the PostgreSQL control store unreachable
(at start and mid-way), a full disk while writing an artifact, and the lock sensor catching up on
1,000 pending locks across a restart. (Kills during parse and during a backfill window are tested
in dat/test_stage_parse_export.py and backfill/test_backfill_kill.py.)"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from dat_pipeline.analysis.runner import META_FILE, AnalysisRunner
from dat_pipeline.analysis.sources import add_source
from dat_pipeline.cli import app
from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.definitions import RESOURCES
from dat_pipeline.defs import dat as dat_defs
from dat_pipeline.settings import get_settings
from dat_pipeline.store import ControlStore, StoreError

HERE = Path(__file__).resolve().parent
SECRET = "Pw-never-shown-7f3a"


def visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def phase_tables(runner: AnalysisRunner, source: str) -> dict[str, pl.DataFrame]:
    tables = {}
    for phase in runner.graph.order:
        for path in sorted(runner.phase_dir(source, phase).glob("*.parquet")):
            tables[f"{phase}/{path.stem}"] = pl.read_parquet(path)
    return tables


# -- SIGKILL during an analysis phase -----------------------------------------------------
def test_killing_analysis_mid_phase_keeps_finished_phases_and_a_rerun_completes_once(
    data_root: Path, tmp_path: Path
):
    runner = AnalysisRunner()
    add_source(runner.store, "shop", "sample")
    worker = subprocess.Popen(
        [sys.executable, str(HERE / "ops_analysis_kill_worker.py"), "shop"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    done: list[str] = []
    victim = runner.graph.order[3]  # killed after it wrote some of its tables, before meta.json
    for line in worker.stdout:  # type: ignore[union-attr]
        if line.startswith("done "):
            done.append(line.split()[1])
        elif line.startswith(f"wrote {victim}/") and len(done) == 3:
            os.kill(worker.pid, signal.SIGKILL)
            break
    worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL, worker.stderr.read()[-2000:]  # type: ignore[union-attr]
    assert done == runner.graph.order[:3]

    states = {s.phase: s.state for s in runner.states("shop")}
    assert all(states[phase] == "ok" for phase in done)
    assert states[victim] == "missing"  # its tables may be there, but without meta.json: not done
    assert not (runner.phase_dir("shop", victim) / META_FILE).exists()
    for path in visible(runner.source_dir("shop")):
        if path.suffix == ".parquet":
            pl.read_parquet(path)  # every visible file is complete
    finished = {
        phase: (runner.phase_dir("shop", phase) / META_FILE).stat().st_mtime_ns for phase in done
    }

    for phase in runner.graph.order:
        runner.run_phase("shop", phase)
    assert all(s.state == "ok" for s in runner.states("shop"))
    for phase, stamp in finished.items():  # finished phases were skipped, not recomputed
        assert (runner.phase_dir("shop", phase) / META_FILE).stat().st_mtime_ns == stamp

    # The same source analysed once, cleanly, elsewhere: identical tables, no duplicate rows.
    clean_root = tmp_path / "clean"
    shutil.copytree(data_root / "sample", clean_root / "sample")
    clean = AnalysisRunner(ControlStore(f"sqlite:///{tmp_path / 'clean.db'}"), clean_root)
    add_source(clean.store, "shop", "sample", data_root=clean_root)
    for phase in clean.graph.order:
        clean.run_phase("shop", phase)
    ours, theirs = phase_tables(runner, "shop"), phase_tables(clean, "shop")
    assert ours.keys() == theirs.keys()
    for name, frame in theirs.items():
        if "path" in frame.columns:
            continue  # absolute paths differ between the two data roots
        assert_frame_equal(ours[name], frame, check_row_order=False)


# -- the control store unreachable --------------------------------------------------------
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when this returns: nothing listens


def test_unreachable_postgres_store_is_one_clear_line_without_the_password(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
):
    url = f"postgresql+psycopg://dat:{SECRET}@127.0.0.1:{closed_port()}/dat_control"
    with pytest.raises(StoreError) as caught:
        ControlStore(url)
    message = str(caught.value)
    assert "cannot open the control store" in message and "DAT_STORE_URL" in message
    assert SECRET not in message and "127.0.0.1" in message

    monkeypatch.setenv("DAT_STORE_URL", url)
    get_settings.cache_clear()
    for args in (
        ["runs", "create", "--name", "x"],
        ["lock", "run-1", "discovery", "--set", "root=sample"],
        ["status", "run-1"],
    ):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr.startswith("error: cannot open the control store")
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
        assert SECRET not in result.output + result.stderr


class Proxy:
    """A TCP proxy to PostgreSQL that the test can take down (cutting every connection) and
    bring back on the same port: the store "goes away" and "returns"."""

    def __init__(self, target_port: int = 5432):
        self.target_port = target_port
        self.port = closed_port()
        self.server: socket.socket | None = None
        self.connections: list[socket.socket] = []

    def start(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        self.server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self.server is not None:
            with contextlib.suppress(OSError):
                self.server.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the thread
            self.server.close()
            self.server = None
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        self.connections = []


@pytest.mark.services
def test_store_going_away_leaves_no_half_written_lock_and_work_resumes_when_it_returns(
    data_root: Path, pg_url: str
):
    proxy = Proxy()
    proxy.start()
    url = pg_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/")
    store = ControlStore(url)
    flow = DatWorkflow(store, data_root)
    try:
        run = flow.create_run(run_id="outage").run_id
        flow.lock(run, "discovery", {"root": "sample"})
        flow.materialize(run, "discovery")
        before = flow.store.last_seq()

        proxy.stop()
        with pytest.raises(Exception) as caught:
            flow.lock(run, "selection", {"files": ["sample/stores.tsv"]})
        print(f"\nstore gone mid-way: {caught.value.__class__.__name__}: {str(caught.value)[:200]}")

        proxy.start()  # the server is back, same address
        status = {s.stage: s for s in flow.status(run)}
        assert not status["selection"].locked and status["selection"].stage_id is None
        assert flow.store.last_seq() == before  # nothing of the failed lock reached the log
        flow.lock(run, "selection", {"files": ["sample/stores.tsv"]})
        flow.materialize(run, "selection")
        assert flow.load_artifact(run, "selection")["path"].to_list() == ["sample/stores.tsv"]
        kinds = [e.kind for e in flow.store.run_events(run)]
        assert kinds.count("lock") == 2 and kinds.count("complete") == 2
    finally:
        store.dispose()
        proxy.stop()


# -- a full disk while writing an artifact ------------------------------------------------
@contextlib.contextmanager
def small_filesystem(folder: Path, size: str = "8m"):
    """`folder` as a tmpfs of `size` (needs root); skips the test when it cannot be mounted."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_full_disk_fails_parse_cleanly_and_a_rerun_after_freeing_space_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    root = tmp_path / "small"
    with small_filesystem(root):
        big = root / "big"
        big.mkdir()
        rng = np.random.default_rng(7)
        n = 60_000
        pl.DataFrame({f"v{i}": rng.random(n) for i in range(3)}).write_csv(big / "noise.csv")
        filler = root / "filler.bin"
        free = shutil.disk_usage(root).free
        filler.write_bytes(b"\0" * max(0, free - 300_000))  # leave ~300 KB: too little
        store = ControlStore(f"sqlite:///{tmp_path / 'store.db'}")  # the store is elsewhere
        flow = DatWorkflow(store, root)
        run = flow.create_run().run_id
        tables = {"big/noise.csv": ["noise"]}
        for stage, config in (
            ("discovery", {"root": "big"}),
            ("selection", {"files": ["big/noise.csv"]}),
            ("table_availability", {}),
            ("table_selection", {"tables": tables}),
        ):
            flow.lock(run, stage, config)
            flow.materialize(run, stage)
        status = flow.lock(run, "parse", {})
        with pytest.raises(Exception) as caught:
            flow.materialize(run, "parse")
        text = f"{caught.value.__class__.__name__}: {caught.value}"
        assert "No space left" in text or "ENOSPC" in text or "os error 28" in text, text
        after = flow.stage_status(run, "parse")
        assert after.locked and not after.completed
        assert after.error and ("No space left" in after.error or "28" in after.error)
        assert flow.artifact_path(after) is None
        work = flow.artifacts.work_dir(run, "parse", status.stage_id)
        leftovers = [p for p in work.rglob("*") if p.is_file()] if work.exists() else []
        assert all(pl.read_parquet(p).height == n for p in leftovers if p.suffix == ".parquet")
        assert not [p for p in leftovers if p.name.endswith(".tmp")], leftovers
        assert not [p for p in root.rglob(".*.tmp")], "a temp file survived the failed write"

        filler.unlink()
        flow.materialize(run, "parse")
        assert flow.stage_status(run, "parse").completed
        rows = {r["table"]: r["rows"] for r in flow.load_artifact(run, "parse").to_dicts()}
        assert n in rows.values()
        store.dispose()


def test_file_size_limit_makes_a_clean_failure_without_a_partial_file(tmp_path: Path):
    """Without root (no tmpfs), the same failure through RLIMIT_FSIZE in a child process."""
    target = tmp_path / "out" / "artifact.parquet"
    code = (
        "import sys, numpy as np, polars as pl\n"
        "from pathlib import Path\n"
        "from dat_pipeline.files import write_parquet_atomic\n"
        "frame = pl.DataFrame({'v': np.random.default_rng(1).random(400_000)})\n"
        "try:\n"
        "    write_parquet_atomic(Path(sys.argv[1]), frame)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
        "    sys.exit(3)\n"
    )

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (512 * 1024, 512 * 1024))

    result = subprocess.run(
        [sys.executable, "-c", code, str(target)],
        preexec_fn=limit,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "File too large" in result.stdout or "27" in result.stdout, result.stdout
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # the temp file is removed too


# -- the lock sensor: 1,000 pending locks across a restart --------------------------------
LOCKED_STAGES = (
    ("discovery", {"root": "sample"}),
    ("selection", {"files": ["sample/stores.tsv"]}),
    ("context", {"notes": "bulk"}),
    ("table_availability", {}),
)


def evaluate(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"dat": RESOURCES["dat"]}
    )
    return dat_defs.dat_lock_sensor(context)


def requested_locks(result: dg.SensorResult) -> list[tuple[str, str]]:
    """(DAT run, stage@stage_id) of each run request: its run key is `run:stage@id#event seq`."""
    return [
        (request.partition_key, request.run_key.split(":", 1)[1].split("#")[0])
        for request in result.run_requests
    ]


def test_lock_sensor_catches_up_on_1000_pending_locks_once_each_across_restarts(
    data_root: Path,
):
    flow = DatWorkflow(ControlStore(get_settings().store_url), data_root)
    runs = [flow.create_run(run_id=f"bulk-{i:03d}").run_id for i in range(250)]
    for run in runs:
        for stage, config in LOCKED_STAGES:
            flow.lock(run, stage, config)
    locks = [e for e in flow.store.events_after(0, limit=5000) if e.kind == "lock"]
    assert len(locks) == 1000

    # The daemon restarts before every tick (a new context and instance each time), and every
    # tick is evaluated twice, as a tick replayed after a crash is: same cursor, same run keys.
    cursor, requested, run_keys, ticks = None, Counter(), Counter(), 0
    while True:
        with dg.instance_for_test() as instance:
            result = evaluate(instance, cursor)
        with dg.instance_for_test() as instance:
            replay = evaluate(instance, cursor)
        assert [r.run_key for r in replay.run_requests] == [r.run_key for r in result.run_requests]
        ticks += 1
        requested.update(requested_locks(result))
        run_keys.update(request.run_key for request in result.run_requests)
        if result.cursor == cursor:
            break
        cursor = result.cursor
    expected = Counter((e.run_id, f"{e.stage}@{e.stage_id}") for e in locks)
    assert requested == expected  # nothing lost, nothing repeated
    assert max(run_keys.values()) == 1
    assert ticks >= 3  # the 1,000 locks took more than one tick: the cursor carried them over
