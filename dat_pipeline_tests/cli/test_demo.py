"""`make demo`: readable at 80 columns, says what to try next, and a second run does no work."""

from __future__ import annotations

from pathlib import Path

import pytest

from dat_pipeline import demo


def test_a_second_demo_reuses_its_run_and_analyses_nothing_again(
    data_root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("COLUMNS", "80")
    assert demo.main() == 0
    first = capsys.readouterr().out
    assert " ran " in first
    assert "Try it on a folder of your own:" in first and "dat stages" in first
    assert all(len(line) <= 80 for line in first.splitlines())

    assert demo.main() == 0
    second = capsys.readouterr().out
    phases = [
        line.split()
        for line in second.splitlines()
        if line.endswith(tuple("0123456789abcdef")) and " s " in line
    ]
    assert len(phases) == 13 and {p[1] for p in phases} == {"skipped"}
    assert second.splitlines()[0].split()[2] == first.splitlines()[0].split()[2]  # same run
