"""The phase graph: the phases of a registry and the dependencies between them."""

from __future__ import annotations

from collections.abc import Sequence

from dat_pipeline.analysis.phase import PhaseSpec
from dat_pipeline.analysis.sources import AnalysisError
from dat_pipeline.errors import NotFoundError
from dat_pipeline.graph import DependencyGraph


class PhaseGraph:
    """The phases of a registry and the dependency graph between them."""

    def __init__(self, specs: Sequence[PhaseSpec]):
        self.specs: dict[str, PhaseSpec] = {}
        for spec in specs:
            if spec.name in self.specs:
                raise AnalysisError(f"phase {spec.name!r} is registered twice")
            missing = [need for need in spec.needs if need not in self.specs]
            if missing:
                raise AnalysisError(
                    f"phase {spec.name!r} needs {missing}, which are not registered before it"
                )
            self.specs[spec.name] = spec
        self.order: list[str] = list(self.specs)
        self.dependencies = DependencyGraph({name: spec.needs for name, spec in self.specs.items()})

    def spec(self, phase: str) -> PhaseSpec:
        if phase not in self.specs:
            raise NotFoundError(f"no analysis phase {phase!r}; phases: {', '.join(self.order)}")
        return self.specs[phase]

    def needs(self, phase: str) -> tuple[str, ...]:
        return self.spec(phase).needs

    def ancestors(self, phase: str) -> list[str]:
        found = self.dependencies.upstream(self.spec(phase).name)
        return [name for name in self.order if name in found]

    def descendants(self, phase: str) -> list[str]:
        found = self.dependencies.downstream(self.spec(phase).name)
        return [name for name in self.order if name in found]

    def levels(self) -> list[tuple[str, ...]]:
        """The phases in batches that can run in parallel: each batch needs only earlier ones."""
        return self.dependencies.levels()

    def closure(self, phases: Sequence[str]) -> list[str]:
        """`phases` and everything they need, in graph order."""
        wanted = set(phases)
        for phase in phases:
            wanted.update(self.ancestors(phase))
        return [name for name in self.order if name in wanted]

    def text(self) -> str:
        width = max(len(name) for name in self.order)
        return "\n".join(
            f"{name:<{width}}  <- {', '.join(self.needs(name)) or '(source tables)'}"
            for name in self.order
        )

    def mermaid(self) -> str:
        lines = ["graph TD"]
        for name in self.order:
            node = _mermaid_id(name)
            lines.append(f'  {node}["{name}"]')
        for name in self.order:
            for need in self.needs(name):
                lines.append(f"  {_mermaid_id(need)} --> {_mermaid_id(name)}")
        return "\n".join(lines)


def _mermaid_id(name: str) -> str:
    return f"p_{name}"  # `import` and `graph` are not safe bare Mermaid node ids


_DEFAULT_GRAPH: PhaseGraph | None = None


def default_graph() -> PhaseGraph:
    """The graph of the registered phases (imported on first use)."""
    global _DEFAULT_GRAPH
    if _DEFAULT_GRAPH is None:
        from dat_pipeline.analysis.phases import PHASES

        _DEFAULT_GRAPH = PhaseGraph(PHASES)
    return _DEFAULT_GRAPH
