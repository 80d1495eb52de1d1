"""Named cleaning rule sets of a project (the ingestion wizard's "save as" and "load").

Each set is a row of the control store (`ingest_rule_sets`): the YAML as written, its rules as
JSON and a version that counts the saves of that name. A set is validated when saved: a set that
loads is a set that runs.

Sets were once YAML files `uploads/<project>/rulesets/<name>.yaml`. The first use of a project's
sets moves such files in (a set of the same name already in the store wins) and renames the folder
`rulesets.migrated`, so the files stay for reference and a set deleted later does not come back.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

from sqlalchemy import delete, insert, update

from dat_pipeline.cleaning import RuleError, load_rules_yaml
from dat_pipeline.errors import NotFoundError
from dat_pipeline.ingestion.uploads import IngestError, check_name, check_project, project_dir
from dat_pipeline.store import ControlStore, utc_now
from dat_pipeline.store import schema as store_schema

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LEGACY_FOLDER = "rulesets"
MIGRATED_FOLDER = "rulesets.migrated"
_SETS = store_schema.ingest_rule_sets


def _check_name(name: str) -> str:
    rule = "lowercase letters, digits, _ and -, starting with a letter"
    return check_name(name, _NAME, "rule set name", rule, "orders_basic")


def _rules_json(name: str, rules_yaml: str) -> str:
    try:
        rules = load_rules_yaml(rules_yaml)
    except RuleError as exc:
        raise IngestError(f"rule set {name!r}: {exc}") from None
    return json.dumps([rule.model_dump(mode="json") for rule in rules], sort_keys=True)


def migrate_files(store: ControlStore, data_root: Path, project: str) -> list[str]:
    """Move the rule-set files of `project` into the store; returns the names moved in."""
    folder = project_dir(data_root, project) / LEGACY_FOLDER
    if not folder.is_dir():
        return []
    files = {path.stem: path for path in sorted(folder.glob("*.yaml")) if _NAME.match(path.stem)}
    moved = []
    with store.write() as connection:
        present = {
            row["name"] for row in store.rows(_SETS, "name", None, connection, project=project)
        }
        for name, path in files.items():
            if name in present:
                continue
            text = path.read_text(encoding="utf-8")
            try:
                rules = _rules_json(name, text)
            except IngestError:
                rules = "[]"  # kept as written; running it reports the problem
            connection.execute(
                insert(_SETS).values(
                    project=project,
                    name=name,
                    version=1,
                    rules=rules,
                    rules_yaml=text,
                    updated_at=utc_now(),
                )
            )
            moved.append(name)
    # OSError: another process moved it first, or a migrated folder is there; the sets are in.
    with contextlib.suppress(OSError):
        folder.rename(folder.with_name(MIGRATED_FOLDER))
    return moved


def save_rule_set(
    store: ControlStore, data_root: Path, project: str, name: str, rules_yaml: str
) -> str:
    """Validate and save (or replace) rule set `name` of `project`; returns its name."""
    _check_name(name)
    rules = _rules_json(name, rules_yaml)
    migrate_files(store, data_root, check_project(project))
    values = {"rules": rules, "rules_yaml": rules_yaml, "updated_at": utc_now()}
    where = (_SETS.c.project == project) & (_SETS.c.name == name)
    with store.write() as connection:
        changed = connection.execute(
            update(_SETS).where(where).values(version=_SETS.c.version + 1, **values)
        )
        if changed.rowcount == 0:
            connection.execute(
                insert(_SETS).values(project=project, name=name, version=1, **values)
            )
    return name


def list_rule_sets(store: ControlStore, data_root: Path, project: str) -> list[str]:
    migrate_files(store, data_root, check_project(project))
    return [row["name"] for row in store.rows(_SETS, "name", "name", project=project)]


def get_rule_set(store: ControlStore, data_root: Path, project: str, name: str) -> str:
    _check_name(name)
    migrate_files(store, data_root, check_project(project))
    row = store.row(_SETS, project=project, name=name)
    if row is None:
        raise NotFoundError(
            f"project {project!r} has no rule set {name!r} "
            f"(it has: {', '.join(list_rule_sets(store, data_root, project)) or 'none'})"
        )
    return row["rules_yaml"]


def delete_rule_set(store: ControlStore, data_root: Path, project: str, name: str) -> None:
    get_rule_set(store, data_root, project, name)
    with store.write() as connection:
        connection.execute(delete(_SETS).where(_SETS.c.project == project, _SETS.c.name == name))
