"""`dat runs|lock|unlock|skip|materialize|status|events|show`: the DAT workflow from a terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import typer
import yaml

from dat_pipeline.cli.output import JsonOption, emit_json, emit_table, fail, handles_errors
from dat_pipeline.dat.profiles import create_run_from_profile
from dat_pipeline.dat.views import artifact_rows, status_dict
from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.errors import DatError
from dat_pipeline.settings import get_settings
from dat_pipeline.store import open_store

runs_app = typer.Typer(help="Create, list and show DAT runs.", no_args_is_help=True)


def workflow() -> DatWorkflow:
    settings = get_settings()
    return DatWorkflow(open_store(settings.store_url), settings.data_root)


def _print_status(flow: DatWorkflow, run_id: str, as_json: bool) -> None:
    stages = [status_dict(flow, s) for s in flow.status(run_id)]
    if as_json:
        emit_json({"run_id": run_id, "stages": stages})
        return
    emit_table(
        f"run {run_id}",
        ["stage", "state", "stage_id", "completed", "locked_at", "error"],
        [
            [s["stage"], s["state"], s["stage_id"], s["completed"], s["locked_at"], s["error"]]
            for s in stages
        ],
    )


def _parse_sets(pairs: list[str]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            fail(f"--set expects key=value, got {pair!r}", code=2)
        config[key.strip()] = _parse_value(raw)
    return config


def _parse_value(raw: str) -> Any:
    """A --set value as YAML (numbers, booleans, [lists]); globs like [*.csv] stay strings."""
    try:
        return yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        if raw.startswith("[") and raw.endswith("]"):
            return [item.strip().strip("'\"") for item in raw[1:-1].split(",") if item.strip()]
        return raw


def _load_config(config_file: Path | None, sets: list[str]) -> dict[str, Any] | None:
    """The config from --config and --set; None when neither is given (use the kept config)."""
    if config_file is None and not sets:
        return None
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


def _run_in_dagster(run_id: str, stages: list[str]) -> None:
    """Materialize `stages` now, as a run on the shared Dagster instance (visible in the UI)."""
    from dat_pipeline.definitions import RESOURCES
    from dat_pipeline.defs.dat import materialize_stages
    from dat_pipeline.defs.instance import get_instance

    with get_instance() as instance:
        result = materialize_stages(instance, run_id, stages, RESOURCES)
    if not result.success:
        failures = [
            event.event_specific_data.error.message.splitlines()[0]  # type: ignore[union-attr]
            for event in result.all_events
            if event.is_step_failure
        ]
        raise DatError(f"materializing {', '.join(stages)} failed: {'; '.join(failures)}")


@runs_app.command("create")
@handles_errors
def runs_create(
    name: str | None = typer.Option(None, "--name", help="Human name; the run id derives from it."),
    profile: str | None = typer.Option(None, "--profile", help="Extraction profile id."),
    follow: bool = typer.Option(False, "--follow", help="Re-lock downstream stages on changes."),
    as_json: bool = JsonOption,
) -> None:
    """Create a DAT run (a new partition of `dat_runs`)."""
    from dat_pipeline.defs.dat import ensure_run_partition
    from dat_pipeline.defs.instance import get_instance

    flow = workflow()
    if profile:
        run = create_run_from_profile(flow, profile, name=name)
    else:
        run = flow.create_run(name=name, follow=follow)
    with get_instance() as instance:
        ensure_run_partition(instance, run.run_id)
    if as_json:
        emit_json(
            {
                "run_id": run.run_id,
                "name": run.name,
                "profile_id": run.profile_id,
                "follow": run.follow,
                "created_at": run.created_at,
            }
        )
    else:
        typer.echo(run.run_id)


@runs_app.command("list")
@handles_errors
def runs_list(as_json: bool = JsonOption) -> None:
    """List DAT runs, oldest first."""
    runs = [run.__dict__ for run in workflow().store.list_runs()]
    if as_json:
        emit_json({"runs": runs})
    else:
        emit_table(
            "DAT runs",
            ["run_id", "name", "profile_id", "follow", "created_at"],
            [[r["run_id"], r["name"], r["profile_id"], r["follow"], r["created_at"]] for r in runs],
        )


@runs_app.command("show")
@handles_errors
def runs_show(run_id: str, as_json: bool = JsonOption) -> None:
    """Show a run and the status of its stages."""
    flow = workflow()
    run = flow.get_run(run_id)
    if as_json:
        stages = [status_dict(flow, s) for s in flow.status(run_id)]
        emit_json({**run.__dict__, "stages": stages})
    else:
        typer.echo(f"{run.run_id}  name={run.name}  created={run.created_at}")
        _print_status(flow, run_id, False)


@handles_errors
def lock(
    run_id: str,
    stage: str,
    config_file: Path | None = typer.Option(None, "--config", help="YAML/JSON stage config."),
    sets: list[str] = typer.Option([], "--set", help="key=value (value parsed as YAML)."),
    materialize: bool = typer.Option(False, "--materialize", help="Materialize now, in process."),
    as_json: bool = JsonOption,
) -> None:
    """Lock a stage with a config (its gate must be locked); the sensor materializes it."""
    flow = workflow()
    status = flow.lock(run_id, stage, _load_config(config_file, sets))
    if materialize and flow.artifact_path(status) is None:
        _run_in_dagster(run_id, [stage])
        status = flow.stage_status(run_id, stage)
    if as_json:
        emit_json(status_dict(flow, status))
    else:
        typer.echo(f"{stage} locked as {status.stage_id} (completed={status.completed})")


@handles_errors
def unlock(run_id: str, stage: str, as_json: bool = JsonOption) -> None:
    """Unlock a stage and every stage gated on it. Artifacts are kept."""
    unlocked = workflow().unlock(run_id, stage)
    if as_json:
        emit_json({"unlocked": unlocked})
    else:
        typer.echo(f"unlocked: {', '.join(unlocked) or 'nothing (already unlocked)'}")


@handles_errors
def skip(run_id: str, stage: str, as_json: bool = JsonOption) -> None:
    """Skip an optional stage: it is locked as completed with an empty artifact."""
    flow = workflow()
    status = flow.skip(run_id, stage)
    if as_json:
        emit_json(status_dict(flow, status))
    else:
        typer.echo(f"{stage} skipped as {status.stage_id}")


@handles_errors
def materialize(
    run_id: str,
    stage: str | None = typer.Option(None, "--stage", help="Only this stage."),
    as_json: bool = JsonOption,
) -> None:
    """Materialize every locked stage that has no artifact yet, in graph order, now."""
    flow = workflow()
    if stage is not None:
        status = flow.stage_status(run_id, stage)
        if not status.locked:
            raise DatError(
                f"{stage} of run {run_id} is not locked (run: dat lock {run_id} {stage} ...)"
            )
        pending = [stage] if flow.artifact_path(status) is None else []
    else:
        pending = flow.pending(run_id)
    if pending:
        _run_in_dagster(run_id, pending)
    if as_json:
        emit_json({"run_id": run_id, "materialized": pending})
    else:
        typer.echo(f"materialized: {', '.join(pending) or 'nothing pending'}")


@handles_errors
def status(run_id: str, as_json: bool = JsonOption) -> None:
    """The state, stage id and artifact of every stage of a run."""
    _print_status(workflow(), run_id, as_json)


@handles_errors
def events(run_id: str, as_json: bool = JsonOption) -> None:
    """The audit trail of a run: every lock, unlock, skip, completion and failure."""
    flow = workflow()
    flow.get_run(run_id)
    rows = [e.__dict__ for e in flow.store.run_events(run_id)]
    if as_json:
        emit_json({"run_id": run_id, "events": rows})
    else:
        emit_table(
            f"events of {run_id}",
            ["seq", "at", "kind", "stage", "stage_id", "detail"],
            [
                [
                    e["seq"],
                    e["at"],
                    e["kind"],
                    e["stage"],
                    e["stage_id"],
                    json.dumps(e["detail"])[:80],
                ]
                for e in rows
            ],
        )


@handles_errors
def show(
    run_id: str,
    stage: str,
    limit: int = typer.Option(20, "--limit", min=0, help="Rows to show."),
    as_json: bool = JsonOption,
) -> None:
    """The rows of a stage's artifact."""
    flow = workflow()
    if as_json:
        emit_json(artifact_rows(flow, run_id, stage, limit))
    else:
        status = flow.stage_status(run_id, stage)
        frame = flow.load_artifact(run_id, stage)
        head = frame.head(limit)
        emit_table(
            f"{stage} {status.stage_id} ({frame.height} rows)",
            head.columns,
            [list(row) for row in head.cast(pl.String, strict=False).iter_rows()],
        )


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
    for command in (lock, unlock, skip, materialize, status, events, show):
        app.command(command.__name__)(command)
