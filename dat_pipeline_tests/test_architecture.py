"""The layers of the package, read from its source: front-ends (cli, api, console) call the
service layer; only the Dagster layer, orchestration, the services and the front-ends import
Dagster; and no module imports, even lazily, a module that imports it back."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import dat_pipeline

PACKAGE = Path(dat_pipeline.__file__).parent
# Where Dagster may be imported: the Dagster layer, the glue that starts runs, the services (which
# open the instance lazily) and the front-ends.
DAGSTER_LAYERS = ("defs", "definitions", "orchestration", "services", "cli", "api", "console")
# CLI commands that need no service: they touch no store and no state.
NO_SERVICE_COMMANDS = {
    "serve": "starts the HTTP server, whose routes call the services",
    "stages": "renders the static stage registry and config models",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    return {
        module_name(path): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports(tree: ast.AST, module: str) -> Iterator[str]:
    """Every module `tree` imports, at the top or inside a function (not for type checking)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if _type_checking(node):
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(module.split(".")[: -node.level] + ([base] if base else []))
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)
        stack.extend(ast.iter_child_nodes(node))


def internal_graph() -> dict[str, set[str]]:
    trees = modules()
    return {
        name: {target for target in imports(tree, name) if target in trees and target != name}
        for name, tree in trees.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _is_package_init_edge(source: str, target: str) -> bool:
    """A package's `__init__` re-exporting its own submodules is not a dependency cycle."""
    return target.startswith(source + ".") or source.startswith(target + ".")


def test_no_import_cycle_inside_the_package():
    graph = {
        name: {t for t in targets if not _is_package_init_edge(name, t)}
        for name, targets in internal_graph().items()
    }
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_finding_a_cycle_works_on_a_known_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_only_the_dagster_layer_services_and_front_ends_import_dagster():
    offenders = sorted(
        name
        for name, tree in modules().items()
        if name.split(".")[1:2] and name.split(".")[1] not in DAGSTER_LAYERS
        if any(t == "dagster" or t.startswith("dagster.") for t in imports(tree, name))
    )
    assert offenders == []


def test_services_import_dagster_only_inside_the_actions_that_need_it():
    for name, tree in modules().items():
        if not name.startswith("dat_pipeline.services"):
            continue
        top = [
            node
            for node in tree.body
            if isinstance(node, ast.Import | ast.ImportFrom) and not _type_checking(node)
        ]
        for node in top:
            targets = list(imports(node, name))
            assert not any(t.split(".")[0] == "dagster" for t in targets), name
            assert not any(
                t.startswith(("dat_pipeline.defs", "dat_pipeline.orchestration")) for t in targets
            ), f"{name} imports the Dagster layer at import time"


# -- every front-end action goes through the service layer ------------------------------------
def _service_names(tree: ast.Module) -> set[str]:
    """Names a module binds at its top to the service layer (modules or functions)."""
    names = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "dat_pipeline.services"
        ):
            names |= {alias.asname or alias.name for alias in node.names}
        if isinstance(node, ast.Import):
            names |= {
                alias.asname or alias.name
                for alias in node.names
                if alias.name.startswith("dat_pipeline.services")
            }
    return names


def reaches_services(function: Callable[..., object]) -> bool:
    """Whether `function`, or a function of its own module it calls (transitively), uses
    `dat_pipeline.services` (imported at the module's top or inside the function)."""
    function = inspect.unwrap(function)
    module = inspect.getmodule(function)
    tree = ast.parse(textwrap.dedent(inspect.getsource(module)))
    local = {
        node.name: node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    bound = _service_names(tree)
    seen: set[str] = set()
    todo = [function.__name__]
    while todo:
        name = todo.pop()
        if name in seen or name not in local:
            continue
        seen.add(name)
        body = local[name]
        inner = set(bound)
        for node in ast.walk(body):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "dat_pipeline.services"
            ):
                inner |= {alias.asname or alias.name for alias in node.names}
        for node in ast.walk(body):
            if isinstance(node, ast.Name) and node.id in inner:
                return True  # a service called, or handed to a caller (e.g. a thread pool)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                todo.append(node.func.id)
    return False


def cli_commands() -> dict[str, Callable[..., object]]:
    """Every `dat` command, by its full name (groups loaded)."""
    import click
    import typer.main

    from dat_pipeline.cli import app

    found: dict[str, Callable[..., object]] = {}

    def walk(group: object, prefix: str) -> None:
        context = click.Context(group)  # type: ignore[arg-type]
        for name in group.list_commands(context):  # type: ignore[attr-defined]
            command = group.get_command(context, name)  # type: ignore[attr-defined]
            full = f"{prefix} {name}".strip()
            if hasattr(command, "list_commands"):
                if command.callback is not None and not command.list_commands(context):
                    found[full] = command.callback
                walk(command, full)
            elif command.callback is not None:
                found[full] = command.callback

    walk(typer.main.get_command(app), "")
    return found


def api_routes() -> dict[str, Callable[..., object]]:
    """Every route of the HTTP API under /api, by method and path (from the routers the app
    includes)."""
    from fastapi.routing import APIRoute

    from dat_pipeline.api.app import ROUTERS

    return {
        f"{sorted(route.methods)[0]} {route.path}": route.endpoint
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and route.path.startswith("/api/")
    }


def test_the_walk_finds_service_calls_and_their_absence():
    from dat_pipeline.cli.dat_commands import runs_create
    from dat_pipeline.cli.output import emit_json

    assert reaches_services(runs_create)
    assert not reaches_services(emit_json)


def test_every_cli_command_goes_through_the_service_layer():
    commands = cli_commands()
    assert {"runs create", "lock", "ingest run", "analysis run", "backfill run"} <= set(commands)
    missing = sorted(
        name
        for name, callback in commands.items()
        if name.split()[0] not in NO_SERVICE_COMMANDS and not reaches_services(callback)
    )
    assert missing == []


def test_every_api_route_goes_through_the_service_layer():
    routes = api_routes()
    assert len(routes) > 30
    missing = sorted(name for name, endpoint in routes.items() if not reaches_services(endpoint))
    assert missing == []


@pytest.mark.parametrize("front_end", ["cli", "api"])
def test_front_ends_never_import_the_dagster_layer_or_the_store(front_end: str):
    forbidden = ("dat_pipeline.defs", "dat_pipeline.definitions", "dat_pipeline.orchestration")
    offenders = sorted(
        f"{name} imports {target}"
        for name, tree in modules().items()
        if name.startswith(f"dat_pipeline.{front_end}.")
        for target in imports(tree, name)
        if target.startswith(forbidden) or target == "dat_pipeline.store.open_store"
    )
    assert offenders == []
