"""The analysis pipeline against ydata-profiling, measured in one run (SPEC 6, issues 7 and 13).

1. A generated 5-table star schema (`sales`, about 1M rows, with foreign keys to `customers`,
   `products`, `stores` and `calendar`; dates, categories, amounts) as CSV files. The whole pipeline
   runs through the `dat` CLI, exactly as a user runs it: `dat analysis add-source` (with
   `correlation_sample_rows` = the fact rows: every row on both sides), `dat analysis run SOURCE
   --json` at the CLI's default concurrency and again with `--concurrency 1`, then `dat analysis
   report SOURCE --format json`; then a second `run` that should skip everything.
   ydata-profiling (`ProfileReport(df, minimal=True)` and the default `minimal=False`, then
   `.to_json()`, pandas reading the same CSV files, every row) profiles the same 5 tables in its
   own venv `bench/out/ydata-venv/` (its pins clash with ours); the bench creates that venv when it
   is missing and reports the setup time apart from the measurement. The four sides alternate for
   `--repeats` rounds (default 3); medians and ratios are printed.
2. With `--ten-million` (or `DAT_BENCH_10M=1`): one 10-million-row table of the same shape as
   `sales`, every phase must finish with peak memory under 4 GB.
3. `--phases`: only the thirteen phases in process on a generated flights-like 5-table star
   (`flights_input`: 336,776 flights with calendar parts, HHMM clock times, a daily delay cycle,
   tail numbers missing from `planes`), per phase, `--repeats` times: the figure the analysis time
   budget of issue 19 is checked on. `--docs` writes the reports of `data/sample` and of that star
   to `docs/analysis-*.md|html`.

Every measured command runs under a small wrapper process that is a child subreaper, so phase
processes started by Dagster (children of a forkserver) are reaped by it: `ru_maxrss` of its
children is the peak RSS of the largest process of the command's whole tree. The wrapper also
samples the sum of the tree's RSS every 0.1 s (two phases run at the same time).

Inputs are generated deterministically under `bench/out/` (git-ignored) and reused.
Options: `--fact-rows N` (default 1,000,000) for a quick run, `--skip-ydata`, `--ten-million`,
`--only-ten-million`, `--concurrency N` (ours besides 1; default the CLI's), `--repeats N`.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from bench.machine import load_average, peak_rss, verdict

PROJECT = Path(__file__).resolve().parent.parent
OUT = PROJECT / "bench" / "out" / "analysis"
YDATA_VENV = PROJECT / "bench" / "out" / "ydata-venv"
RATIO_TARGET = 0.5
MEMORY_TARGET_MB = 4096
BATCH_ROWS = 1_000_000
START = np.datetime64("2021-01-01")
DAYS = 4 * 365 + 1  # 2021-01-01 .. 2024-12-31

COUNTRIES = np.array(["FR", "DE", "US", "GB", "ES", "IT", "NL", "BE", "CA", "JP"])
SEGMENTS = np.array(["consumer", "corporate", "home_office", "small_business"])
CATEGORIES = np.array(
    ["coffee", "tea", "cake", "juice", "snacks", "dairy", "bakery", "frozen", "fruit", "wine"]
)
CITIES = np.array(
    ["Paris", "Lyon", "Berlin", "Munich", "London", "Leeds", "Madrid", "Rome", "Oslo", "Lille"]
)
REGIONS = np.array(["north", "south", "east", "west"])
CHANNELS = np.array(["store", "web", "phone", "partner"])
PAYMENTS = np.array(["card", "cash", "transfer", "voucher"])


# ---- inputs ------------------------------------------------------------------------------------


def _dates(offsets: np.ndarray) -> np.ndarray:
    return (START + offsets.astype("timedelta64[D]")).astype("datetime64[D]")


def customers(rows: int = 50_000) -> pl.DataFrame:
    rng = np.random.default_rng(1)
    ids = np.arange(1, rows + 1)
    return pl.DataFrame(
        {
            "customer_id": ids,
            "name": np.char.add("Customer ", ids.astype(str)),
            "email": np.char.add(np.char.add("c", ids.astype(str)), "@example.com"),
            "country": COUNTRIES[rng.integers(0, len(COUNTRIES), rows)],
            "segment": SEGMENTS[rng.integers(0, len(SEGMENTS), rows)],
            "signup_date": _dates(rng.integers(0, DAYS, rows)),
            "birth_year": rng.integers(1940, 2006, rows),
        }
    )


def products(rows: int = 2_000) -> pl.DataFrame:
    rng = np.random.default_rng(2)
    ids = np.char.add("P", np.char.zfill(np.arange(1, rows + 1).astype(str), 5))
    category = rng.integers(0, len(CATEGORIES), rows)
    return pl.DataFrame(
        {
            "product_id": ids,
            "name": np.char.add(np.char.add(CATEGORIES[category], " item "), ids),
            "category": CATEGORIES[category],
            "subcategory": np.char.add(
                np.char.add(CATEGORIES[category], "-"), rng.integers(1, 6, rows).astype(str)
            ),
            "list_price": np.round(rng.lognormal(2.5, 0.8, rows), 2),
            "launched_on": _dates(rng.integers(0, DAYS, rows)),
        }
    )


def stores(rows: int = 200) -> pl.DataFrame:
    rng = np.random.default_rng(3)
    city = rng.integers(0, len(CITIES), rows)
    return pl.DataFrame(
        {
            "store_id": np.arange(1, rows + 1),
            "city": CITIES[city],
            "region": REGIONS[city % len(REGIONS)],  # city -> region: a functional dependency
            "opened_on": _dates(rng.integers(-3000, 0, rows)),
            "size_sqm": rng.integers(80, 2500, rows),
        }
    )


def calendar() -> pl.DataFrame:
    days = _dates(np.arange(DAYS))
    frame = pl.DataFrame({"date": days})
    return frame.with_columns(
        pl.col("date").dt.year().alias("year"),
        pl.col("date").dt.quarter().alias("quarter"),
        pl.col("date").dt.month().alias("month"),
        pl.col("date").dt.weekday().alias("weekday"),
        (pl.col("date").dt.weekday() >= 6).alias("weekend"),
    )


def sales(batch: int, rows: int, first_id: int, n_customers: int, n_products: int) -> pl.DataFrame:
    """`rows` sales lines, the same for the same batch number: a weekly cycle and a trend in the
    daily volume, amounts = quantity x price x (1 - discount)."""
    rng = np.random.default_rng(1000 + batch)
    # Day weights: a rising trend and a weekly cycle (weekends sell more).
    day = np.arange(DAYS)
    weights = (1.0 + day / DAYS) * np.where((day + 4) % 7 >= 5, 1.6, 1.0)
    offsets = rng.choice(DAYS, size=rows, p=weights / weights.sum())
    product = rng.integers(1, n_products + 1, rows)
    quantity = rng.integers(1, 10, rows)
    price = np.round(rng.lognormal(2.5, 0.8, rows), 2)
    discount = np.round(rng.choice([0.0, 0.0, 0.0, 0.05, 0.1, 0.2], rows), 2)
    seconds = rng.integers(8 * 3600, 21 * 3600, rows).astype("timedelta64[s]")
    return pl.DataFrame(
        {
            "sale_id": np.arange(first_id, first_id + rows, dtype=np.int64),
            "sale_date": _dates(offsets),
            "created_at": (_dates(offsets).astype("datetime64[s]") + seconds).astype(
                "datetime64[ms]"
            ),
            "customer_id": rng.integers(1, n_customers + 1, rows),
            "product_id": np.char.add("P", np.char.zfill(product.astype(str), 5)),
            "store_id": rng.integers(1, 201, rows),
            "channel": CHANNELS[rng.integers(0, len(CHANNELS), rows)],
            "payment": PAYMENTS[rng.integers(0, len(PAYMENTS), rows)],
            "quantity": quantity,
            "unit_price": price,
            "discount": discount,
            "amount": np.round(quantity * price * (1 - discount), 2),
        }
    )


def _write_sales(target: Path, rows: int, n_customers: int, n_products: int) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        for batch, first in enumerate(range(0, rows, BATCH_ROWS)):
            size = min(BATCH_ROWS, rows - first)
            sales(batch, size, first + 1, n_customers, n_products).write_csv(
                handle, include_header=batch == 0
            )
    os.replace(tmp, target)


def _generated(folder: Path, done: Path, write: Callable[[Path], None]) -> Path:
    """`folder` as `write` fills it, once: reused when `done` exists (touched after writing)."""
    if done.is_file():
        return folder
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    write(folder)
    done.touch()
    size = sum(path.stat().st_size for path in folder.glob("*.csv")) / 2**20
    seconds = time.perf_counter() - started
    print(f"  generated {folder.relative_to(PROJECT)} ({size:,.0f} MiB) in {seconds:.0f} s")
    return folder


def star_input(fact_rows: int) -> Path:
    """The 5-table folder (CSV), generated once per size and reused."""

    def write(folder: Path) -> None:
        dims = {
            "customers": customers(),
            "products": products(),
            "stores": stores(),
            "calendar": calendar(),
        }
        for name, frame in dims.items():
            frame.write_csv(folder / f"{name}.csv")
        n_customers, n_products = dims["customers"].height, dims["products"].height
        _write_sales(folder / "sales.csv", fact_rows, n_customers, n_products)

    folder = OUT / "inputs" / f"star_{fact_rows}"
    return _generated(folder, folder / ".complete", write)


def big_input(rows: int = 10_000_000) -> Path:
    """One table of the shape of `sales` (events.csv), generated once and reused."""
    folder = OUT / "inputs" / f"single_{rows}"
    return _generated(
        folder,
        folder / "events.csv",
        lambda folder: _write_sales(folder / "events.csv", rows, 50_000, 2_000),
    )


# A flights-like 5-table star (the shape of a well-known public dataset, generated): `flights`
# with calendar parts, HHMM clock times, a flight number, a daily cycle in delays and in the row
# count, carriers that differ in delay, distance ~ air time, and tail numbers missing from `planes`.
CARRIERS = np.array(["AA", "B6", "DL", "EV", "UA", "WN", "MQ", "US", "9E", "VX", "F9", "AS"])
CARRIER_DELAY = np.array([2.0, 13.0, 3.0, 20.0, 8.0, 12.0, 11.0, 4.0, 16.0, 6.0, 21.0, -1.0])
ORIGINS = np.array(["EWR", "JFK", "LGA"])


def _with_nulls(values: np.ndarray, missing: np.ndarray) -> pl.Series:
    return pl.Series(np.where(missing, np.nan, values)).fill_nan(None).cast(pl.Int64)


def flights_input(rows: int = 336_776) -> Path:
    """The five CSV files of the flights-like star under `bench/out/flights_<rows>/`."""
    folder = PROJECT / "bench" / "out" / f"flights_{rows}"
    if (folder / "flights.csv").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2013)
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    faa = np.unique(
        np.char.add(
            np.char.add(rng.choice(letters, 1600), rng.choice(letters, 1600)),
            rng.choice(letters, 1600),
        )
    )[:1400]
    faa = np.union1d(faa, ORIGINS)
    airports = pl.DataFrame(
        {
            "faa": faa,
            "name": np.char.add("Airport ", np.arange(faa.size).astype(str)),
            "lat": rng.uniform(19.0, 64.0, faa.size).round(6),
            "lon": rng.uniform(-160.0, -68.0, faa.size).round(6),
            "alt": rng.integers(0, 6000, faa.size),
            "tz": rng.choice([-5, -6, -7, -8], faa.size),
            "dst": rng.choice(["A", "N"], faa.size, p=[0.95, 0.05]),
        }
    ).with_columns(tzone=pl.format("America/Zone{}", pl.col("tz").abs()))
    airlines = pl.DataFrame(
        {"carrier": CARRIERS, "name": np.char.add("Airline ", np.arange(CARRIERS.size).astype(str))}
    )
    tails = np.unique(np.char.add("N", rng.integers(100, 99_999, 4_500).astype(str)))[:4_000]
    in_planes = tails[: int(tails.size * 0.82)]  # a fifth of the tail numbers have no plane row
    models = np.array(["A320", "B737", "E190", "CRJ2", "B757", "A321"])
    seats = np.array([150, 160, 100, 50, 200, 190])
    model = rng.integers(0, models.size, in_planes.size)
    planes = pl.DataFrame(
        {
            "tailnum": in_planes,
            "year": rng.integers(1980, 2014, in_planes.size),
            "manufacturer": np.where(np.isin(models[model], ["A320", "A321"]), "AIRBUS", "OTHER"),
            "model": models[model],
            "engines": 2,
            "seats": seats[model],
        }
    )
    start = np.datetime64("2013-01-01T00:00")
    # departures: more in the day than at night, a daily cycle in the row count
    hour_weight = np.array(
        [0, 0, 0, 0, 0, 2, 6, 7, 7, 6, 5, 5, 5, 5, 6, 6, 6, 6, 6, 5, 4, 3, 1, 0.5]
    )
    hour = rng.choice(24, rows, p=hour_weight / hour_weight.sum())
    minute = rng.integers(0, 60, rows)
    day_offset = rng.integers(0, 365, rows)
    sched = start + (day_offset * 1440 + hour * 60 + minute).astype("timedelta64[m]")
    carrier = rng.integers(0, CARRIERS.size, rows)
    # delays rise through the day (peak 18-20 h), in summer, and differ by carrier
    daily = 25.0 * np.exp(-((hour - 19.0) ** 2) / 8.0)
    season = 6.0 * np.sin(2 * np.pi * (day_offset - 100) / 365)
    dep_delay = np.round(CARRIER_DELAY[carrier] + daily + season + rng.gamma(1.5, 10.0, rows) - 15)
    actual = sched + dep_delay.astype("timedelta64[m]")
    actual_minutes = actual.astype("datetime64[m]").astype(np.int64)
    dep_time = (actual_minutes // 60 % 24) * 100 + actual_minutes % 60
    distance = rng.choice([200, 500, 750, 1000, 1400, 2500], rows) + rng.integers(0, 100, rows)
    air_time = np.round(distance / 8.0 + rng.normal(0, 8, rows) + 20)
    arr_delay = np.round(dep_delay + rng.normal(-5, 10, rows))
    sched_arr = sched + (air_time + 30).astype("timedelta64[m]")
    arr_minutes = sched_arr.astype(np.int64)
    dest_pool = faa[~np.isin(faa, ORIGINS)][:100]
    dest = np.concatenate([dest_pool, np.array(["BQN", "SJU", "STT", "PSE"])])
    missing = rng.random(rows) < 0.02  # cancelled: no times, no delays
    flights = pl.DataFrame(
        {
            "year": np.full(rows, 2013),
            "month": sched.astype("datetime64[M]").astype(int) % 12 + 1,
            "day": (sched.astype("datetime64[D]") - sched.astype("datetime64[M]")).astype(int) + 1,
            "dep_time": _with_nulls(dep_time, missing),
            "sched_dep_time": hour * 100 + minute,
            "dep_delay": _with_nulls(dep_delay, missing),
            "sched_arr_time": (arr_minutes // 60 % 24) * 100 + arr_minutes % 60,
            "arr_delay": _with_nulls(arr_delay, missing),
            "carrier": CARRIERS[carrier],
            "flight": rng.integers(1, 6000, rows),
            "tailnum": rng.choice(tails, rows),
            "origin": rng.choice(ORIGINS, rows, p=[0.36, 0.33, 0.31]),
            "dest": rng.choice(dest, rows),
            "air_time": _with_nulls(air_time, missing),
            "distance": distance,
            "hour": hour,
            "minute": minute,
        }
    ).with_columns(
        time_hour=pl.Series(sched.astype("datetime64[h]").astype("datetime64[us]")).dt.strftime(
            "%Y-%m-%d %H:%M:%S"
        )
    )
    hours = start + np.arange(0, 365 * 24).astype("timedelta64[h]")
    weather = []
    for i, origin in enumerate(ORIGINS):
        h = np.arange(hours.size)
        temp = (
            55
            + 20 * np.sin(2 * np.pi * (h / 24 - 110) / 365)
            + 8 * np.sin(2 * np.pi * (h % 24 - 9) / 24)
            + rng.normal(0, 3, h.size)
            + i
        )
        weather.append(
            pl.DataFrame(
                {
                    "origin": origin,
                    "year": 2013,
                    "month": hours.astype("datetime64[M]").astype(int) % 12 + 1,
                    "day": (hours.astype("datetime64[D]") - hours.astype("datetime64[M]")).astype(
                        int
                    )
                    + 1,
                    "hour": h % 24,
                    "temp": temp.round(2),
                    "dewp": (temp - rng.gamma(2, 4, h.size)).round(2),
                    "wind_speed": rng.gamma(2, 5, h.size).round(2),
                    "pressure": rng.normal(1017, 7, h.size).round(1),
                    "time_hour": pl.Series(hours.astype("datetime64[us]")).dt.strftime(
                        "%Y-%m-%d %H:%M:%S"
                    ),
                }
            )
        )
    for name, frame in {
        "airlines": airlines,
        "airports": airports,
        "planes": planes,
        "weather": pl.concat(weather),
        "flights": flights,
    }.items():
        frame.write_csv(folder / f"{name}.csv")
    return folder


def _describe(folder: Path) -> str:
    parts = []
    for path in sorted(folder.glob("*.csv")):
        rows = pl.scan_csv(path).select(pl.len()).collect().item()
        parts.append(f"{path.stem} {rows:,}")
    total = sum(p.stat().st_size for p in folder.glob("*.csv")) / 2**20
    return f"{', '.join(parts)} rows ({total:,.0f} MiB of CSV)"


# ---- measuring a command (wrapper process) -----------------------------------------------------


def _tree_rss_kb(root: int) -> int:
    """Sum of VmRSS of `root` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid, ppid = int(entry), int(fields.get("PPid", "0").strip())
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def measure_worker(stdout_path: str, *command: str) -> None:
    """Run `command`, reap every descendant, print seconds and memory as JSON."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphaned descendants become ours
    started = time.perf_counter()
    with open(stdout_path, "wb") as out, open(f"{stdout_path}.err", "wb") as err:
        child = subprocess.Popen(command, stdout=out, stderr=err)
        tree_peak = 0
        while child.poll() is None:
            tree_peak = max(tree_peak, _tree_rss_kb(os.getpid()))
            time.sleep(0.1)
    seconds = time.perf_counter() - started
    while True:  # reap orphans (the Dagster forkserver and its step processes)
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps(
            {
                "returncode": child.returncode,
                "seconds": seconds,
                "max_process_rss_mb": peak / 1024,
                "tree_rss_mb": tree_peak / 1024,
            }
        )
    )


def _measured(label: str, work: Path, command: list[str], env: dict[str, str]) -> dict:
    stdout = work / f"{label}.out"
    done = subprocess.run(
        [sys.executable, "-m", "bench.analysis", "measure", str(stdout), *command],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["stdout"] = stdout.read_text(encoding="utf-8", errors="replace")
    result["stderr"] = Path(f"{stdout}.err").read_text(encoding="utf-8", errors="replace")
    if result["returncode"] != 0:
        print(f"  {label} exited with {result['returncode']}:")
        print("    " + (result["stderr"].strip() or result["stdout"].strip())[-3000:])
    return result


# ---- the pipeline ------------------------------------------------------------------------------


def _dat() -> list[str]:
    script = Path(sys.executable).parent / "dat"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "dat_pipeline.cli"]


def _fresh_root(name: str, inputs: Path) -> tuple[Path, dict[str, str]]:
    """A fresh data root (store, Dagster home, warehouse) with the input files hard-linked."""
    work = OUT / "runs" / name
    shutil.rmtree(work, ignore_errors=True)
    (work / "data" / name).mkdir(parents=True)
    (work / "home").mkdir()
    shutil.copyfile(PROJECT / "dagster.yaml", work / "home" / "dagster.yaml")
    for path in inputs.glob("*.csv"):
        try:
            os.link(path, work / "data" / name / path.name)
        except OSError:
            shutil.copyfile(path, work / "data" / name / path.name)
    env = {
        **os.environ,
        "DAT_DATA_ROOT": str(work / "data"),
        "DAT_STORE_URL": f"sqlite:///{work / 'control.db'}",
        "DAGSTER_HOME": str(work / "home"),
    }
    return work, env


def run_pipeline(
    name: str, inputs: Path, concurrency: int | None, all_rows: int | None = None
) -> dict:
    """The CLI path; `concurrency` None is the CLI's default; `all_rows` makes correlations read
    every row (no sampling on one side only, SPEC 6)."""
    work, env = _fresh_root(name, inputs)
    dat = _dat()
    steps: dict[str, dict] = {}
    add = [*dat, "analysis", "add-source", name, "--from", name, "--json"]
    if all_rows:
        add += ["--option", f"correlation_sample_rows={all_rows}"]
    steps["add-source"] = _measured("add", work, add, env)
    run = [*dat, "analysis", "run", name, "--json"]
    if concurrency is not None:
        run += ["--concurrency", str(concurrency)]
    steps["run"] = _measured("run", work, run, env)
    steps["report"] = _measured(
        "report", work, [*dat, "analysis", "report", name, "--format", "json"], env
    )
    steps["rerun"] = _measured("rerun", work, [*dat, "analysis", "run", name, "--json"], env)
    run = json.loads(steps["run"]["stdout"]) if steps["run"]["returncode"] == 0 else None
    if run is None and steps["run"]["stdout"].strip().startswith("{"):
        run = json.loads(steps["run"]["stdout"])
    report = None
    if steps["report"]["returncode"] == 0:
        report = json.loads(steps["report"]["stdout"])
    rerun = json.loads(steps["rerun"]["stdout"]) if steps["rerun"]["returncode"] == 0 else None
    return {"work": work, "steps": steps, "run": run, "report": report, "rerun": rerun}


def _print_pipeline(result: dict) -> tuple[float, float]:
    """Print per-phase times and memory; return (seconds of run + report, peak process MB)."""
    steps, run = result["steps"], result["run"]
    if run is not None:
        print("  phase                 state      seconds")
        for phase in run["phases"]:
            seconds = phase["duration_s"]
            shown = f"{seconds:8.2f}" if seconds is not None else "       -"
            print(f"  {phase['phase']:<20}  {phase['state']:<8} {shown}  {phase['error'] or ''}")
        phase_sum = sum(p["duration_s"] or 0 for p in run["phases"])
        print(f"  sum of phase compute times {phase_sum:.2f} s")
    for label in ("add-source", "run", "report", "rerun"):
        step = steps[label]
        print(
            f"  dat analysis {label:<11} {step['seconds']:7.2f} s  peak process RSS "
            f"{step['max_process_rss_mb']:7,.0f} MiB  peak tree RSS {step['tree_rss_mb']:7,.0f} MiB"
            + ("" if step["returncode"] == 0 else f"  EXIT {step['returncode']}")
        )
    total = steps["run"]["seconds"] + steps["report"]["seconds"]
    peak = max(steps[k]["max_process_rss_mb"] for k in ("run", "report"))
    if result["rerun"] is not None:
        states = {p["state"] for p in result["rerun"]["phases"]}
        share = steps["rerun"]["seconds"] / steps["run"]["seconds"]
        print(f"  second run: phases {sorted(states)}, {share:.1%} of the first run's time")
    report = result["report"]
    if report is not None:
        tables = {t["name"]: t for t in report["tables"]}
        print(
            f"  report: {len(tables)} tables, {len(report['relationships'])} relationships, "
            f"{len(report['correlations'])} correlations, {len(report['temporal'])} temporal, "
            f"{len(report['cycles'])} cycles; readiness "
            + ", ".join(f"{n} {t['readiness']}" for n, t in sorted(tables.items()))
        )
    return total, peak


# ---- ydata-profiling ---------------------------------------------------------------------------

YDATA_SCRIPT = r"""
import json, sys, time, warnings
from pathlib import Path
warnings.filterwarnings("ignore")
import pandas as pd
from ydata_profiling import ProfileReport

