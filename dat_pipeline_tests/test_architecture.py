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
SERVICES = "dat_pipeline.services"
# The context every action takes: opening one is not calling an action.
NOT_AN_ACTION = "dat_pipeline.services.context"
# Functions that return a module of the service layer, imported when a command runs (the CLI's
# read-only `--help` must not load Polars): `service("ingestion").ingest(...)`.
SERVICE_LOADERS = {("dat_pipeline.cli.output", "service")}


def _service_bindings(nodes: list[ast.AST]) -> set[str]:
    """Names that the imports among `nodes` bind to the service layer (modules, functions, or a
    loader of service modules)."""
    names = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            for alias in node.names:
                if module.startswith(NOT_AN_ACTION):
                    continue
                if module.startswith(SERVICES) or (module, alias.name) in SERVICE_LOADERS:
                    names.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            names |= {
                alias.asname
                for alias in node.names
                if alias.asname and alias.name.startswith(SERVICES)
                if not alias.name.startswith(NOT_AN_ACTION)
            }
    return names


def _uses_services(body: ast.AST, bound: set[str]) -> bool:
    for node in ast.walk(body):
        if isinstance(node, ast.Name) and node.id in bound:
            return True  # a service called, or handed to a caller (e.g. a thread pool)
        dotted = ast.unparse(node) if isinstance(node, ast.Attribute) else ""
        if dotted.startswith(SERVICES + ".") and not dotted.startswith(NOT_AN_ACTION):
            return True  # `import dat_pipeline.services.x` used by its full name
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "importlib.import_module":
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and str(first.value).startswith(SERVICES):
                return True
    return False


def tree_reaches_services(tree: ast.Module, name: str) -> bool:
    """Whether function `name` of `tree`, or a function of the same module it calls
    (transitively), uses the service layer: imported at the module's top or lazily inside a
    function, by name, by a service loader, or by `importlib.import_module`."""
    local = {
        node.name: node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    top = _service_bindings(list(tree.body))
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen or current not in local:
            continue
        seen.add(current)
        body = local[current]
        if _uses_services(body, top | _service_bindings(list(ast.walk(body)))):
            return True
        todo.extend(
            node.func.id
            for node in ast.walk(body)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        )
    return False


def _of_services(value: object) -> bool:
    name = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None)
    return isinstance(name, str) and name.startswith(SERVICES) and name != NOT_AN_ACTION


def _hands_over_a_service(function: Callable[..., object], depth: int = 0) -> bool:
    """Whether `function` closes over (or names as a global) a service module or action, or a
    function (a lambda) that does: a route built by a factory, `job_route(router,
    analysis.show_job, ...)`, is a closure over the action it shows."""
    found = inspect.getclosurevars(function)
    for value in (*found.nonlocals.values(), *found.globals.values()):
        if _of_services(value):
            return True
        if inspect.isfunction(value) and depth < 2 and _hands_over_a_service(value, depth + 1):
            return True
    return False


def reaches_services(function: Callable[..., object]) -> bool:
    """`tree_reaches_services` for a live function (its module's source), or a closure that
    hands over a service action."""
    function = inspect.unwrap(function)
    if _hands_over_a_service(function):
        return True
    module = inspect.getmodule(function)
    tree = ast.parse(textwrap.dedent(inspect.getsource(module)))
    return tree_reaches_services(tree, function.__name__)


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
    from dat_pipeline.cli.ingest_commands import ingest_run
    from dat_pipeline.cli.output import emit_json
    from dat_pipeline.services import dat

    assert reaches_services(runs_create) and reaches_services(ingest_run)
    assert not reaches_services(emit_json)

    def route(show: Callable[..., object]) -> Callable[..., object]:
        return lambda job_id: show(job_id)

    assert reaches_services(route(dat.show_job))
    assert reaches_services(route(lambda job_id: dat.show_job(None, job_id)))  # type: ignore[arg-type]
    assert not reaches_services(route(emit_json))


@pytest.mark.parametrize(
    ("source", "reaches"),
    [
        ("from dat_pipeline.services import dat\ndef f():\n    dat.x()", True),
        ("def f():\n    from dat_pipeline.services import dat\n    dat.x()", True),
        ("def f():\n    import dat_pipeline.services.dat as d\n    d.x()", True),
        ("def f():\n    import dat_pipeline.services.dat\n    dat_pipeline.services.dat.x()", True),
        ("from dat_pipeline.cli.output import service\ndef f():\n    service('dat').x()", True),
        ("def f():\n    importlib.import_module('dat_pipeline.services.dat').x()", True),
        (
            "def g():\n    from dat_pipeline.services import dat\n    return dat\ndef f():\n    g()",
            True,
        ),
        ("from dat_pipeline.services import dat\ndef f():\n    return 1", False),
        ("def f():\n    from dat_pipeline.dat import views\n    views.x()", False),
        ("def f():\n    importlib.import_module('dat_pipeline.dat.views').x()", False),
        ("from dat_pipeline.cli.render import service\ndef f():\n    service('dat')", False),
        (
            "from dat_pipeline.services.context import open_context\ndef f():\n    open_context()",
            False,
        ),
    ],
)
def test_the_walk_sees_lazy_imports_and_loaders(source: str, reaches: bool):
    assert tree_reaches_services(ast.parse(source), "f") is reaches


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
