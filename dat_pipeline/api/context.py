"""What every route shares, as FastAPI dependencies: the service context of the app, the caller
its bearer token authenticates, and the two together (`Service`), which the routes pass to the
service layer. Access checks (another project's run is not found) live in the services, so the
CLI, the API and the console apply the same ones.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dat_pipeline.api.errors import ApiError
from dat_pipeline.services import access
from dat_pipeline.services.context import Caller, ServiceContext


def get_context(request: Request) -> ServiceContext:
    return request.app.state.context


Context = Annotated[ServiceContext, Depends(get_context)]
_bearer = HTTPBearer(
    auto_error=False,
    description="A token from `dat tokens create --project P`, sent as `Authorization: Bearer ...`.",
)


def require_caller(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "missing bearer token (create one with: dat tokens create --project P)")
    token = access.verify_token(context.store, credentials.credentials)
    if token is None:
        raise ApiError(401, "invalid or revoked token")
    return Caller(token.token_id, token.projects)


CallerDep = Annotated[Caller, Depends(require_caller)]


def service(context: Context, caller: CallerDep) -> ServiceContext:
    """The app's service context acting for the authenticated caller."""
    return context.for_caller(caller)


Service = Annotated[ServiceContext, Depends(service)]
