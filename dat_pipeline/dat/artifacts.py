"""Where stage artifacts live: `<data root>/dat/runs/<run>/<stage>/<stage_id>.parquet`.

Artifacts are keyed by stage id, so a re-lock with the same inputs finds the file and computes
nothing, and an unlock never deletes anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Polars loads when an artifact is read or written, not to look at paths
    import polars as pl


class ArtifactStore:
    def __init__(self, data_root: Path):
        self.root = Path(data_root) / "dat" / "runs"

    def run_dir(self, run_id: str) -> Path:
        return self.root / run_id

    def path(self, run_id: str, stage: str, stage_id: str) -> Path:
        return self.root / run_id / stage / f"{stage_id}.parquet"

    def work_dir(self, run_id: str, stage: str, stage_id: str) -> Path:
        """A folder for the side files of one stage id (per-table outputs, checkpoints)."""
        return self.root / run_id / stage / stage_id

    def exists(self, run_id: str, stage: str, stage_id: str) -> bool:
        return self.path(run_id, stage, stage_id).is_file()

    def write(self, run_id: str, stage: str, stage_id: str, frame: pl.DataFrame) -> Path:
        from dat_pipeline.files import write_parquet_atomic

        return write_parquet_atomic(self.path(run_id, stage, stage_id), frame)

    def read(self, run_id: str, stage: str, stage_id: str) -> pl.DataFrame:
        import polars as pl

        return pl.read_parquet(self.path(run_id, stage, stage_id))

    def list_files(self, run_id: str) -> list[Path]:
        run_dir = self.run_dir(run_id)
        return sorted(p for p in run_dir.rglob("*") if p.is_file()) if run_dir.exists() else []