folder, out, minimal = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "minimal"
out.mkdir(parents=True, exist_ok=True)
timings = {}
started = time.perf_counter()
for path in sorted(folder.glob("*.csv")):
    t0 = time.perf_counter()
    frame = pd.read_csv(path)
    t1 = time.perf_counter()
    report = ProfileReport(frame, title=path.stem, minimal=minimal)  # every row, no sampling
    (out / f"{path.stem}.json").write_text(report.to_json())
    timings[path.stem] = {"read_s": t1 - t0, "profile_s": time.perf_counter() - t1,
                          "rows": len(frame)}
print(json.dumps({"total_s": time.perf_counter() - started, "tables": timings}))
"""


def ensure_ydata_venv() -> tuple[Path, float | None]:
    """The ydata-profiling venv's python, created when missing; and the setup seconds (None when
    it already existed)."""
    python = YDATA_VENV / "bin" / "python"
    check = [str(python), "-c", "import ydata_profiling"]
    if python.is_file() and subprocess.run(check, capture_output=True).returncode == 0:
        return python, None
    print(f"  creating {YDATA_VENV.relative_to(PROJECT)} and installing ydata-profiling ...")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(YDATA_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "ydata-profiling"],
        check=True,
    )
    subprocess.run(check, check=True, capture_output=True)
    return python, time.perf_counter() - started


def run_ydata(inputs: Path, minimal: bool) -> dict:
    python, setup = ensure_ydata_venv()
    version = subprocess.run(
        [
            str(python),
            "-c",
            "from importlib.metadata import version; print(version('ydata-profiling'))",
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    work = OUT / "runs" / "ydata"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    script = work / "profile.py"
    script.write_text(YDATA_SCRIPT, encoding="utf-8")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    mode = "minimal" if minimal else "default"
    command = [str(python), str(script), str(inputs), str(work), mode]
    result = _measured("ydata", work, command, env)
    lines = [line for line in result["stdout"].splitlines() if line.startswith("{")]
    result["detail"] = json.loads(lines[-1]) if lines else None
    result["setup_s"], result["version"] = setup, version
    return result


# ---- against DuckDB SUMMARIZE (bench latency) -------------------------------------------------

SUMMARIZE_SCRIPT = r"""
import sys
from pathlib import Path
import duckdb

