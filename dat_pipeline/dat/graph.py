"""The stage graph as data: which stages gate which, what unlocking cascades, which are optional.

The default graph is SPEC 1.2; a YAML file with the same shape overrides it
(`StageGraph.from_yaml`). Validation rejects unknown references, cycles, and a cascade that would
leave a stage locked while one of its gates is unlocked.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dat_pipeline.graph import DependencyGraph, GraphCycleError


class StageRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    requires: tuple[str, ...] = ()
    requires_completed: tuple[str, ...] = ()
    unlocks: tuple[str, ...] | None = None
    optional: bool = False
    description: str = ""


class StageGraph(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stages: tuple[StageRule, ...]

    @model_validator(mode="after")
    def _check(self) -> StageGraph:
        names = [stage.name for stage in self.stages]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"stage graph names {duplicates} more than once")
        known = set(names)
        for stage in self.stages:
            refs = (*stage.requires, *stage.requires_completed, *(stage.unlocks or ()))
            unknown = sorted(set(refs) - known)
            if unknown:
                raise ValueError(f"stage {stage.name!r} refers to unknown stages {unknown}")
            if not set(stage.requires_completed) <= set(stage.requires):
                raise ValueError(f"stage {stage.name!r}: requires_completed must be in requires")
        self._topological_order()
        for stage in self.stages:
            if stage.unlocks is None:
                continue
            missing = sorted(self._dependents(stage.name) - set(stage.unlocks))
            if missing:
                raise ValueError(
                    f"unlocking {stage.name!r} must also unlock {missing}: they are gated on it"
                )
        return self

    @classmethod
    def from_yaml(cls, path: Path) -> StageGraph:
        with open(path, encoding="utf-8") as handle:
            return cls.model_validate(yaml.safe_load(handle))

    @cached_property
    def by_name(self) -> dict[str, StageRule]:
        return {stage.name: stage for stage in self.stages}

    @cached_property
    def order(self) -> tuple[str, ...]:
        """Stage names in an order where every stage comes after the stages it requires."""
        return self._topological_order()

    def rule(self, name: str) -> StageRule:
        try:
            return self.by_name[name]
        except KeyError:
            raise KeyError(f"unknown stage {name!r}; stages are: {', '.join(self.order)}") from None

    def cascade(self, name: str) -> tuple[str, ...]:
        """Stages that unlocking `name` also unlocks, in graph order."""
        rule = self.rule(name)
        targets = set(rule.unlocks) if rule.unlocks is not None else self._dependents(name)
        return tuple(stage for stage in self.order if stage in targets)

    def downstream(self, name: str) -> tuple[str, ...]:
        """Every stage gated on `name`, directly or not, in graph order."""
        dependents = self._dependents(name)
        return tuple(stage for stage in self.order if stage in dependents)

    @cached_property
    def dependencies(self) -> DependencyGraph:
        """The `requires` edges, for ordering and walking (`dat_pipeline.graph`)."""
        return DependencyGraph({stage.name: stage.requires for stage in self.stages})

    def _dependents(self, name: str) -> set[str]:
        return self.dependencies.downstream(name)

    def _topological_order(self) -> tuple[str, ...]:
        try:
            return self.dependencies.order()
        except GraphCycleError as exc:
            raise ValueError(f"stage graph has a cycle among {list(exc.nodes)}") from None


_ALL_AFTER_SELECTION = ("context", "table_availability", "table_selection", "preview", "parse")

DEFAULT_GRAPH = StageGraph(
    stages=(
        StageRule(
            name="discovery",
            unlocks=("selection", *_ALL_AFTER_SELECTION, "export"),
            description="Walk a folder of the data root and catalog every file.",
        ),
        StageRule(
            name="selection",
            requires=("discovery",),
            unlocks=(*_ALL_AFTER_SELECTION, "export"),
            description="Choose the files of the catalog that this run aggregates.",
        ),
        StageRule(
            name="context",
            requires=("selection",),
            unlocks=(),
            optional=True,
            description="Free context for the run: description, aggregation levels, notes.",
        ),
        StageRule(
            name="table_availability",
            requires=("selection",),
            unlocks=("table_selection", "preview", "parse", "export"),
            description="Probe every table of every selected file.",
        ),
        StageRule(
            name="table_selection",
            requires=("table_availability",),
            unlocks=("preview", "parse", "export"),
            description="Choose the tables to extract, with column mappings.",
        ),
        StageRule(
            name="preview",
            requires=("table_selection",),
            unlocks=(),
            optional=True,
            description="First rows of each selected table after mappings and cleaning rules.",
        ),
        StageRule(
            name="parse",
            requires=("table_selection",),
            unlocks=("export",),
            description="Extract every selected table to Parquet, with checkpoints.",
        ),
        StageRule(
            name="export",
            requires=("parse",),
            requires_completed=("parse",),
            unlocks=(),
            description="Write the dataset, its manifest and lineage.",
        ),
    )
)


def load_graph(path: Path | None = None) -> StageGraph:
    """The default graph, or the one in `path` (YAML) when given."""
    return StageGraph.from_yaml(path) if path else DEFAULT_GRAPH
