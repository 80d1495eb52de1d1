"""`python -m bench [NAME ...]`: run the named benchmarks (default: all)."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {"overhead": "bench.overhead"}


def main() -> None:
    names = sys.argv[1:] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHMARKS)}")
    for name in names:
        print(f"== {name}")
        importlib.import_module(BENCHMARKS[name]).main()


if __name__ == "__main__":
    main()
