"""Named cleaning rule sets of a project (the ingestion wizard's "save as" and "load").

Each set is a YAML file `uploads/<project>/rulesets/<name>.yaml` beside the project's default
`uploads/<project>/rules.yaml`, validated when saved: a set that loads is a set that runs.
"""

from __future__ import annotations

import re
from pathlib import Path

from dat_pipeline.cleaning import RuleError, load_rules_yaml
from dat_pipeline.errors import NotFoundError
from dat_pipeline.files import atomic_path
from dat_pipeline.ingestion.uploads import IngestError, project_dir

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


def _path(data_root: Path, project: str, name: str) -> Path:
    if not _NAME.match(name or ""):
        raise IngestError(
            f"rule set name {name!r} is not valid: lowercase letters, digits, _ and -, "
            "starting with a letter, e.g. 'orders_basic'"
        )
    return project_dir(data_root, project) / "rulesets" / f"{name}.yaml"


def save_rule_set(data_root: Path, project: str, name: str, rules_yaml: str) -> str:
    """Validate and save (or replace) rule set `name` of `project`; returns its name."""
    try:
        load_rules_yaml(rules_yaml)
    except RuleError as exc:
        raise IngestError(f"rule set {name!r}: {exc}") from None
    path = _path(data_root, project, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(rules_yaml, encoding="utf-8")
    return name


def list_rule_sets(data_root: Path, project: str) -> list[str]:
    folder = project_dir(data_root, project) / "rulesets"
    return sorted(path.stem for path in folder.glob("*.yaml")) if folder.is_dir() else []


def get_rule_set(data_root: Path, project: str, name: str) -> str:
    path = _path(data_root, project, name)
    if not path.is_file():
        raise NotFoundError(
            f"project {project!r} has no rule set {name!r} "
            f"(it has: {', '.join(list_rule_sets(data_root, project)) or 'none'})"
        )
    return path.read_text(encoding="utf-8")


def delete_rule_set(data_root: Path, project: str, name: str) -> None:
    get_rule_set(data_root, project, name)
    _path(data_root, project, name).unlink()
