"""Runs analysis phases for a source: inputs from stored results, results persisted as Parquet.

Layout: `<data root>/analysis/<source>/<phase>/<name>.parquet` per result table plus `meta.json`
(status, fingerprint, version, duration, summary, figures), written last, so a `meta.json` with
status `ok` means every table it lists is complete. DuckDB sees the results as views
`"<source>"."<phase>__<name>"` over those files (`register_views`), so the warehouse holds no copy
and is opened only for a few DDL statements.

Skipping: a phase's fingerprint hashes its code version, its options and its inputs: the source
fingerprint for `import`, the upstream phases' fingerprints for every other phase. A phase whose
`meta.json` holds the same fingerprint is not run again. Because the fingerprints chain, the whole
set can be computed before anything runs (`expected_fingerprints`), which is how `dat analysis run`
selects only the phases that changed.

No Dagster import: `dat_pipeline.defs.analysis` wraps these functions as assets. The phase graph
lives in `analysis.graph`, what is stored and reported in `analysis.results`; the names other
layers import from here are re-exported (`__all__`).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from dat_pipeline.analysis.graph import PhaseGraph, default_graph
from dat_pipeline.analysis.phase import PhaseContext, PhaseResult, PhaseSpec
from dat_pipeline.analysis.results import (
    AnalysisRun,
    PhaseMeta,
    PhaseOutcome,
    PhaseReport,
    PhaseState,
    StoredTables,
    jsonable,
    now_iso,
    phase_fingerprint,
)
from dat_pipeline.analysis.sources import (
    AnalysisError,
    Source,
    check_source_name,
    fingerprint,
    get_source,
    read_source,
)
from dat_pipeline.files import write_parquet_atomic, write_text_atomic
from dat_pipeline.settings import get_settings
from dat_pipeline.store import ControlStore, open_store

__all__ = [
    "ANALYSIS_DIR",
    "META_FILE",
    "AnalysisRun",
    "AnalysisRunner",
    "PhaseFailedError",
    "PhaseGraph",
    "PhaseOutcome",
    "PhaseReport",
    "PhaseState",
    "default_graph",
]

ANALYSIS_DIR = "analysis"
META_FILE = "meta.json"
RAW_PREFIX = "raw__"
TYPED_PREFIX = "typed__"
_RESULT_NAME = re.compile(r"^[A-Za-z0-9_]{1,120}$")


class PhaseFailedError(AnalysisError):
    """A phase raised; its dependents cannot run. The message names the source and the phase."""


class AnalysisRunner:
    """Phases of the sources in one control store and data root."""

    def __init__(
        self,
        store: ControlStore | None = None,
        data_root: Path | None = None,
        graph: PhaseGraph | None = None,
        warehouse: Path | None = None,
    ):
        settings = get_settings()
        self.store = store or open_store(settings.store_url)
        self.data_root = Path(data_root or settings.data_root).resolve()
        self.graph = graph or default_graph()
        self.warehouse = Path(warehouse or self.data_root / "warehouse.duckdb")

    # -- locations --------------------------------------------------------------------------
    def source_dir(self, source: str) -> Path:
        return self.data_root / ANALYSIS_DIR / check_source_name(source)

    def phase_dir(self, source: str, phase: str) -> Path:
        return self.source_dir(source) / self.graph.spec(phase).name

    def read_meta(self, source: str, phase: str) -> PhaseMeta | None:
        return PhaseMeta.from_file(self.phase_dir(source, phase) / META_FILE)

    def stored_tables(self, source: str, phase: str) -> StoredTables:
        meta = self.read_meta(source, phase)
        names = list(meta.tables) if meta is not None and meta.status == "ok" else []
        return StoredTables(self.phase_dir(source, phase), names)

    def source(self, name: str) -> Source:
        return get_source(self.store, name)

    # -- fingerprints and state -------------------------------------------------------------
    def expected_fingerprints(self, source: Source) -> dict[str, str]:
        """Every phase's fingerprint if the whole chain ran on the source as it is now."""
        source_fp = fingerprint(source, self.data_root)
        expected: dict[str, str] = {}
        for name in self.graph.order:
            spec = self.graph.spec(name)
            inputs = [expected[need] for need in spec.needs] if spec.needs else [source_fp]
            expected[name] = phase_fingerprint(spec, inputs, source.options)
        return expected

    def states(self, source_name: str) -> list[PhaseState]:
        """Each phase: ok (current), stale (inputs or code changed), missing, failed, or blocked
        (a phase it needs failed)."""
        source = self.source(source_name)
        expected = self.expected_fingerprints(source)
        raw: dict[str, PhaseState] = {}
        for name in self.graph.order:
            meta = self.read_meta(source_name, name)
            if meta is None:
                state = "missing"
            elif meta.status != "ok":
                state = "failed"
            elif meta.fingerprint != expected[name] or not self._files_complete(source_name, meta):
                state = "stale"
            else:
                state = "ok"
            raw[name] = PhaseState(
                phase=name,
                state=state,
                fingerprint=meta.fingerprint if meta else None,
                expected=expected[name],
                duration_s=meta.duration_s if meta else None,
                finished_at=meta.finished_at if meta else None,
                error=meta.error if meta else None,
            )
        states = []
        for name in self.graph.order:
            failed = [a for a in self.graph.ancestors(name) if raw[a].state == "failed"]
            current = raw[name]
            if failed and current.state != "failed":
                current = PhaseState(
                    **{**current.__dict__, "state": "blocked", "blocked_by": tuple(failed)}
                )
            states.append(current)
        return states

    def _files_complete(self, source: str, meta: PhaseMeta) -> bool:
        folder = self.phase_dir(source, meta.phase)
        return all((folder / f"{name}.parquet").is_file() for name in meta.tables)

    def plan(self, source_name: str, phases: Sequence[str] | None = None) -> dict[str, str]:
        """State per phase of `phases` and what they need (default: all), in graph order."""
        selected = set(self.graph.closure(phases) if phases else self.graph.order)
        return {s.phase: s.state for s in self.states(source_name) if s.phase in selected}

    def unchanged_reports(
        self, source_name: str, phases: Sequence[str] | None = None
    ) -> dict[str, PhaseReport]:
        """A `skipped` report for each selected phase whose stored result is current."""
        reports = {}
        for phase, state in self.plan(source_name, phases).items():
            if state == "ok":
                meta = self.read_meta(source_name, phase)
                reports[phase] = PhaseReport(
                    phase,
                    "skipped",
                    meta.duration_s if meta else None,
                    meta.fingerprint if meta else None,
                )
        return reports

    # -- running ----------------------------------------------------------------------------
    def run_phase(
        self, source_name: str, phase: str, log: Callable[[str], None] | None = None
    ) -> PhaseOutcome:
        """Run `phase` for the source, or return the stored result when its fingerprint is the
        one recorded. Raises `PhaseFailedError` (after recording the failure) when it raises."""
        log = log or (lambda _message: None)
        source = self.source(source_name)
        spec = self.graph.spec(phase)
        inputs = self._inputs(source, spec)
        fp = phase_fingerprint(spec, inputs, source.options)
        folder = self.phase_dir(source.name, spec.name)
        meta = self.read_meta(source.name, spec.name)
        if (
            meta is not None
            and meta.status == "ok"
            and meta.fingerprint == fp
            and self._files_complete(source.name, meta)
        ):
            log(f"{spec.name}: unchanged (fingerprint {fp}), skipped")
            return PhaseOutcome(
                spec.name, source.name, fp, True, meta, StoredTables(folder, list(meta.tables))
            )
        context = self._context(source, spec, log)
        (folder / META_FILE).unlink(missing_ok=True)
        start = time.perf_counter()
        try:
            result = spec.run(context)
            self._check_result(spec, result)
            duration = time.perf_counter() - start
            meta = self._record(source.name, spec, fp, inputs, duration, result)
        except Exception as exc:
            duration = time.perf_counter() - start
            message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            self._record(source.name, spec, fp, inputs, duration, None, message)
            raise PhaseFailedError(
                f"phase {spec.name} of source {source.name} failed: {message}"
            ) from exc
        log(f"{spec.name}: computed in {duration:.2f} s, {len(result.tables)} result tables")
        return PhaseOutcome(spec.name, source.name, fp, False, meta, result.tables)

    def _inputs(self, source: Source, spec: PhaseSpec) -> list[str]:
        if not spec.needs:
            return [fingerprint(source, self.data_root)]
        inputs = []
        for need in spec.needs:
            meta = self.read_meta(source.name, need)
            if meta is None or meta.status != "ok":
                state = "failed" if meta is not None else "not run"
                raise AnalysisError(
                    f"phase {spec.name} of source {source.name} needs {need}, which is {state}; "
                    f"run it first: dat analysis run {source.name} --phase {spec.name}"
                )
            inputs.append(meta.fingerprint)
        return inputs

    def _context(self, source: Source, spec: PhaseSpec, log: Callable[[str], None]) -> PhaseContext:
        options = dict(source.options)
        ancestors = self.graph.ancestors(spec.name)
        results: dict[str, PhaseResult] = {}
        tables: dict[str, pl.DataFrame]
        provider, prefix = None, ""
        if "typing" in ancestors:
            provider, prefix = "typing", TYPED_PREFIX
        elif "import" in ancestors:
            provider, prefix = "import", RAW_PREFIX
        if not spec.needs:
            read = read_source(source, self.data_root)
            tables = read.tables
            options["_source_problems"] = read.problems
            options["_source_sampled"] = read.sampled
            options["_source_refs"] = {
                name: {"path": ref.path, "table": ref.table} for name, ref in read.refs.items()
            }
        else:
            tables = {}
        for ancestor in ancestors:
            stored = self.stored_tables(source.name, ancestor)
            if ancestor == provider:
                for name in stored:
                    if name.startswith(prefix):
                        tables[name[len(prefix) :]] = stored[name]
            meta = self.read_meta(source.name, ancestor)
            results[ancestor] = PhaseResult(
                tables=stored,  # type: ignore[arg-type]  # a lazy Mapping, read on access
                summary=meta.summary if meta else "",
                figures=meta.figures if meta else {},
            )
        return PhaseContext(
            source=source.name, tables=tables, results=results, options=options, log=log
        )

    @staticmethod
    def _check_result(spec: PhaseSpec, result: Any) -> None:
        if not isinstance(result, PhaseResult):
            raise AnalysisError(
                f"phase {spec.name} returned {type(result).__name__}, not a PhaseResult"
            )
        for name, frame in result.tables.items():
            if not _RESULT_NAME.match(name):
                raise AnalysisError(
                    f"phase {spec.name}: result table name {name!r} must be letters, digits, _"
                )
            if not isinstance(frame, pl.DataFrame):
                raise AnalysisError(
                    f"phase {spec.name}: result table {name!r} is a {type(frame).__name__}, "
                    "not a polars DataFrame"
                )

    def _record(
        self,
        source: str,
        spec: PhaseSpec,
        fp: str,
        inputs: list[str],
        duration: float,
        result: PhaseResult | None,
        error: str | None = None,
    ) -> PhaseMeta:
        """Write a finished phase: its result tables (none when it failed, `error`), older
        tables removed, then `meta.json` last, so that an `ok` meta means every table it lists
        is complete."""
        folder = self.phase_dir(source, spec.name)
        tables = result.tables if result is not None else {}
        if result is not None:
            folder.mkdir(parents=True, exist_ok=True)
        for name, frame in tables.items():
            try:
                write_parquet_atomic(folder / f"{name}.parquet", frame)
            except Exception as exc:
                raise AnalysisError(
                    f"result table {name!r} cannot be written as Parquet: {exc}"
                ) from exc
        self._remove_tables(folder, keep=set(tables))
        outcome: dict[str, Any] = {"error": error}
        if result is not None:
            outcome = {
                "summary": result.summary or "",
                "figures": json.loads(json.dumps(result.figures or {}, default=jsonable)),
                "tables": {
                    name: {"rows": frame.height, "columns": frame.width}
                    for name, frame in tables.items()
                },
            }
        meta = PhaseMeta(
            phase=spec.name,
            source=source,
            status="ok" if result is not None else "failed",
            fingerprint=fp,
            version=spec.version,
            inputs=inputs,
            duration_s=round(duration, 4),
            finished_at=now_iso(),
            **outcome,
        )
        write_text_atomic(folder / META_FILE, meta.to_json())
        return meta

    @staticmethod
    def _remove_tables(folder: Path, keep: set[str]) -> None:
        if folder.is_dir():
            for path in folder.glob("*.parquet"):
                if path.stem not in keep:
                    path.unlink(missing_ok=True)

    # -- warehouse views and reset ----------------------------------------------------------
    def register_views(self, source_name: str) -> list[str]:
        """Create `"<source>"."<phase>__<name>"` views over the current results and drop the
        views of results that are gone. Opens the warehouse only for these statements."""
        from dat_pipeline.dat.warehouse import _string_literal, connect, quote_identifier

        check_source_name(source_name)
        wanted: dict[str, Path] = {}
        for phase in self.graph.order:
            meta = self.read_meta(source_name, phase)
            if meta is None or meta.status != "ok":
                continue
            for name in meta.tables:
                path = self.phase_dir(source_name, phase) / f"{name}.parquet"
                if path.is_file():
                    wanted[f"{phase}__{name}"] = path
        schema = quote_identifier(source_name)
        with connect(self.warehouse) as connection:
            connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            existing = {
                row[0]
                for row in connection.execute(
                    "SELECT view_name FROM duckdb_views() WHERE schema_name = ? AND NOT internal",
                    [source_name],
                ).fetchall()
            }
            ours = {v for v in existing if v.split("__", 1)[0] in self.graph.specs}
            for view in sorted(ours - set(wanted)):
                connection.execute(f"DROP VIEW IF EXISTS {schema}.{quote_identifier(view)}")
            for view, path in wanted.items():
                connection.execute(
                    f"CREATE OR REPLACE VIEW {schema}.{quote_identifier(view)} AS SELECT * "
                    f"FROM read_parquet({_string_literal(path.as_posix())})"
                )
        return [f"{source_name}.{view}" for view in wanted]

    def reset(self, source_name: str, phase: str | None = None) -> list[str]:
        """Delete the stored results of `phase` and its dependents (default: every phase)."""
        self.source(source_name)
        phases = self.graph.order if phase is None else [phase, *self.graph.descendants(phase)]
        removed = []
        for name in phases:
            folder = self.phase_dir(source_name, name)
            if folder.exists():
                shutil.rmtree(folder)
                removed.append(name)
        return removed

    def load_result(self, source_name: str, phase: str) -> PhaseResult | None:
        """The stored result of a phase (lazy tables), or None when it has no usable result."""
        meta = self.read_meta(source_name, phase)
        if meta is None or meta.status != "ok":
            return None
        return PhaseResult(
            tables=StoredTables(self.phase_dir(source_name, phase), list(meta.tables)),  # type: ignore[arg-type]
            summary=meta.summary,
            figures=meta.figures,
        )
