"""`dat runs|lock|unlock|skip|materialize|status|events|show`: the DAT workflow from a terminal.

Imports stay inside the commands: `dat status` and every `--help` must start without Polars or
Dagster (SPEC 12).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from dat_pipeline.cli.output import (
    JsonOption,
    WideOption,
    act,
    emit_json,
    emit_table,
    fail,
    handles_errors,
    reply,
    say,
    verbose,
)
from dat_pipeline.errors import DatError

runs_app = typer.Typer(
    help="Create, list and show DAT runs (--json for scripts).", no_args_is_help=True
)
ColumnsOption = typer.Option(
    None, "--columns", help="Only these columns, comma-separated (e.g. path,format)."
)


def _print_status(shown: dict[str, Any], skipped: list[str], wide: bool = False) -> None:
    """A run's stages as a table (SKIPPED for a stage whose last lock was a skip), its errors,
    and what is locked but not built yet with how to build it."""
    run_id, statuses = shown["run_id"], shown["stages"]
    rows = [
        [
            s["stage"],
            "SKIPPED" if s["stage"] in skipped else s["state"],
            s["stage_id"] or "",
            "yes" if s["completed"] else ("built" if s["artifact"] else "no"),
            *([s["locked_at"]] if wide else []),
        ]
        for s in statuses
    ]
    columns = ["stage", "state", "stage_id", "done", *(["locked_at"] if wide else [])]
    emit_table(f"run {run_id}", columns, rows, wide=wide)
    for s in statuses:
        if s["error"]:
            say(f"{s['stage']}: {s['error']}")
    pending = [s["stage"] for s in statuses if s["state"] == "LOCKED" and not s["completed"]]
    if pending:
        say(f"not built yet: {', '.join(pending)}")
        say(f"build: dat materialize {run_id} (or the sensor under `make ui`)")
    records = shown["dagster_records"]
    recording = [stage for r in records if r["state"] == "pending" for stage in r["stages"]]
    if recording:
        say(f"built, being recorded in Dagster: {', '.join(recording)}")
    for record in (r for r in records if r["state"] != "pending"):
        stages = ", ".join(record["stages"])
        say(
            f"built but not recorded in Dagster: {stages}: {record['reason']} "
            f"(log: {record['log']}; materialize them in the Dagster UI to record them, "
            "the artifacts are reused)"
        )


def _parse_sets(pairs: list[str]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            fail(f"--set expects key=value, got {pair!r}", code=2)
        config[key.strip()] = _parse_value(key.strip(), raw)
    return config


def _parse_value(key: str, raw: str) -> Any:
    """A --set value as YAML (numbers, booleans, [lists], {mappings}); a flat list of globs such
    as [*.csv] reads as strings; any other value YAML cannot read is an error saying how to
    quote it."""
    import yaml

    try:
        return yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError as exc:
        inner = raw[1:-1]
        if raw.startswith("[") and raw.endswith("]") and not any(c in inner for c in "[]{}:"):
            return [item.strip().strip("'\"") for item in inner.split(",") if item.strip()]
        problem = str(getattr(exc, "problem", None) or "not valid YAML")
        raise DatError(
            f"--set {key}={raw}: YAML cannot read the value ({problem}); quote globs and "
            f'special characters, e.g. --set \'{key}={{"a.csv": ["*"]}}\''
        ) from None


def _load_config(config_file: Path | None, sets: list[str]) -> dict[str, Any] | None:
    """The config from --config and --set; None when neither is given (use the kept config)."""
    if config_file is None and not sets:
        return None
    import yaml

    config: dict[str, Any] = {}
    if config_file is not None:
        try:
            loaded = yaml.safe_load(config_file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise DatError(f"cannot read config file {config_file}: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise DatError(f"config file {config_file} must hold a mapping of stage options")
        config.update(loaded or {})
    config.update(_parse_sets(sets))
    return config


def _log_level() -> str:
    return "DEBUG" if verbose() else "CRITICAL"


@runs_app.command("create")
@handles_errors
def runs_create(
    name: str | None = typer.Option(None, "--name", help="Human name; the run id derives from it."),
    profile: str | None = typer.Option(None, "--profile", help="Extraction profile id."),
    follow: bool = typer.Option(False, "--follow", help="Re-lock downstream stages on changes."),
    project: str | None = typer.Option(
        None,
        "--project",
        help="Project the run belongs to (default: default); API tokens see their projects' runs.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Create a DAT run (a new partition of `dat_runs`)."""
    from dat_pipeline.services import dat as service

    run = act(lambda ctx: service.create_run(ctx, name, profile, follow, project))
    reply(run, as_json, run["run_id"])


