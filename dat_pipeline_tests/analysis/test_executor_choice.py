"""The analysis picks its executor by the size of the source (issue 17 point 4)."""

from pathlib import Path

import pytest

from dat_pipeline.services import analysis
from dat_pipeline.services.context import open_context


def test_a_small_source_runs_in_process_and_a_large_one_on_two_processes(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample_bytes = sum(path.stat().st_size for path in (data_root / "sample").iterdir())
    with open_context() as ctx:
        analysis.add_source(ctx, "sample", "sample")
        assert analysis.pick_concurrency(ctx, "sample") == 1
        monkeypatch.setattr(analysis, "IN_PROCESS_MAX_BYTES", sample_bytes)
        assert analysis.pick_concurrency(ctx, "sample") == analysis.DEFAULT_CONCURRENCY
