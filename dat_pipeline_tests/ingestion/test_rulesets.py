"""Named rule sets live in the control store; the files of older versions move in on first use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from dat_pipeline.errors import NotFoundError
from dat_pipeline.ingestion.uploads import IngestError
from dat_pipeline.services import ingestion as service
from dat_pipeline.services.context import Caller, ServiceContext
from dat_pipeline.store import schema

NOT_NULL = "- type: not_null\n  column: id\n"
TRIM = "# keep names tidy\n- type: trim\n  column: name\n"


@pytest.fixture
def ctx(data_root: Path) -> ServiceContext:
    return ServiceContext(caller=Caller("tok", ("sales",)))


def _row(ctx: ServiceContext, project: str, name: str):  # type: ignore[no-untyped-def]
    table = schema.ingest_rule_sets
    with ctx.store.read() as connection:
        return connection.execute(
            select(table).where(table.c.project == project, table.c.name == name)
        ).first()


def test_a_saved_set_is_a_store_row_with_its_yaml_rules_json_and_version(
    ctx: ServiceContext, data_root: Path
) -> None:
    assert service.save_rule_set(ctx, "basic", TRIM) == {"project": "sales", "name": "basic"}
    assert service.save_rule_set(ctx, "basic", NOT_NULL + TRIM) == {
        "project": "sales",
        "name": "basic",
    }
    row = _row(ctx, "sales", "basic")
    assert row.version == 2
    assert [rule["type"] for rule in json.loads(row.rules)] == ["NOT_NULL", "TRIM"]
    assert service.get_rule_set(ctx, "basic") == NOT_NULL + TRIM  # as written, comment kept
    assert service.list_rule_sets(ctx) == ["basic"]
    assert not (data_root / "uploads" / "sales" / "rulesets").exists()


def test_sets_are_per_project_and_invalid_ones_are_refused(ctx: ServiceContext) -> None:
    service.save_rule_set(ctx, "basic", TRIM)
    other = ctx.for_caller(Caller("tok2", ("hr",)))
    assert service.list_rule_sets(other) == []
    with pytest.raises(NotFoundError, match="project 'hr' has no rule set 'basic'"):
        service.get_rule_set(other, "basic")
    with pytest.raises(IngestError, match="rule set 'bad'"):
        service.save_rule_set(ctx, "bad", "- type: no_such_rule\n")
    with pytest.raises(IngestError, match="is not valid"):
        service.save_rule_set(ctx, "Bad Name", TRIM)
    assert service.list_rule_sets(ctx) == ["basic"]


def test_rule_set_files_of_an_older_version_move_into_the_store_once(
    ctx: ServiceContext, data_root: Path
) -> None:
    from dat_pipeline.ingestion import rulesets

    folder = data_root / "uploads" / "sales" / "rulesets"
    folder.mkdir(parents=True)
    (folder / "legacy.yaml").write_text(TRIM, encoding="utf-8")
    (folder / "kept.yaml").write_text(TRIM, encoding="utf-8")
    service.save_rule_set(ctx, "kept", NOT_NULL)  # a set already in the store wins

    assert service.list_rule_sets(ctx) == ["kept", "legacy"]
    assert service.get_rule_set(ctx, "legacy") == TRIM
    assert service.get_rule_set(ctx, "kept") == NOT_NULL
    assert not folder.exists()
    assert (folder.parent / "rulesets.migrated" / "legacy.yaml").read_text() == TRIM

    rulesets.delete_rule_set(ctx.store, data_root, "sales", "legacy")  # stays deleted
    assert service.list_rule_sets(ctx) == ["kept"]