def _when(iso: str | None) -> str:
    """An ISO timestamp to the second, as a person reads it (the JSON keeps the full value)."""
    return (iso or "")[:19].replace("T", " ")


@runs_app.command("list")
@handles_errors
def runs_list(as_json: bool = JsonOption, wide: bool = WideOption) -> None:
    """List DAT runs, oldest first."""
    from dat_pipeline.services import dat as service

    runs = act(service.list_runs, read_only=True)["runs"]
    if as_json:
        emit_json({"runs": runs})
    else:
        emit_table(
            "DAT runs",
            ["run_id", "name", "profile_id", "follow", "created_at"],
            [
                [
                    r["run_id"],
                    r["name"],
                    r["profile_id"],
                    "yes" if r["follow"] else "",
                    _when(r["created_at"]),
                ]
                for r in runs
            ],
            wide=wide,
            empty="No DAT run yet: dat runs create --name NAME (or make demo for a tour).",
        )


@runs_app.command("show")
@handles_errors
def runs_show(run_id: str, as_json: bool = JsonOption, wide: bool = WideOption) -> None:
    """Show a run and the status of its stages."""
    _show_status(run_id, as_json, wide, with_run=True)


def _say_unlocked(run_id: str, unlocked: list[str]) -> None:
    if unlocked:
        say(f"unlocked: {', '.join(unlocked)}")
        say(f"their configs are kept; re-lock them in order: dat lock {run_id} --chain")


