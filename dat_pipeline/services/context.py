"""What every service action gets: the settings, the store, the DAT workflow, the Dagster
instance (opened on first use only) and the caller.

A front-end builds one `ServiceContext` (the CLI per command, the API per app) and passes
`context.for_caller(caller)` to the actions; the Dagster instance is shared and opened lazily,
so read-only actions never import Dagster. Importing this module is cheap (the CLI's start).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dat_pipeline.errors import DatError, ForbiddenError
from dat_pipeline.names import DEFAULT_PROJECT
from dat_pipeline.settings import Settings, get_settings

if TYPE_CHECKING:
    import dagster as dg

    from dat_pipeline.dat.workflow import DatWorkflow
    from dat_pipeline.store import ControlStore, StoreReads


@dataclass(frozen=True)
class Caller:
    """Who acts: a token's projects (API, console), or every project (`projects` None: a local
    user of the CLI, who owns the store)."""

    token_id: str | None = None
    projects: tuple[str, ...] | None = None

    def sees(self, project: str) -> bool:
        return self.projects is None or project in self.projects

    def project_for(self, requested: str | None) -> str:
        """The project a new run, upload or source goes to: `requested`, or the only one the
        caller has (the CLI: `default`)."""
        if requested is not None:
            from dat_pipeline.services.access import check_project

            project = check_project(requested)
            if not self.sees(project):
                raise ForbiddenError(
                    f"this token does not cover project {project!r}", project=project
                )
            return project
        if self.projects is None:
            return DEFAULT_PROJECT
        if len(self.projects) > 1:
            raise DatError(
                "this token covers several projects "
                f"({', '.join(self.projects)}); say which one with `project`"
            )
        return self.projects[0]


LOCAL = Caller()


def workflow(settings: Settings | None = None, read_only: bool = False) -> DatWorkflow:
    """The DAT workflow over the configured store, data root and stage graph (DAT_STAGE_GRAPH).
    `read_only`: over `open_reader` (no SQLAlchemy on an existing SQLite store): for actions that
    only read, as `dat status` and `dat runs list` (a write through it fails)."""
    return _Shared(settings or get_settings(), read_only).workflow()


def _open_store(settings: Settings, read_only: bool) -> ControlStore | StoreReads:
    from dat_pipeline.store import open_reader, open_store

    return open_reader(settings.store_url) if read_only else open_store(settings.store_url)


class _Instance:
    """The Dagster instance, opened on first use and shared by the contexts of one front-end."""

    def __init__(self) -> None:
        self.instance: dg.DagsterInstance | None = None
        self.lock = threading.Lock()

    def get(self) -> dg.DagsterInstance:
        with self.lock:
            if self.instance is None:
                from dat_pipeline.defs.instance import get_instance

                self.instance = get_instance()
            return self.instance

    def close(self) -> None:
        with self.lock:
            if self.instance is not None:
                self.instance.dispose()
                self.instance = None


class _Shared:
    """What the contexts of one front-end share: the store and the workflow (each opened on
    first use: `dat runs list` needs no stage graph) and the Dagster instance."""

    def __init__(self, settings: Settings, read_only: bool) -> None:
        self.settings = settings
        self.read_only = read_only
        self.instance = _Instance()
        self._store: ControlStore | StoreReads | None = None
        self._workflow: DatWorkflow | None = None
        self._lock = threading.RLock()  # the API's worker threads share one

    def store(self) -> ControlStore:
        with self._lock:
            if self._store is None:
                self._store = _open_store(self.settings, self.read_only)
            return self._store  # type: ignore[return-value]

    def workflow(self) -> DatWorkflow:
        with self._lock:
            if self._workflow is None:
                from dat_pipeline.dat.graph import load_graph
                from dat_pipeline.dat.workflow import DatWorkflow

                graph = load_graph(self.settings.stage_graph)
                self._workflow = DatWorkflow(self.store(), self.settings.data_root, graph)
            return self._workflow


class ServiceContext:
    """The settings, store, workflow, Dagster instance and caller of one front-end. A
    `read_only` context reads the store without SQLAlchemy where it can (the CLI's read
    commands); an action that writes needs a context that is not."""

    def __init__(
        self,
        settings: Settings | None = None,
        caller: Caller = LOCAL,
        _shared: _Shared | None = None,
        read_only: bool = False,
    ):
        self.settings = settings or get_settings()
        self.caller = caller
        self._shared = _shared or _Shared(self.settings, read_only)

    @property
    def workflow(self) -> DatWorkflow:
        return self._shared.workflow()

    @property
    def store(self) -> ControlStore:
        return self._shared.store()

    @property
    def data_root(self) -> Path:
        return self.settings.data_root

    def for_caller(self, caller: Caller) -> ServiceContext:
        """The same store and instance, acting for `caller`."""
        return ServiceContext(self.settings, caller, self._shared)

    def instance(self) -> dg.DagsterInstance:
        return self._shared.instance.get()

    def resources(self) -> dict[str, Any]:
        """The resources of the code location (for runs executed in this process)."""
        from dat_pipeline.definitions import RESOURCES

        return RESOURCES

    def close(self) -> None:
        self._shared.instance.close()


def prepare_dagster_home() -> Path:
    """Set DAGSTER_HOME (default `.dagster_home/`) before a server's workers open the instance."""
    from dat_pipeline.defs.instance import ensure_dagster_home

    return ensure_dagster_home()


@contextmanager
def open_context(caller: Caller = LOCAL, read_only: bool = False) -> Iterator[ServiceContext]:
    """A context over the environment's settings; the Dagster instance (if opened) is closed.
    `read_only` for actions that only read (see `ServiceContext`)."""
    context = ServiceContext(caller=caller, read_only=read_only)
    try:
        yield context
    finally:
        context.close()


def json_safe(value: Any) -> Any:
    """A value strict JSON can carry: NaN and infinities become null, other scalars text. Every
    view a service returns is passed through it, so the CLI and the API print the same document."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return json_safe(float(value))
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
