"""A job (a Dagster run) shows only when the caller sees what it belongs to; every miss is the
same error, naming nothing else (shared by the DAT and analysis job views)."""

from __future__ import annotations

import pytest

from dat_pipeline.errors import NotFoundError
from dat_pipeline.services.access import visible_job


def _check(owner: str) -> None:
    if owner != "mine":
        raise NotFoundError(f"unknown run {owner!r}")


@pytest.mark.parametrize("job", [None, {"run_id": None}, {"run_id": "theirs"}])
def test_a_missing_orphan_or_hidden_job_is_the_same_unknown_error(job: dict | None):
    unknown = NotFoundError("unknown job 'j'", job_id="j")
    with pytest.raises(NotFoundError) as raised:
        visible_job(job, "run_id", _check, unknown)
    assert raised.value is unknown and "theirs" not in str(raised.value)


def test_a_job_of_a_visible_owner_is_returned_as_it_is():
    job = {"run_id": "mine", "status": "SUCCESS"}
    assert visible_job(job, "run_id", _check, NotFoundError("unknown job")) is job
