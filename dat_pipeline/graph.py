"""Dependency graphs of named steps: the DAT stage graph and the analysis phase graph.

One home for ordering and walking a graph where each step names the steps it needs. The order
comes from the standard library's `graphlib.TopologicalSorter`; within one level (steps whose
needs are all met at the same time, which could run in parallel) steps keep the order in which
they were declared, so the same graph always yields the same order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from graphlib import CycleError, TopologicalSorter


class GraphCycleError(ValueError):
    """The graph has a cycle; `nodes` are the steps on it."""

    def __init__(self, nodes: Iterable[str]):
        self.nodes = tuple(nodes)
        super().__init__(f"the graph has a cycle through {list(self.nodes)}")


class DependencyGraph:
    """Steps and the steps each one needs, in declaration order (`needs` maps a step to its
    needs; every need must be a step of the mapping)."""

    def __init__(self, needs: Mapping[str, Iterable[str]]):
        self.needs: dict[str, tuple[str, ...]] = {name: tuple(deps) for name, deps in needs.items()}
        self._rank = {name: index for index, name in enumerate(self.needs)}
        self.dependents: dict[str, list[str]] = {name: [] for name in self.needs}
        for name, deps in self.needs.items():
            for need in deps:
                self.dependents.setdefault(need, []).append(name)

    def levels(self) -> list[tuple[str, ...]]:
        """Batches of steps, each needing only steps of earlier batches (the steps of one batch
        can run in parallel), each batch in declaration order. Raises `GraphCycleError`."""
        sorter = TopologicalSorter(self.needs)
        try:
            sorter.prepare()
        except CycleError as exc:
            raise GraphCycleError(exc.args[1][:-1]) from None
        levels = []
        while sorter.is_active():
            ready = tuple(sorted(sorter.get_ready(), key=self._position))
            levels.append(ready)
            sorter.done(*ready)
        return levels

    def order(self) -> tuple[str, ...]:
        """Every step after the steps it needs: the levels one after the other."""
        return tuple(name for level in self.levels() for name in level)

    def upstream(self, name: str) -> set[str]:
        """The steps `name` needs, directly or not."""
        return self._reach(name, self.needs)

    def downstream(self, name: str) -> set[str]:
        """The steps that need `name`, directly or not."""
        return self._reach(name, self.dependents)

    def _position(self, name: str) -> int:
        return self._rank.get(name, len(self._rank))

    @staticmethod
    def _reach(name: str, edges: Mapping[str, Iterable[str]]) -> set[str]:
        found: set[str] = set()
        frontier = [name]
        while frontier:
            for nxt in edges.get(frontier.pop(), ()):
                if nxt not in found:
                    found.add(nxt)
                    frontier.append(nxt)
        return found
