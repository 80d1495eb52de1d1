"""`dat profiles create|list|show|update|delete` and `dat cleanup RUN [--apply]`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import yaml

from dat_pipeline.cli.output import JsonOption, act, emit_json, emit_table, handles_errors, reply
from dat_pipeline.errors import DatError

profiles_app = typer.Typer(
    help="Extraction profiles: saved stage configs that pre-fill new runs.", no_args_is_help=True
)

FileOption = typer.Option(None, "--file", help="YAML/JSON profile (the usual way to write one).")
NameOption = typer.Option(None, "--name", help="Unique profile name.")
DescriptionOption = typer.Option(None, "--description", help="What the profile is for.")
RootOption = typer.Option(None, "--root", help="Discovery folder, relative to the data root.")
IncludeOption = typer.Option(None, "--include", help="Glob to keep (repeatable).")
ExcludeOption = typer.Option(None, "--exclude", help="Glob to drop (repeatable).")
TableOption = typer.Option(None, "--table", help="Table pattern, 'file#table' (repeatable).")
LevelOption = typer.Option(None, "--aggregation-level", help="Group-by column (repeatable).")
FormatOption = typer.Option(None, "--format", help="parquet|csv|excel|json (repeatable).")


def _read_file(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DatError(f"cannot read profile file {path}: {exc}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise DatError(f"profile file {path} must hold a mapping of profile fields")
    return loaded


# profile field each option sets (the options `profiles create` and `profiles update` share)
FIELDS = {
    "name": "name",
    "description": "description",
    "root": "root",
    "include": "include",
    "exclude": "exclude",
    "tables": "table_patterns",
    "levels": "aggregation_levels",
    "formats": "export_formats",
}


def _body(file: Path | None, given: dict[str, Any]) -> dict[str, Any]:
    """The profile body of --file (none: empty), with the field of each option given on the
    command line (`given`: the command's parameters) replacing the same field of the file."""
    merged = _read_file(file) if file else {}
    for option, field in FIELDS.items():
        if given.get(option) not in (None, []):
            merged[field] = given[option]
    return merged


def _print_record(record: dict[str, Any], title: str) -> None:
    typer.echo(f"{title} {record['profile_id']}  name={record['name'] or '-'}")
    if record["superseded_by"]:
        typer.echo(f"superseded by {record['superseded_by']}")
    typer.echo(yaml.safe_dump(record["profile"], sort_keys=False, allow_unicode=True).rstrip())


@profiles_app.command("create")
@handles_errors
def profiles_create(
    file: Path | None = FileOption,
    name: str | None = NameOption,
    description: str | None = DescriptionOption,
    root: str | None = RootOption,
    include: list[str] | None = IncludeOption,
    exclude: list[str] | None = ExcludeOption,
    tables: list[str] | None = TableOption,
    levels: list[str] | None = LevelOption,
    formats: list[str] | None = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Save a profile from a YAML file and/or options; the same body twice gives the same id."""
    body = _body(file, locals())
    from dat_pipeline.services import dat as service

    saved = act(lambda ctx: service.save_profile(ctx, body, str(file) if file else "profile"))
    if as_json:
        emit_json(saved)
    else:
        _print_record(saved, "created" if saved["created"] else "unchanged (same body)")


@profiles_app.command("list")
@handles_errors
def profiles_list(
    all_versions: bool = typer.Option(False, "--all", help="Include superseded versions."),
    as_json: bool = JsonOption,
) -> None:
    """List profiles by name (with --all, older versions too)."""
    from dat_pipeline.services import dat as service

    listed = act(lambda ctx: service.list_profiles(ctx, all_versions))
    if as_json:
        emit_json(listed)
        return
    emit_table(
        "profiles",
        ["profile_id", "name", "root", "include", "formats", "superseded_by"],
        [
            [
                r["profile_id"],
                r["name"] or "-",
                r["profile"]["root"],
                ", ".join(r["profile"]["include"]),
                ", ".join(r["profile"]["export_formats"]),
                r["superseded_by"],
            ]
            for r in listed["profiles"]
        ],
        empty="No profile yet: dat profiles create --name NAME --root FOLDER (or --file "
        "profile.yaml); a profile pre-fills the stage configs of new runs.",
    )


@profiles_app.command("show")
@handles_errors
def profiles_show(id_or_name: str, as_json: bool = JsonOption) -> None:
    """Show a profile (by name, or any version by id) and the stage configs it pre-fills."""
    from dat_pipeline.services import dat as service

    record = act(lambda ctx: service.get_profile(ctx, id_or_name))
    if as_json:
        emit_json(record)
        return
    _print_record(record, "profile")
    typer.echo("pre-fills:")
    typer.echo(yaml.safe_dump(record["stage_configs"], sort_keys=False).rstrip())


@profiles_app.command("update")
@handles_errors
def profiles_update(
    id_or_name: str,
    file: Path | None = FileOption,
    name: str | None = typer.Option(None, "--name", help="Rename the profile."),
    description: str | None = DescriptionOption,
    root: str | None = RootOption,
    include: list[str] | None = IncludeOption,
    exclude: list[str] | None = ExcludeOption,
    tables: list[str] | None = TableOption,
    levels: list[str] | None = LevelOption,
    formats: list[str] | None = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Replace a profile's body (--file: the whole new body; options: single fields).

    The new body gets a new id; the old version keeps its id for the runs made from it.
    """
    body = _body(file, locals())
    from dat_pipeline.services import dat as service

    replaced = act(
        lambda ctx: service.update_profile(
            ctx, id_or_name, body, replace=file is not None, origin=str(file or "profile")
        )
    )
    if as_json:
        emit_json(replaced)
    else:
        _print_record(replaced, "updated" if replaced["changed"] else "unchanged (same body)")


@profiles_app.command("delete")
@handles_errors
def profiles_delete(id_or_name: str, as_json: bool = JsonOption) -> None:
    """Delete a profile and its older versions. Runs made from it keep their configs."""
    from dat_pipeline.services import dat as service

    deleted = act(lambda ctx: service.delete_profile(ctx, id_or_name))
    reply(deleted, as_json, f"deleted: {', '.join(deleted['deleted'])}")


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


@handles_errors
def cleanup(
    run_id: str,
    apply: bool = typer.Option(False, "--apply", help="Delete the listed items (default: list)."),
    as_json: bool = JsonOption,
) -> None:
    """List artifacts of a run that nothing locked references, and partial writes; --apply deletes.

    Never lists what a locked stage references, nor anything outside the run's folder.
    """
    from dat_pipeline.services import dat as service

    report = act(lambda ctx: service.cleanup(ctx, run_id, apply))
    if as_json:
        emit_json(report)
        return
    verb = "removed" if apply else "would remove"
    emit_table(
        f"cleanup of run {run_id} ({'applied' if apply else 'dry run'})",
        ["path", "size", "reason"],
        [[item["path"], _human(item["bytes"]), item["reason"]] for item in report["items"]],
    )
    typer.echo(f"{verb} {report['count']} item(s), {_human(report['bytes'])}")
    if report["items"] and not apply:
        typer.echo(f"delete them with: dat cleanup {run_id} --apply")
