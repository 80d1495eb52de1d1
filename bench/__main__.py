"""`python -m bench [NAME ...] [--OPTION ...]`: run the named benchmarks (default: all).

Options after the names are left in `sys.argv` for the benchmarks to read. Each benchmark is
preceded by the machine, the load average and the versions (bench/machine.py).
"""

from __future__ import annotations

import importlib
import sys

from bench.machine import print_header

BENCHMARKS = {
    "overhead": "bench.overhead",
    "dat": "bench.dat",
    "api": "bench.api",
    "backfill": "bench.backfill",
    "analysis": "bench.analysis",
    "follow": "bench.follow",
    "latency": "bench.latency",
    "startup": "bench.startup",
    "db_reader": "bench.db_reader",
}


def main() -> None:
    args = sys.argv[1:]
    first_option = next((i for i, arg in enumerate(args) if arg.startswith("-")), len(args))
    names = args[:first_option] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHMARKS)}")
    for name in names:
        print(f"== {name}")
        print_header()  # the load average when this benchmark starts
        importlib.import_module(BENCHMARKS[name]).main()


if __name__ == "__main__":
    main()