@handles_errors
def lock(
    run_id: str,
    stage: str | None = typer.Argument(
        None, help="Stage to lock (see `dat stages`); omit with --chain."
    ),
    config_file: Path | None = typer.Option(None, "--config", help="YAML or JSON stage config."),
    sets: list[str] = typer.Option(
        [], "--set", help="key=value, the value read as YAML: --set 'include=[\"*.csv\"]'."
    ),
    materialize: bool = typer.Option(False, "--materialize", help="Build it now, in process."),
    chain: bool = typer.Option(
        False,
        "--chain",
        help="Then re-lock and build, in order, the downstream stages a cascade unlocked, "
        "with their kept configs.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Lock a stage with a config (its gate must be locked; `dat stages` lists stages, keys and
    gates); the sensor under `make ui` or `dat materialize` builds it."""
    if stage is None and not chain:
        fail("name the stage to lock (dat stages lists them), or give --chain", code=2)
    from dat_pipeline.services import dat as service
    from dat_pipeline.services.context import open_context

    config = None if stage is None else _load_config(config_file, sets)
    locked, chained = None, []
    with open_context() as ctx:
        if stage is not None:
            building = materialize or chain
            locked = service.lock_with_cascade(
                ctx, run_id, stage, config=config, materialize=building, log_level=_log_level()
            )
        if chain:
            chained = service.chain(ctx, run_id, _log_level())["relocked"]
    if as_json:
        if locked is None:
            emit_json({"run_id": run_id, "relocked": [c["stage"] for c in chained]})
        else:
            emit_json(locked["status"])
        return
    if locked is not None:
        status = locked["status"]
        built = "built" if status["completed"] else "not built yet"
        typer.echo(f"{stage} locked as {status['stage_id']} ({built})")
        if not chained:
            _say_unlocked(run_id, locked["unlocked"])
        if not status["completed"] and not chain:
            say(f"build it: dat materialize {run_id} --stage {stage}")
            say("(or let the sensor under `make ui` build it)")
    for done in chained:
        verb = "skipped again" if done["skipped"] else "re-locked"
        typer.echo(f"{done['stage']} {verb} as {done['stage_id']} (built)")
    if chain and not chained:
        typer.echo(
            "nothing to re-lock: no stage a cascade unlocked has its gates locked "
            f"(dat status {run_id})"
        )


@handles_errors
def unlock(run_id: str, stage: str, as_json: bool = JsonOption) -> None:
    """Unlock a stage and every stage gated on it. Artifacts and configs are kept."""
    from dat_pipeline.services import dat as service

    unlocked = act(lambda ctx: service.unlock(ctx, run_id, stage)["unlocked"])
    if as_json:
        emit_json({"unlocked": unlocked})
    elif unlocked:
        _say_unlocked(run_id, unlocked)
    else:
        typer.echo("unlocked: nothing (already unlocked)")


@handles_errors
def skip(run_id: str, stage: str, as_json: bool = JsonOption) -> None:
    """Skip an optional stage: it is locked as completed with an empty artifact."""
    from dat_pipeline.services import dat as service

    status = act(lambda ctx: service.skip(ctx, run_id, stage))
    reply(status, as_json, f"{stage} skipped as {status['stage_id']}")


@handles_errors
def materialize(
    run_id: str,
    stage: str | None = typer.Option(None, "--stage", help="Only this stage."),
    as_json: bool = JsonOption,
) -> None:
    """Build every locked stage that has no artifact yet, in graph order, now."""
    from dat_pipeline.services import dat as service

    done = act(lambda ctx: service.materialize(ctx, run_id, stage, _log_level()))
    reply(done, as_json, f"materialized: {', '.join(done['materialized']) or 'nothing pending'}")


@handles_errors
def status(run_id: str, as_json: bool = JsonOption, wide: bool = WideOption) -> None:
    """The state and stage id of every stage of a run (--wide adds when each was locked)."""
    _show_status(run_id, as_json, wide, with_run=False)


def _show_status(run_id: str, as_json: bool, wide: bool, with_run: bool) -> None:
    """`dat status` (`with_run`: `dat runs show`, the run's name, project and creation first)."""
    from dat_pipeline.services import dat as service

    def read(ctx: Any) -> tuple[dict[str, Any], list[str]]:
        shown = (service.show_run if with_run else service.run_status)(ctx, run_id)
        return shown, [] if as_json else service.skipped_stages(ctx, run_id)

    shown, skipped = act(read, read_only=True)
    if as_json:
        emit_json(shown)
        return
    if with_run:
        typer.echo(
            f"{run_id}  name={shown['name']}  project={shown['project']}  "
            f"created={shown['created_at']}"
        )
    _print_status(shown, skipped, wide)


@handles_errors
def events(
    run_id: str,
    detail: bool = typer.Option(False, "--detail", help="Add each event's detail (config, error)."),
    as_json: bool = JsonOption,
    wide: bool = WideOption,
) -> None:
    """The audit trail of a run: every lock, unlock, skip, completion and failure, one line
    each (--detail adds what each one recorded: config, upstream ids, rows, error)."""
    import json

    from dat_pipeline.services import dat as service

    trail = act(lambda ctx: service.run_events(ctx, run_id), read_only=True)
    if as_json:
        emit_json(trail)
        return
    rows = [
        [
            e["seq"],
            e["at"][:19].replace("T", " "),
            e["kind"],
            e["stage_id"] or e["stage"],  # a stage id starts with its stage
            *([json.dumps(e["detail"])] if detail else []),
        ]
        for e in trail["events"]
    ]
    columns = ["seq", "at (UTC)", "kind", "stage", *(["detail"] if detail else [])]
    emit_table(f"events of {run_id}", columns, rows, wide=wide)


@handles_errors
def show(
    run_id: str,
    stage: str,
    limit: int = typer.Option(20, "--limit", min=0, help="Rows to show (per table for preview)."),
    columns: list[str] = ColumnsOption,
    as_json: bool = JsonOption,
    wide: bool = WideOption,
) -> None:
    """The rows of a stage's artifact: a table when it fits the terminal, else one block per
    row (--columns picks columns, --wide forces a table, --json for scripts)."""
    from dat_pipeline.cli.render import pick_columns
    from dat_pipeline.services import dat as service
    from dat_pipeline.services.context import open_context

    with open_context(read_only=True) as ctx:
        if as_json:
            emit_json(service.artifact(ctx, run_id, stage, limit))
            return
        sections = service.artifact_sections(ctx, run_id, stage, limit)
    for title, names, rows in sections:
        names, rows = pick_columns(names, rows, columns)
        emit_table(title, names, rows, wide=wide)


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
    for command in (lock, unlock, skip, materialize, status, events, show):
        app.command(command.__name__)(command)
