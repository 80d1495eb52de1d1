"""HTTP API load: requests/s and p50/p99 latency with 8 concurrent clients on loopback (SPEC 9).

A real `uvicorn` server (one worker, as `dat serve` starts it) runs in a subprocess over a temp data
root. Two loads, each bounded in count and time:
- `GET /api/dat/runs/{id}`: a run and the status of its 8 stages (store reads only);
- `POST /api/dat/runs/{id}/stages/context/lock`: a small stage locked with a new config on each
  call, so every request is a real lock (gate check, status write and event append in one store
  write transaction). Each client drives its own run.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
CLIENTS = 8
REQUESTS_PER_CLIENT = 150
TIME_LIMIT_S = 20.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _load(base: str, token: str, requests: list[tuple[str, str, dict | None]]) -> dict[str, float]:
    """Send `requests` (method, path, json) split over CLIENTS threads; latency stats in ms."""
    import httpx

    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + TIME_LIMIT_S

    def client(share: list[tuple[str, str, dict | None]]) -> None:
        mine = []
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
            for method, path, body in share:
                if time.monotonic() > deadline:
                    break
                started = time.perf_counter()
                response = http.request(method, path, json=body)
                mine.append(time.perf_counter() - started)
                if response.status_code != 200:
                    with lock:
                        failures.append(f"{response.status_code} {response.text[:200]}")
        with lock:
            latencies.extend(mine)

    shares = [requests[i::CLIENTS] for i in range(CLIENTS)]
    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} failed requests, first: {failures[0]}")
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "rps": len(ordered) / elapsed,
        "p50": statistics.median(ordered) * 1000,
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    }


def main() -> None:
    import httpx

    work = Path(tempfile.mkdtemp(prefix="dat_bench_api_"))
    shutil.copytree(PROJECT / "data" / "sample", work / "data" / "sample")
    (work / "home").mkdir()
    shutil.copyfile(PROJECT / "dagster.yaml", work / "home" / "dagster.yaml")
    env = {
        **os.environ,
        "DAT_DATA_ROOT": str(work / "data"),
        "DAT_STORE_URL": f"sqlite:///{work / 'control.db'}",
        "DAGSTER_HOME": str(work / "home"),
    }
    os.environ.update({k: env[k] for k in ("DAT_DATA_ROOT", "DAT_STORE_URL", "DAGSTER_HOME")})

    from dat_pipeline.dat.workflow import DatWorkflow
    from dat_pipeline.services.access import assign_run_project, create_token
    from dat_pipeline.store import open_store

    store = open_store()
    flow = DatWorkflow(store, work / "data")
    _record, token = create_token(store, ["bench"])
    runs = []
    for i in range(CLIENTS):
        run_id = flow.create_run(run_id=f"bench-{i}").run_id
        assign_run_project(store, run_id, "bench")
        flow.lock(run_id, "discovery", {"root": "sample"})
        flow.materialize(run_id, "discovery")
        flow.lock(run_id, "selection", {"files": ["sample/sales_2024_q1.csv"]})
        runs.append(run_id)

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "dat_pipeline.api:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=work,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the API server did not start")
            time.sleep(0.1)
        total = CLIENTS * REQUESTS_PER_CLIENT
        reads = [("GET", f"/api/dat/runs/{runs[i % CLIENTS]}", None) for i in range(total)]
        _load(base, token, reads[: CLIENTS * 5])  # warm-up: token check, connections
        read = _load(base, token, reads)
        locks = [
            (
                "POST",
                f"/api/dat/runs/{runs[i % CLIENTS]}/stages/context/lock",
                {"config": {"description": f"bench lock {i}"}},
            )
            for i in range(total)
        ]
        write = _load(base, token, locks)
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{CLIENTS} concurrent clients, loopback, uvicorn 1 worker, SQLite control store")
    for label, stats in (("GET  /api/dat/runs/{id}", read), ("POST .../context/lock", write)):
        print(
            f"{label:<26} {stats['requests']:>5} req  {stats['rps']:>7.0f} req/s  "
            f"p50 {stats['p50']:6.1f} ms  p99 {stats['p99']:6.1f} ms"
        )
    print(f"lock/read throughput ratio: {write['rps'] / read['rps']:.2f}")


if __name__ == "__main__":
    main()
