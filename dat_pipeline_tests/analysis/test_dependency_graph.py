"""One graph helper (`dat_pipeline.graph`, on `graphlib`) orders the DAT stages and the analysis
phases: levels that could run in parallel, declaration order within a level, cycles refused."""

from __future__ import annotations

import pytest

from dat_pipeline.analysis.graph import default_graph
from dat_pipeline.dat.graph import StageGraph, StageRule
from dat_pipeline.graph import DependencyGraph, GraphCycleError


def test_levels_put_every_step_after_its_needs_in_declaration_order() -> None:
    graph = DependencyGraph({"d": ("b", "c"), "c": ("a",), "b": ("a",), "a": (), "e": ()})
    assert graph.levels() == [("a", "e"), ("c", "b"), ("d",)]
    assert graph.order() == ("a", "e", "c", "b", "d")
    assert graph.upstream("d") == {"a", "b", "c"}
    assert graph.downstream("a") == {"b", "c", "d"}
    assert graph.downstream("e") == set()


def test_a_cycle_is_refused_naming_its_steps() -> None:
    graph = DependencyGraph({"a": (), "b": ("a", "c"), "c": ("b",)})
    with pytest.raises(GraphCycleError) as caught:
        graph.levels()
    assert set(caught.value.nodes) == {"b", "c"}


def test_stage_order_is_by_level_even_when_declared_out_of_order() -> None:
    graph = StageGraph(
        stages=(
            StageRule(name="a"),
            StageRule(name="b", requires=("a",)),
            StageRule(name="c"),
        )
    )
    assert graph.order == ("a", "c", "b")
    assert graph.downstream("a") == ("b",)


def test_the_phase_graph_runs_in_levels_each_needing_only_earlier_ones() -> None:
    graph = default_graph()
    levels = graph.levels()
    assert sorted(name for level in levels for name in level) == sorted(graph.order)
    done: set[str] = set()
    for level in levels:
        for phase in level:
            assert set(graph.needs(phase)) <= done
        done.update(level)
    assert levels[0] == ("import",)
    assert len(levels) < len(graph.order)  # some phases can run side by side
