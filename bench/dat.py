"""DAT data stages against the raw libraries, measured in one run (SPEC 6).

1. Parse: `pl.scan_csv().sink_parquet()`, the parse stage's domain function (DatWorkflow on a
   temp data root) and the path a person takes (`dat lock RUN parse --materialize`, SPEC 6 and 12)
   on the same generated CSV, alternating, each in its own process, with the peak RSS of each;
   `python -m bench dat --parse` runs this part alone.
2. Probe: `probe_table` on the CSV and on a generated 50 MB workbook.
3. Excel read: the excel adapter's `read` vs `pl.read_excel(engine="calamine")` (what the adapter
   calls itself) and vs openpyxl in read-only mode (what most users have), alternated.
4. Memory: the parse stage's peak RSS on a 500 MB JSON array and on a 200 MB workbook (each in
   its own process; target < 1 GiB), `python -m bench dat --memory` (skips 1-3) or within all.

Inputs are generated deterministically under `bench/out/dat/` (git-ignored) and reused when present.
`--size-mb N` (or `DAT_BENCH_CSV_MB`) sets the CSV size for a quick run; the default is 1024.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import polars as pl

from bench.machine import load_average, peak_rss, verdict
from bench.workspace import built_run, one_file_steps

PROJECT = Path(__file__).resolve().parent.parent
OUT = PROJECT / "bench" / "out" / "dat"
CSV_ROWS_PER_BATCH = 100_000
XLSX_TARGET_MB = 50
XLSX_ROWS = 780_000  # about 50 MB with the columns below (measured)
SHEET = "orders"
PARSE_TARGET, RSS_TARGET_MB, PROBE_TARGET_S, EXCEL_TARGET = 0.8, 1024, 1.0, 1.0

_WORDS = np.array(
    [
        "alpha",
        "bravo",
        "charlie",
        "delta",
        "echo",
        "foxtrot",
        "golf",
        "hotel",
        "india",
        "juliet",
        "kilo",
        "lima",
        "mike",
        "november",
        "oscar",
        "papa",
        "quebec",
        "romeo",
        "sierra",
        "tango",
        "uniform",
        "victor",
        "whiskey",
        "xray",
        "yankee",
        "zulu",
    ]
)
_CITIES = np.array(
    [
        "Paris",
        "Lyon",
        "Marseille",
        "Toulouse",
        "Nice",
        "Nantes",
        "Strasbourg",
        "Montpellier",
        "Bordeaux",
        "Lille",
        "Rennes",
        "Reims",
        "Le-Havre",
        "Saint-Étienne",
        "Toulon",
        "Grenoble",
    ]
)


# ---- inputs ------------------------------------------------------------------------------------


def _orders(batch: int, rows: int, first_id: int) -> pl.DataFrame:
    """`rows` order lines, the same for the same batch number: ints, floats, strings and dates."""
    rng = np.random.default_rng(batch)
    products = np.char.add(
        np.char.add(_WORDS[rng.integers(0, len(_WORDS), rows)], "-"),
        rng.integers(0, 5000, rows).astype(str),
    )
    ordered = np.datetime64("2020-01-01") + rng.integers(0, 1800, rows).astype("timedelta64[D]")
    shipped = ordered + rng.integers(0, 30, rows).astype("timedelta64[D]")
    return pl.DataFrame(
        {
            "order_id": np.arange(first_id, first_id + rows, dtype=np.int64),
            "customer_id": rng.integers(1, 2_000_000, rows),
            "quantity": rng.integers(1, 100, rows),
            "unit_price": np.round(rng.gamma(2.0, 40.0, rows), 2),
            "discount": np.round(rng.random(rows) * 0.3, 3),
            "product": products,
            "city": _CITIES[rng.integers(0, len(_CITIES), rows)],
            "comment": np.char.add("note ", rng.integers(0, 1 << 40, rows).astype(str)),
            "order_date": ordered.astype("datetime64[D]"),
            "ship_date": shipped.astype("datetime64[D]"),
        }
    ).with_columns(pl.col("order_date", "ship_date").cast(pl.Date))


def csv_input(size_mb: int) -> Path:
    """A CSV of about `size_mb` MiB (whole batches), generated once and reused."""
    target = OUT / f"orders_{size_mb}mb.csv"
    if target.is_file():
        return target
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    started = time.perf_counter()
    with open(tmp, "wb") as handle:
        batch = 0
        while handle.tell() < size_mb << 20:
            _orders(batch, CSV_ROWS_PER_BATCH, batch * CSV_ROWS_PER_BATCH).write_csv(
                handle, include_header=batch == 0
            )
            batch += 1
    os.replace(tmp, target)
    print(f"  generated {target.name} in {time.perf_counter() - started:.0f} s")
    return target


def json_input(size_mb: int = 500) -> Path:
    """A JSON array of order objects of about `size_mb` MiB, generated once and reused."""
    target = OUT / f"orders_{size_mb}mb.json"
    if target.is_file():
        return target
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(b"[\n")
        batch = 0
        while handle.tell() < size_mb << 20:
            frame = _orders(batch, CSV_ROWS_PER_BATCH, batch * CSV_ROWS_PER_BATCH)
            lines = frame.write_ndjson().rstrip("\n").replace("\n", ",\n")
            handle.write((",\n" if batch else "").encode() + lines.encode())
            batch += 1
        handle.write(b"\n]\n")
    os.replace(tmp, target)
    return target


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


_XLSX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        f'<sheets><sheet name="{SHEET}" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
        '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
        "</Relationships>"
    ),
    # Style 1 is the built-in date format 14, so calamine reads the date columns as dates.
    "xl/styles.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
        '<borders count="1"><border/></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        "</cellXfs></styleSheet>"
    ),
}


def xlsx_input(width: int = 1) -> Path:
    """A one-sheet workbook of about 50 MB per `width`, written as SpreadsheetML directly
    (vectorized, fast): shared strings, numbers and date-styled cells, like a workbook saved by
    Excel. `width` repeats the order columns side by side (4: a 200 MB workbook)."""
    target = OUT / f"orders_{XLSX_TARGET_MB * width}mb.xlsx"
    if target.is_file():
        return target
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    frame = pl.concat(
        [
            _orders(10_000 + copy, XLSX_ROWS, 0).rename(
                lambda name, copy=copy: f"{name}_{copy}" if copy else name
            )
            for copy in range(width)
        ],
        how="horizontal",
    )
    strings = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    pool = pl.concat([frame[name] for name in strings]).unique(maintain_order=True)
    index = {value: i for i, value in enumerate(pool.to_list())}
    excel_epoch = pl.date(1899, 12, 30)
    cells = []
    for position, (name, dtype) in enumerate(frame.schema.items()):
        ref = pl.lit(f'<c r="{_column_letter(position)}') + pl.col("_row").cast(pl.String)
        if dtype == pl.String:
            value = pl.col(name).replace_strict(index, return_dtype=pl.String)
            cells.append(ref + '" t="s"><v>' + value + "</v></c>")
        elif dtype == pl.Date:
            serial = (pl.col(name) - excel_epoch).dt.total_days().cast(pl.String)
            cells.append(ref + '" s="1"><v>' + serial + "</v></c>")
        else:
            cells.append(ref + '"><v>' + pl.col(name).cast(pl.String) + "</v></c>")
    header = "".join(
        f'<c r="{_column_letter(i)}1" t="inlineStr"><is><t>{name}</t></is></c>'
        for i, name in enumerate(frame.columns)
    )
    rows = frame.with_row_index("_row", offset=2).select(
        pl.concat_str([pl.lit('<row r="'), pl.col("_row").cast(pl.String), pl.lit('">'), *cells])
        + "</row>"
    )
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, text in _XLSX_PARTS.items():
            archive.writestr(name, text)
        shared = "".join(f"<si><t>{escape(value)}</t></si>" for value in index)
        archive.writestr(
            "xl/sharedStrings.xml",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            f'count="{len(index)}" uniqueCount="{len(index)}">{shared}</sst>',
        )
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(
                b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                + f'<dimension ref="A1:{_column_letter(frame.width - 1)}{frame.height + 1}"/>'.encode()
                + b'<sheetData><row r="1">'
                + header.encode()
                + b"</row>"
            )
            for part in rows.to_series().to_frame().iter_slices(50_000):
                sheet.write("".join(part.to_series().to_list()).encode())
            sheet.write(b"</sheetData></worksheet>")
    os.replace(tmp, target)
    size = target.stat().st_size / 2**20
    print(f"  generated {target.name} ({size:.0f} MB) in {time.perf_counter() - started:.0f} s")
    return target


# ---- workers (each measured in its own process, so peak RSS is its own) -------------------------


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _report(seconds: float, cpu: float, **extra: object) -> None:
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_rss_mb": peak_kb / 1024, **extra}))


def raw_worker(csv: Path, out: Path) -> None:
    cpu, started = _cpu_seconds(), time.perf_counter()
    pl.scan_csv(csv).sink_parquet(out)
    _report(time.perf_counter() - started, _cpu_seconds() - cpu)


def _parse_run(csv: Path, root: Path):  # type: ignore[no-untyped-def]
    """A run on a data root holding `csv` (a hard link), materialized through table_selection
    (every table of the file): (workflow, store, run id)."""
    source = root / "src" / csv.name
    source.parent.mkdir(parents=True)
    try:
        os.link(csv, source)
    except OSError:
        shutil.copyfile(csv, source)
    os.environ.update(DAT_DATA_ROOT=str(root), DAT_STORE_URL=f"sqlite:///{root / 'control.db'}")
    from dat_pipeline.dat.workflow import DatWorkflow
    from dat_pipeline.settings import get_settings
    from dat_pipeline.store import ControlStore

    get_settings.cache_clear()
    store = ControlStore(get_settings().store_url)
    flow = DatWorkflow(store, root)
    run = built_run(flow, one_file_steps(f"src/{csv.name}"))
    return flow, store, run


def _dataset_rows(flow, store, run: str) -> int:  # type: ignore[no-untyped-def]
    artifact = flow.load_artifact(run, "parse")
    store.dispose()
    return int(artifact.filter(pl.col("table") == "__dataset__")["rows"].item())


def parse_worker(csv: Path, root: Path) -> None:
    """The parse stage's domain function through DatWorkflow; only the parse materialization is
    timed."""
    flow, store, run = _parse_run(csv, root)
    flow.lock(run, "parse", {})
    cpu, started = _cpu_seconds(), time.perf_counter()
    flow.materialize(run, "parse")
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    _report(seconds, cpu, rows=_dataset_rows(flow, store, run))


def cli_worker(csv: Path, root: Path) -> None:
    """The parse stage the way a person runs it (SPEC 6, 12): `dat lock RUN parse --materialize`
    in a process of its own, with its start, imports and in-process Dagster run; only that
    command is timed (wall, and its CPU time). Peak RSS is the command's."""
    flow, store, run = _parse_run(csv, root)
    home = root / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT / "dagster.yaml", home / "dagster.yaml")
    command = [str(Path(sys.executable).parent / "dat"), "lock", run, "parse", "--materialize"]
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=PROJECT, env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    rows = _dataset_rows(flow, store, run)
    print(
        json.dumps(
            {"seconds": seconds, "cpu": cpu, "peak_rss_mb": after.ru_maxrss / 1024, "rows": rows}
        )
    )


