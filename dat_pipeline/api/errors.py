"""Errors of the HTTP API: one JSON shape, `{"error": {"code", "message", "details"}}`.

Domain errors keep their message (it says what is wrong and what to do next) and get a status
from their class: NotFoundError 404, ForbiddenError 403, GateError 409, StageConfigError 422, any
other DatError 400 (DatabaseError with code `database_error`); their structured fields become
`details`.
"""

from __future__ import annotations

import logging
import math
import os
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from dat_pipeline.errors import (
    DatabaseError,
    DatError,
    ForbiddenError,
    GateError,
    NotFoundError,
    StageConfigError,
)
from dat_pipeline.paths import PathEscapeError
from dat_pipeline.store import StoreError

log = logging.getLogger("dat_pipeline.api")

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "invalid_input",
    500: "internal_error",
    503: "unavailable",
}


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable error kind.", examples=["not_found"])
    message: str = Field(
        description="What is wrong and what to do next.",
        examples=["unknown run 'q1-9f2c1a' (list runs with: GET /api/dat/runs)"],
    )
    details: Any = Field(None, description="Structured context (e.g. the missing stage).")


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


class ApiError(Exception):
    """An error raised by the API layer itself (authentication, scoping, size limits)."""

    def __init__(self, status: int, message: str, details: Any = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.code = code or CODES.get(status, "error")


_TOP_DIRS = "|".join(sorted(re.escape(name) for name in os.listdir("/") if name != "api"))
_ABSOLUTE = re.compile(rf"(?<![\w.:/])/(?:{_TOP_DIRS})(?:/[^\s'\"(),;]*)?")


def without_server_paths(value: Any) -> Any:
    """A message (or details) as a client may see it: paths under the data root relative to it,
    any other absolute path of this machine as `<server path>`; URL paths such as /api/... stay."""
    if isinstance(value, dict):
        return {key: without_server_paths(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_server_paths(item) for item in value]
    if not isinstance(value, str):
        return value
    from dat_pipeline.settings import get_settings

    root = str(get_settings().data_root.resolve())
    text = value.replace(root + "/", "").replace(root, "<data root>")
    return _ABSOLUTE.sub("<server path>", text)


def error_response(
    status: int, message: str, details: Any = None, code: str | None = None, headers=None
) -> JSONResponse:  # type: ignore[no-untyped-def]
    message = without_server_paths(message)
    body = {"error": {"code": code or CODES.get(status, "error"), "message": message}}
    body["error"]["details"] = jsonable_encoder(without_server_paths(details))
    return JSONResponse(body, status_code=status, headers=headers)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


# Most specific first: a subclass of GateError is a conflict, of NotFoundError a 404.
_STATUS_BY_TYPE: list[tuple[type[DatError], int, str]] = [
    (NotFoundError, 404, "not_found"),
    (ForbiddenError, 403, "forbidden"),
    (GateError, 409, "gate"),
    (StageConfigError, 422, "invalid_config"),
    (DatabaseError, 400, "database_error"),
]


def dat_error_status(exc: DatError) -> tuple[int, str, Any]:
    """Status, code and details of a domain error: by its type and its structured fields."""
    details = dict(exc.fields) or None
    for kind, status, code in _STATUS_BY_TYPE:
        if isinstance(exc, kind):
            return status, code, details
    return 400, "bad_request", details


def _json_safe_errors(errors: list[Any]) -> list[Any]:
    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items() if k != "ctx"}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        if isinstance(value, str | int | float | bool) or value is None:
            return value
        return str(value)

    return [clean(error) for error in errors]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, exc.message, exc.details, exc.code, headers)

    @app.exception_handler(DatError)
    async def _dat_error(_request: Request, exc: DatError) -> JSONResponse:
        status, code, details = dat_error_status(exc)
        return error_response(status, _first_line(exc), details, code)

    @app.exception_handler(PathEscapeError)
    async def _path_error(_request: Request, exc: PathEscapeError) -> JSONResponse:
        return error_response(400, _first_line(exc), None, "path_outside_root")

    @app.exception_handler(StoreError)
    async def _store_error(_request: Request, exc: StoreError) -> JSONResponse:
        return error_response(503, _first_line(exc), None, "store_unavailable")

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _json_safe_errors(list(exc.errors()))
        parts = [
            f"{'.'.join(str(p) for p in e.get('loc', ())) or 'request'}: {e.get('msg')}"
            for e in errors[:5]
        ]
        return error_response(422, "invalid request: " + "; ".join(parts), errors, "invalid_input")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), None, None, exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(
            500, f"internal error ({exc.__class__.__name__}); see the server log", None
        )


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses of a route, all with the ErrorResponse body."""
    descriptions = {
        400: "Bad input (the message names the field, file or table).",
        401: "Missing or invalid bearer token.",
        403: "The token does not cover the requested project.",
        404: "Unknown run, stage, profile or artifact (or a run of another project).",
        409: "The stage's gate is not met (the missing stage is named), or work is running.",
        413: "Upload larger than the configured limit.",
        422: "The request or the stage config does not validate.",
    }
    return {
        status: {"model": ErrorResponse, "description": descriptions.get(status, "Error.")}
        for status in statuses
    }
