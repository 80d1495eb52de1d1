"""What every benchmark prints first: the machine, its load average and the versions measured, so
that figures from different runs are compared like for like."""

from __future__ import annotations

import os
import platform
import textwrap
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("dat_pipeline", "dagster", "polars", "pyarrow", "duckdb", "sqlalchemy", "psycopg")


def _cpu() -> str:
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        model = next((line.split(":", 1)[1].strip() for line in handle if "model name" in line), "")
    return f"{model or platform.processor() or 'unknown CPU'}, {os.cpu_count()} cores"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024**2
    return float("nan")


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "-"


def header() -> str:
    """Three lines: machine, load average (1/5/15 min) now, versions."""
    load = load_average()
    versions = ", ".join(f"{name} {_version(name)}" for name in PACKAGES)
    return (
        f"machine : {_cpu()}, {_memory_gib():.1f} GiB, {platform.system()} "
        f"{platform.release()}\n"
        f"load    : {load} (1/5/15 min)\n"
        + textwrap.fill(
            f"versions: Python {platform.python_version()}, {versions}",
            width=80,
            subsequent_indent=" " * 10,
        )
    )


def print_header() -> None:
    print(header(), flush=True)


def load_average() -> str:
    """The load average now (1/5/15 min)."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def peak_rss(megabytes: float, target_mb: float) -> str:
    """A peak resident set size against its target, as the benches print it."""
    return f"peak RSS {megabytes:,.0f} MiB (target < {target_mb:,.0f}: {verdict(megabytes < target_mb)})"
