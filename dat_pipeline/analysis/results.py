"""What the runner stores and reports: result tables read lazily from Parquet, each phase's
`meta.json`, the state of a phase, and the answer of a run."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from dat_pipeline.analysis.phase import PhaseSpec


class StoredTables(Mapping[str, pl.DataFrame]):
    """Result tables of a phase, read from Parquet on first access (large ones are never read
    by phases that do not use them)."""

    def __init__(self, folder: Path, names: Sequence[str], preloaded: Mapping[str, Any] = ()):
        self.folder = folder
        self.names = list(names)
        self._cache: dict[str, pl.DataFrame] = dict(preloaded)

    def __getitem__(self, name: str) -> pl.DataFrame:
        if name not in self._cache:
            if name not in self.names:
                raise KeyError(name)
            self._cache[name] = pl.read_parquet(self.folder / f"{name}.parquet")
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


@dataclass
class PhaseMeta:
    phase: str
    source: str
    status: str  # ok | failed
    fingerprint: str
    version: str
    inputs: list[str]
    duration_s: float
    finished_at: str
    summary: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, dict[str, int]] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, ensure_ascii=False, default=jsonable) + "\n"

    @classmethod
    def from_file(cls, path: Path) -> PhaseMeta | None:
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            return cls(**body)
        except (OSError, ValueError, TypeError):
            return None


@dataclass
class PhaseOutcome:
    """What running (or skipping) one phase gave."""

    phase: str
    source: str
    fingerprint: str
    skipped: bool
    meta: PhaseMeta
    tables: Mapping[str, pl.DataFrame]

    @property
    def duration_s(self) -> float:
        return self.meta.duration_s


@dataclass(frozen=True)
class PhaseState:
    phase: str
    state: str  # ok | stale | missing | failed | blocked
    fingerprint: str | None
    expected: str
    duration_s: float | None
    finished_at: str | None
    error: str | None
    blocked_by: tuple[str, ...] = ()


@dataclass
class PhaseReport:
    phase: str
    state: str  # ran | skipped | failed | blocked
    duration_s: float | None = None
    data_version: str | None = None
    error: str | None = None

    def line(self) -> str:
        """The progress line of `dat analysis run` and the demo."""
        duration = f"{self.duration_s:8.2f} s" if self.duration_s is not None else " " * 10
        note = f"  {self.error}" if self.error else ""
        return (
            f"  {self.phase:<20} {self.state:<8} {duration}  {(self.data_version or '')[:12]}{note}"
        )


@dataclass
class AnalysisRun:
    source: str
    success: bool
    seconds: float
    run_id: str | None
    phases: list[PhaseReport] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "success": self.success,
            "seconds": round(self.seconds, 3),
            "run_id": self.run_id,
            "phases": [p.__dict__ for p in self.phases],
        }


def jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def phase_fingerprint(spec: PhaseSpec, inputs: Sequence[str], options: Mapping[str, Any]) -> str:
    payload = {
        "phase": spec.name,
        "version": spec.version,
        "inputs": list(inputs),
        "options": dict(options),
    }
    text = json.dumps(payload, sort_keys=True, default=jsonable)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
