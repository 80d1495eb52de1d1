from __future__ import annotations

import os
from pathlib import Path

import pytest

from dat_pipeline import ids
from dat_pipeline.paths import PathEscapeError, normalize_relative, resolve_inside


def test_canonical_json_is_sorted_compact_utf8():
    assert ids.canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


def test_stage_id_depends_on_config_and_upstream_but_not_key_order():
    first = ids.stage_id("selection", {"files": ["a.csv"], "x": 1}, {"discovery": "discovery_1"})
    same = ids.stage_id("selection", {"x": 1, "files": ["a.csv"]}, {"discovery": "discovery_1"})
    other_upstream = ids.stage_id("selection", {"files": ["a.csv"], "x": 1}, {"discovery": "d2"})
    assert first == same
    assert first != other_upstream
    assert first.startswith("selection_") and len(first) == len("selection_") + 8


def test_stage_id_matches_the_documented_formula():
    import hashlib

    inputs = {"config": {"root": "sample"}, "upstream": {}}
    digest = hashlib.sha256(b'{"config":{"root":"sample"},"upstream":{}}').hexdigest()[:8]
    assert ids.stage_id("discovery", inputs["config"], {}) == f"discovery_{digest}"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("sample/a.csv", "sample/a.csv"),
        ("./sample//a.csv", "sample/a.csv"),
        ("a/../b", "b"),
        ("sample\\x.csv", "sample/x.csv"),
        (".", "."),
    ],
)
def test_relative_paths_are_normalized(raw, expected):
    assert normalize_relative(raw) == expected


@pytest.mark.parametrize("raw", ["/etc/passwd", "../outside.csv", "sample/../../x", "C:\\x.csv"])
def test_escaping_paths_are_rejected_with_the_path_named(raw):
    with pytest.raises(PathEscapeError, match="path"):
        normalize_relative(raw)


def test_symlink_out_of_the_root_is_rejected(tmp_path: Path):
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "secret.csv"
    outside.write_text("a\n1\n")
    os.symlink(outside, root / "link.csv")
    with pytest.raises(PathEscapeError, match="outside the data root"):
        resolve_inside(root, "link.csv")
    (root / "inside.csv").write_text("a\n1\n")
    os.symlink(root / "inside.csv", root / "ok.csv")
    assert resolve_inside(root, "ok.csv") == (root / "inside.csv").resolve()