connection = duckdb.connect()
connection.execute("SET enable_progress_bar = false")
for path in sorted(Path(sys.argv[1]).glob("*.csv")):
    connection.execute(f"CREATE TABLE {path.stem} AS SELECT * FROM read_csv('{path}')")
    connection.execute(f"SUMMARIZE {path.stem}").fetchall()
"""


def _timed_run(what: str, command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system, the process and the children it waited for) seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:]
        raise SystemExit(f"{what} failed: {' '.join(last)}")
    return seconds, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def latency_figures(repeats: int) -> list[str]:
    """`dat analysis run SOURCE` (default settings, a new process, a fresh data root each time)
    on the flights-like 5-table star, alternating with DuckDB loading the same CSV files and
    running SUMMARIZE on each table in a process of its own: rows for `python -m bench latency`
    (issue 17: analysis <= 10x the anchor)."""
    from bench.latency import p50_p90, row

    inputs = flights_input()
    about = f"analysis source: {_describe(inputs)}; load {load_average()}"
    print(textwrap.fill(about, width=80, subsequent_indent="  "), flush=True)
    ours, anchor = [], []
    for i in range(repeats):
        name = f"latency_flights_{i}"
        work, env = _fresh_root(name, inputs)
        subprocess.run(
            [*_dat(), "analysis", "add-source", name, "--from", name, "--json"],
            cwd=PROJECT,
            env=env,
            capture_output=True,
            check=True,
        )
        ours.append(
            _timed_run("dat analysis run", [*_dat(), "analysis", "run", name, "--json"], env)
        )
        summarize = [sys.executable, "-c", SUMMARIZE_SCRIPT, str(inputs)]
        anchor.append(_timed_run("the DuckDB SUMMARIZE anchor", summarize, env))
        shutil.rmtree(work, ignore_errors=True)
    walls = [(o[0], a[0]) for o, a in zip(ours, anchor, strict=True)]
    ratios = sorted(o / a for o, a in walls)
    cpu_ratios = sorted(o[1] / a[1] for o, a in zip(ours, anchor, strict=True))
    ratio = p50_p90(ratios)[0]
    return [
        row("dat analysis run, flights-like 5 tables", [o for o, _ in walls], "default settings"),
        row("  anchor: DuckDB load CSVs + SUMMARIZE", [a for _, a in walls], "own process"),
        f"{'  ratio ours/anchor (p50, max)':<46} {ratio:7.1f} {ratios[-1]:7.1f}  "
        f"target <= 10: {'met' if ratio <= 10 else 'missed'}",
        row("  CPU s (user+sys), ours", [o[1] for o in ours]),
        row("  CPU s (user+sys), anchor", [a[1] for a in anchor]),
        f"{'  CPU ratio ours/anchor (p50, max)':<46} {p50_p90(cpu_ratios)[0]:7.1f} "
        f"{cpu_ratios[-1]:7.1f}",
        "  repeats, ours/anchor wall s: " + ", ".join(f"{o:.0f}/{a:.1f}" for o, a in walls),
    ]


# ---- main --------------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def bench_star(fact_rows: int, concurrency: int | None, skip_ydata: bool, repeats: int) -> None:
    """Our pipeline (the CLI default concurrency and --concurrency 1) against ydata-profiling
    (minimal=True and the default), every row on both sides, `repeats` alternating rounds."""
    inputs = star_input(fact_rows)
    print(f"5-table source: {_describe(inputs)}")
    sides: dict[str, list[float]] = {}
    peaks: dict[str, float] = {}
    for round_ in range(repeats):
        ours = [("dat (default concurrency)", concurrency), ("dat --concurrency 1", 1)]
        for label, value in ours:
            print(f"round {round_ + 1}: {label} (load {load_average()}):")
            pipeline = run_pipeline("bench_star", inputs, value, all_rows=fact_rows)
            seconds, peak = _print_pipeline(pipeline)
            sides.setdefault(label, []).append(seconds)
            peaks[label] = max(peaks.get(label, 0.0), peak)
        if skip_ydata:
            continue
        for minimal in (True, False):
            label = f"ydata-profiling minimal={minimal}"
            ydata = run_ydata(inputs, minimal)
            if ydata["setup_s"] is not None:
                print(f"  setup (venv + pip install, not timed): {ydata['setup_s']:.0f} s")
            print(
                f"round {round_ + 1}: {label} {ydata['version']}: {ydata['seconds']:.2f} s "
                f"(process, incl. imports and pandas reads), peak process RSS "
                f"{ydata['max_process_rss_mb']:,.0f} MiB"
                + ("" if ydata["returncode"] == 0 else f"  EXIT {ydata['returncode']}")
            )
            sides.setdefault(label, []).append(ydata["seconds"])
            peaks[label] = max(peaks.get(label, 0.0), ydata["max_process_rss_mb"])
    print(f"medians over {repeats} alternating rounds (same {fact_rows:,}-row fact table):")
    for label, values in sides.items():
        print(
            f"  {label:<34} {_median(values):8.2f} s  (runs {', '.join(f'{v:.1f}' for v in values)};"
            f" peak process RSS {peaks[label]:,.0f} MiB)"
        )
    if skip_ydata:
        return
    for ours in ("dat (default concurrency)", "dat --concurrency 1"):
        for theirs in ("ydata-profiling minimal=True", "ydata-profiling minimal=False"):
            ratio = _median(sides[ours]) / _median(sides[theirs])
            print(
                f"  ratio {ours} / {theirs} = {ratio:.2f} (target <= {RATIO_TARGET}: "
                f"{verdict(ratio <= RATIO_TARGET)})"
            )


def phase_times(name: str, inputs: Path) -> dict[str, float]:
    """Each phase run in this process, one after the other, on a fresh data root: the analysis
    work without Dagster, process starts or the report (the figure issue 19's 10 % budget is on)."""
    work, env = _fresh_root(name, inputs)
    os.environ.update({k: env[k] for k in ("DAT_DATA_ROOT", "DAT_STORE_URL", "DAGSTER_HOME")})
    from dat_pipeline.analysis.runner import AnalysisRunner
    from dat_pipeline.analysis.sources import add_source
    from dat_pipeline.store import open_store

    store = open_store(env["DAT_STORE_URL"])
    runner = AnalysisRunner(store=store, data_root=work / "data", warehouse=work / "w.duckdb")
    add_source(store, name, name, data_root=work / "data")
    times = {}
    for phase in runner.graph.order:
        started = time.perf_counter()
        runner.run_phase(name, phase)
        times[phase] = time.perf_counter() - started
    started = time.perf_counter()
    from dat_pipeline.analysis.report import render_report

    render_report(runner, name, "json")
    times["report"] = time.perf_counter() - started
    return times


def bench_phases(rows: int, repeats: int) -> None:
    inputs = flights_input(rows)
    print(f"flights-like source: {_describe(inputs)}")
    runs = [phase_times(f"bench_flights_{i}", inputs) for i in range(repeats)]
    for phase in runs[0]:
        values = sorted(r[phase] for r in runs)
        print(f"  {phase:<20} median {values[len(values) // 2]:7.2f} s  min {values[0]:7.2f} s")
    totals = sorted(sum(r.values()) for r in runs)
    print(f"  {'total':<20} median {totals[len(totals) // 2]:7.2f} s  min {totals[0]:7.2f} s")


def write_docs(flight_rows: int) -> None:
    """The reports of the sample data and of the flights-like star in `docs/` (Markdown and
    HTML), each analysed in process on a fresh data root."""
    from dat_pipeline.analysis.report import build_report, render_html, render_markdown
    from dat_pipeline.analysis.runner import AnalysisRunner
    from dat_pipeline.analysis.sources import add_source
    from dat_pipeline.store import open_store

    for name, inputs in (("sample", PROJECT / "data" / "sample"), ("flights", None)):
        inputs = inputs or flights_input(flight_rows)
        work, env = _fresh_root(f"docs_{name}", inputs)
        for path in inputs.iterdir():  # _fresh_root links CSV files only
            target = work / "data" / f"docs_{name}" / path.name
            if path.is_file() and not target.exists():
                shutil.copyfile(path, target)
        store = open_store(env["DAT_STORE_URL"])
        runner = AnalysisRunner(store=store, data_root=work / "data", warehouse=work / "w.duckdb")
        add_source(store, name, f"docs_{name}", data_root=work / "data")
        for phase in runner.graph.order:
            runner.run_phase(name, phase)
        markdown = render_markdown(build_report(runner, name))
        (PROJECT / "docs" / f"analysis-{name}.md").write_text(markdown, encoding="utf-8")
        html = render_html(markdown, f"Analysis of {name}")
        (PROJECT / "docs" / f"analysis-{name}.html").write_text(html, encoding="utf-8")
        print(f"  docs/analysis-{name}.md and .html")


def bench_ten_million(concurrency: int | None) -> None:
    inputs = big_input()
    print(f"10M-row single table: {_describe(inputs)}")
    print(f"analysis pipeline (dat CLI, --concurrency {concurrency}; load {load_average()}):")
    pipeline = run_pipeline("bench_10m", inputs, concurrency)
    total, peak = _print_pipeline(pipeline)
    run = pipeline["run"]
    ok = run is not None and run["success"] and all(p["state"] == "ran" for p in run["phases"])
    tree = pipeline["steps"]["run"]["tree_rss_mb"]
    print(
        f"  all phases finished: {verdict(ok)}; run + report {total:.2f} s; process "
        f"{peak_rss(peak, MEMORY_TARGET_MB)}; peak tree RSS (both phase processes together) "
        f"{tree:,.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench analysis", description=__doc__)
    parser.add_argument("--fact-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--concurrency", type=int, default=None, help="ours besides 1 (default: the CLI's)"
    )
    parser.add_argument("--skip-ydata", action="store_true")
    parser.add_argument(
        "--ten-million",
        action="store_true",
        default=os.environ.get("DAT_BENCH_10M") == "1",
        help="also the 10M-row single table (env DAT_BENCH_10M=1)",
    )
    parser.add_argument("--only-ten-million", action="store_true")
    parser.add_argument(
        "--phases",
        action="store_true",
        help="only the phases, in process, on the flights-like star (--flight-rows, --repeats)",
    )
    parser.add_argument("--flight-rows", type=int, default=336_776)
    parser.add_argument(
        "--docs", action="store_true", help="write docs/analysis-sample and -flights reports"
    )
    parser.add_argument("--repeats", type=int, default=3)
    options, _ = parser.parse_known_args()
    print("command: python -m bench " + " ".join(sys.argv[1:] or ["analysis"]))
    if options.phases:
        bench_phases(options.flight_rows, options.repeats)
        return
    if options.docs:
        write_docs(options.flight_rows)
        return
    if not options.only_ten_million:
        bench_star(options.fact_rows, options.concurrency, options.skip_ydata, options.repeats)
    if options.ten_million or options.only_ten_million:
        bench_ten_million(options.concurrency)
    print(f"(load average at the end: {load_average()})")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "measure":
        measure_worker(sys.argv[2], *sys.argv[3:])
    else:
        main()
