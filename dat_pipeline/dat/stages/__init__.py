"""The stage implementations, by name. Adding a stage: one module and one entry in `NAMES`.

`STAGES` maps each name to its `StageSpec` and imports a stage's module on first use, so a command
that locks or builds one stage loads only that stage's libraries (SPEC 12); iterating it loads all.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping

from dat_pipeline.dat.stages.base import StageConfig, StageInputs, StageSpec

# Each stage is the module of this package of the same name that defines its SPEC.
NAMES = (
    "discovery",
    "selection",
    "context",
    "table_availability",
    "table_selection",
    "preview",
    "parse",
    "export",
)


class StageRegistry(MutableMapping[str, StageSpec]):
    """Name -> StageSpec, importing a stage's module the first time its spec is asked for."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self._names = list(names)
        self._specs: dict[str, StageSpec] = {}

    def __getitem__(self, name: str) -> StageSpec:
        spec = self._specs.get(name)
        if spec is None:
            if name not in self._names:
                raise KeyError(name)
            spec = self._specs[name] = importlib.import_module(f"{__name__}.{name}").SPEC
        return spec

    def __setitem__(self, name: str, spec: StageSpec) -> None:
        if name not in self._names:
            self._names.append(name)
        self._specs[name] = spec

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._specs.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"StageRegistry({self._names!r})"


STAGES: StageRegistry = StageRegistry(NAMES)

__all__ = ["NAMES", "STAGES", "StageConfig", "StageInputs", "StageRegistry", "StageSpec"]