def _in_subprocess(kind: str, *args: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "bench.dat", kind, *map(str, args)],
        cwd=PROJECT,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- measurements -------------------------------------------------------------------------------


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _rounded(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


PARSE_SIDES = {
    "raw-worker": "raw scan_csv().sink_parquet()",
    "parse-worker": "parse stage (DatWorkflow)",
    "cli-worker": "dat lock RUN parse --materialize",
}


def bench_parse(csv: Path, repeat: int) -> None:
    """Raw, the domain function and the CLI path alternate, each in a fresh process. The headline
    ratios are the medians of the paired ratios (raw and the side measured next to each other);
    best against best (the least disturbed run of each) stands beside them."""
    size_mb = csv.stat().st_size / 2**20
    runs: dict[str, list[dict]] = {kind: [] for kind in PARSE_SIDES}
    for attempt in range(repeat):
        work = OUT / f"work-{os.getpid()}-{attempt}"
        work.mkdir(parents=True)
        try:
            for kind in PARSE_SIDES:
                target = work / ("raw.parquet" if kind == "raw-worker" else kind)
                runs[kind].append(_in_subprocess(kind, csv, target))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    raws = runs["raw-worker"]
    rows = runs["parse-worker"][0]["rows"]
    print(f"parse: {csv.name} ({size_mb:,.0f} MiB, {rows:,} rows), {repeat} alternating runs")
    print(f"  {'':<34}{'p50 s':>7}{'best s':>8}{'MiB/s':>7}{'CPU s':>7}{'RSS MiB':>9}")
    for kind, name in PARSE_SIDES.items():
        times = [r["seconds"] for r in runs[kind]]
        best = min(times)
        print(
            f"  {name:<34}{statistics.median(times):7.2f}{best:8.2f}{size_mb / best:7.0f}"
            f"{min(r['cpu'] for r in runs[kind]):7.2f}"
            f"{max(r['peak_rss_mb'] for r in runs[kind]):9,.0f}"
        )
    for kind, target, what in (
        ("cli-worker", PARSE_TARGET, "CLI path"),
        ("parse-worker", 1.0, "domain function"),
    ):
        paired = [r["seconds"] / p["seconds"] for r, p in zip(raws, runs[kind], strict=True)]
        best = min(r["seconds"] for r in raws) / min(p["seconds"] for p in runs[kind])
        ratio = statistics.median(paired)
        print(
            f"  {what} raw/ours p50 {ratio:.2f} (target >= {target}: "
            f"{verdict(ratio >= target)}), best/best {best:.2f}, paired {_rounded(paired)}"
        )
    peak = max(r["peak_rss_mb"] for kind in ("parse-worker", "cli-worker") for r in runs[kind])
    print(f"  parse {peak_rss(peak, RSS_TARGET_MB)}; load average now {load_average()}")


def bench_probe(csv: Path, xlsx: Path) -> None:
    from dat_pipeline.adapters import probe_table

    print(f"probe (probe_table; table_availability cuts a probe off at {PROBE_TARGET_S:g} s):")
    for path, table in ((csv, csv.stem), (xlsx, SHEET)):
        started = time.perf_counter()
        result = probe_table(path, table, timeout_s=60.0)
        seconds = time.perf_counter() - started
        ok = seconds < PROBE_TARGET_S and result.status == "available"
        print(
            f"  {path.name} ({path.stat().st_size / 2**20:,.0f} MiB) table {table!r}: "
            f"{seconds:.3f} s, status {result.status}, {len(result.columns)} columns, "
            f"~{result.row_estimate or 0:,} rows (target < {PROBE_TARGET_S:g} s: {verdict(ok)})"
        )
        if seconds >= PROBE_TARGET_S:
            limited = probe_table(path, table, timeout_s=PROBE_TARGET_S)
            print(
                f"    with the {PROBE_TARGET_S:g} s limit: status {limited.status}: {limited.error}"
            )


def _openpyxl_read(xlsx: Path) -> pl.DataFrame:
    """What most users have: openpyxl in read-only mode, rows into a DataFrame."""
    import openpyxl

    workbook = openpyxl.load_workbook(xlsx, read_only=True, data_only=True)
    try:
        header, *rows = workbook[SHEET].iter_rows(values_only=True)
    finally:
        workbook.close()
    return pl.DataFrame(rows, schema=[str(name) for name in header], orient="row")


def bench_excel(xlsx: Path, repeat: int) -> None:
    from dat_pipeline.adapters import get_adapter

    adapter = get_adapter("excel")
    sides = {
        "pl.read_excel(engine='calamine')": lambda: pl.read_excel(
            xlsx, sheet_name=SHEET, engine="calamine"
        ),
        "openpyxl read-only, rows to Polars": lambda: _openpyxl_read(xlsx),
        "excel adapter read": lambda: adapter.read(xlsx, SHEET),
    }
    times: dict[str, list[float]] = {label: [] for label in sides}
    for _ in range(repeat):  # alternated, so every side sees the same machine load
        for label, read in sides.items():
            times[label].append(_timed(read))
    ours = times["excel adapter read"]
    print(f"excel read: {xlsx.name} ({xlsx.stat().st_size / 2**20:,.0f} MiB), {repeat} runs each")
    print(f"  {'':<36}{'min s':>8}{'median s':>10}{'adapter x':>11}")
    for label, runs in times.items():
        speedup = statistics.median(runs) / statistics.median(ours)
        print(f"  {label:<36}{min(runs):>8.2f}{statistics.median(runs):>10.2f}{speedup:>10.2f}x")
    ratio = min(times["pl.read_excel(engine='calamine')"]) / min(ours)
    print(
        f"  speed ratio adapter/calamine = {ratio:.2f} (target >= {EXCEL_TARGET}: "
        f"{verdict(ratio >= EXCEL_TARGET)})"
    )


def bench_memory(inputs: list[Path]) -> None:
    """Peak RSS of the parse stage per format above the stream threshold, one process each."""
    print(f"memory: parse stage peak RSS (target < {RSS_TARGET_MB} MiB for any size and format)")
    for source in inputs:
        work = OUT / f"work-{os.getpid()}-memory"
        work.mkdir(parents=True)
        try:
            result = _in_subprocess("parse-worker", source, work / "root")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        peak = result["peak_rss_mb"]
        print(
            f"  {source.name} ({source.stat().st_size / 2**20:,.0f} MiB): "
            f"{result['rows']:,} rows in {result['seconds']:.1f} s, {peak_rss(peak, RSS_TARGET_MB)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench dat", description=__doc__)
    parser.add_argument(
        "--size-mb",
        type=int,
        default=int(os.environ.get("DAT_BENCH_CSV_MB", "1024")),
        help="CSV size in MiB (env DAT_BENCH_CSV_MB, default 1024)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each parse measurement")
    parser.add_argument(
        "--memory", action="store_true", help="only the memory figures (JSON array, workbook)"
    )
    parser.add_argument("--parse", action="store_true", help="only the parse figures (1)")
    options, _ = parser.parse_known_args()
    if options.parse:
        bench_parse(csv_input(options.size_mb), options.repeat)
        return
    memory_inputs = [json_input(), xlsx_input(width=4)]
    if options.memory:
        bench_memory(memory_inputs)
        return
    csv, xlsx = csv_input(options.size_mb), xlsx_input()
    bench_parse(csv, options.repeat)
    bench_probe(csv, xlsx)
    bench_excel(xlsx, max(options.repeat, 3))
    bench_memory(memory_inputs)
    print(f"(load average at the end: {load_average()})")


if __name__ == "__main__":
    kind, *paths = sys.argv[1:]
    workers = {"raw-worker": raw_worker, "parse-worker": parse_worker, "cli-worker": cli_worker}
    workers[kind](*map(Path, paths))
