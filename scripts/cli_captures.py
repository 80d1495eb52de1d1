"""Regenerate `docs/cli-*.txt`: what `dat` prints at 80 columns, on a throwaway copy of the sample.

Every capture is a real `dat` process (COLUMNS=80), its command line, its stdout and stderr, and
its exit code, so the README's examples are what a person sees today. Run from the project root:
`.venv/bin/python scripts/cli_captures.py`.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.workspace import PROJECT, Workspace

DOCS = PROJECT / "docs"
FILES = ["sample/products.xlsx", "sample/sales_2024_q1.csv", "sample/stores.tsv"]


class Session:
    """`dat` commands in one workspace; `capture` also writes what a person saw to docs/."""

    def __init__(self, workspace: Workspace) -> None:
        self.env = {**workspace.env, "COLUMNS": "80"}
        self.run_id = ""

    def dat(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [str(Path(sys.executable).with_name("dat")), *args]  # the installed command
        return subprocess.run(argv, capture_output=True, text=True, env=self.env, cwd=PROJECT)

    def ok(self, *args: str) -> str:
        done = self.dat(*args)
        if done.returncode != 0:
            sys.exit(f"dat {shlex.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def capture(self, name: str, *args: str) -> None:
        done = self.dat(*args)
        shown = " ".join(a if a == self.run_id else shlex.quote(a) for a in args)
        text = (
            f"$ COLUMNS=80 dat {shown}\n{done.stdout}{done.stderr}(exit code {done.returncode})\n"
        )
        (DOCS / f"cli-{name}.txt").write_text(text, encoding="utf-8")
        print(f"docs/cli-{name}.txt  (exit code {done.returncode})")


def main() -> None:
    workspace = Workspace("dat_captures_")
    try:
        session = Session(workspace)
        run = session.ok("runs", "create", "--name", "Q1 sales").strip()
        session.run_id = run
        session.ok("lock", run, "discovery", "--set", "root=sample", "--materialize")
        session.ok("lock", run, "selection", "--set", f"files={json.dumps(FILES)}")
        session.ok("skip", run, "context")
        session.ok("lock", run, "table_availability")
        tables = json.dumps({path: ["*"] for path in FILES})
        session.ok("lock", run, "table_selection", "--set", f"tables={tables}")
        session.ok("lock", run, "preview", "--materialize")
        session.ok("lock", run, "parse", "--set", "strict=true")

        session.capture("runs-list", "runs", "list")
        session.capture("stages", "stages")
        session.capture("stages-show", "stages", "show", "table_selection")
        session.capture("lock-help", "lock", "--help")
        session.capture("show-discovery", "show", run, "discovery")
        session.capture("show-availability", "show", run, "table_availability")
        session.capture("show-preview", "show", run, "preview", "--limit", "5")
        session.capture("status", "status", run)
        session.capture("failure-unknown-key", "lock", run, "discovery", "--set", "folder=mine")
        session.capture(
            "failure-set-value", "lock", run, "table_selection", "--set", "tables={a.csv: [*]}"
        )

        stores = workspace.dir / "data" / "sample" / "stores.tsv"
        kept = stores.read_bytes()
        stores.unlink()
        session.capture("failure", "materialize", run, "--stage", "parse")
        stores.write_bytes(kept)

        include = 'include=["*.csv", "*.tsv", "*.xlsx"]'
        session.capture(
            "relock-cascade", "lock", run, "discovery", "--set", "root=sample", "--set", include
        )
        session.capture("lock-chain", "lock", run, "--chain")
    finally:
        workspace.close()


if __name__ == "__main__":
    main()
