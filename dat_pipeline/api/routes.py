"""What several routers declare alike: job ids and the job view route, the options of routes that
create a resource (201) or start work (202 with the job, 200 when it was done at once)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Response, status

from dat_pipeline.api.context import Service
from dat_pipeline.services.context import ServiceContext

T = TypeVar("T")

JobId = Annotated[str, Path(max_length=64, description="Job id (the Dagster run id).")]


def created(model: type, summary: str) -> dict[str, Any]:
    """Options of a route that creates what it answers (201)."""
    return {"response_model": model, "status_code": status.HTTP_201_CREATED, "summary": summary}


def starts_work(model: type, summary: str, done: str) -> dict[str, Any]:
    """Options of a route that starts a job: 202 with the job at once, or 200 with the same
    model when there was nothing to start or the work is done already (`done` says when)."""
    return {
        "response_model": model,
        "status_code": status.HTTP_202_ACCEPTED,
        "summary": summary,
        "responses": {200: {"model": model, "description": done}},
    }


def answer(response: Response, done: bool, result: T) -> T:
    """The result of a `starts_work` route: 200 when `done`, else the route's 202."""
    if done:
        response.status_code = status.HTTP_200_OK
    return result


def job_route(
    router: APIRouter,
    show: Callable[[ServiceContext, str], Any],
    model: type,
    summary: str,
    description: str,
) -> None:
    """`GET {router prefix}/jobs/{job_id}`: the job view `show` gives for the caller (a job of
    another project is not found)."""

    def show_job(job_id: JobId, ctx: Service) -> Any:
        return show(ctx, job_id)

    router.get("/jobs/{job_id}", response_model=model, summary=summary, description=description)(
        show_job
    )
