from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from dat_pipeline.dat.graph import DEFAULT_GRAPH, StageGraph


def test_default_graph_cascades_as_the_spec_table():
    assert DEFAULT_GRAPH.cascade("discovery") == DEFAULT_GRAPH.order[1:]
    assert DEFAULT_GRAPH.cascade("context") == ()
    assert DEFAULT_GRAPH.cascade("table_availability") == (
        "table_selection",
        "preview",
        "parse",
        "export",
    )
    assert DEFAULT_GRAPH.cascade("parse") == ("export",)
    assert DEFAULT_GRAPH.rule("export").requires_completed == ("parse",)
    assert {s.name for s in DEFAULT_GRAPH.stages if s.optional} == {"context", "preview"}


def test_graph_round_trips_through_yaml(tmp_path: Path):
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump(DEFAULT_GRAPH.model_dump(mode="json")))
    assert StageGraph.from_yaml(path) == DEFAULT_GRAPH


def test_cycle_is_rejected():
    with pytest.raises(ValidationError, match="cycle"):
        StageGraph(stages=[{"name": "a", "requires": ["b"]}, {"name": "b", "requires": ["a"]}])


def test_unknown_reference_is_rejected():
    with pytest.raises(ValidationError, match="unknown stages"):
        StageGraph(stages=[{"name": "a", "requires": ["nope"]}])


def test_cascade_that_leaves_a_dependent_locked_is_rejected():
    with pytest.raises(ValidationError, match="must also unlock"):
        StageGraph(
            stages=[
                {"name": "a", "unlocks": []},
                {"name": "b", "requires": ["a"]},
            ]
        )
