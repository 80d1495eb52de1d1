"""What every route shares: the settings, the workflow, the Dagster instance and the caller."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Any

import dagster as dg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dat_pipeline.api import auth
from dat_pipeline.api.errors import ApiError
from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.errors import DatError, NotFoundError
from dat_pipeline.settings import Settings
from dat_pipeline.store import ControlStore, RunRecord, open_store


class ApiContext:
    """Built once per app: one store, one workflow, one Dagster instance (opened on first use)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.store: ControlStore = open_store(settings.store_url)
        self.workflow = DatWorkflow(self.store, settings.data_root)
        self._instance: dg.DagsterInstance | None = None
        self._instance_lock = threading.Lock()

    def instance(self) -> dg.DagsterInstance:
        with self._instance_lock:
            if self._instance is None:
                from dat_pipeline.defs.instance import get_instance

                self._instance = get_instance()
            return self._instance

    def resources(self) -> dict[str, Any]:
        from dat_pipeline.definitions import RESOURCES

        return RESOURCES

    def close(self) -> None:
        with self._instance_lock:
            if self._instance is not None:
                self._instance.dispose()
                self._instance = None


def get_context(request: Request) -> ApiContext:
    return request.app.state.context


Context = Annotated[ApiContext, Depends(get_context)]
_bearer = HTTPBearer(
    auto_error=False,
    description="A token from `dat tokens create --project P`, sent as `Authorization: Bearer ...`.",
)


@dataclass(frozen=True)
class Caller:
    """The authenticated caller: its token and the projects it may see."""

    token_id: str
    projects: tuple[str, ...]

    def project_for(self, requested: str | None) -> str:
        """The project a new run, upload or source goes to: `requested` or the only one."""
        if requested is not None:
            project = auth.check_project(requested)
            if project not in self.projects:
                raise ApiError(403, f"this token does not cover project {project!r}")
            return project
        if len(self.projects) > 1:
            raise DatError(
                "this token covers several projects "
                f"({', '.join(self.projects)}); say which one with `project`"
            )
        return self.projects[0]


def require_caller(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "missing bearer token (create one with: dat tokens create --project P)")
    token = auth.verify_token(context.store, credentials.credentials)
    if token is None:
        raise ApiError(401, "invalid or revoked token")
    return Caller(token.token_id, token.projects)


CallerDep = Annotated[Caller, Depends(require_caller)]


def visible_run(context: ApiContext, caller: Caller, run_id: str) -> RunRecord:
    """The run if it exists in one of the caller's projects; otherwise the same 404 either way."""
    run = context.store.get_run(run_id)
    if run is None or auth.run_project(context.store, run_id) not in caller.projects:
        raise NotFoundError(f"unknown run {run_id!r} (list runs with: GET /api/dat/runs)")
    return run


def json_safe(value: Any) -> Any:
    """A value strict JSON can carry: NaN and infinities become null, other scalars text."""
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
