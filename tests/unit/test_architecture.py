"""The direction of dependencies, read from the import statements (module- and function-level alike).

- The pure domain core never touches AWS, Powertools or the process environment.
- Services depend on ports (``functions.ports``), the domain, ``events`` and ``models``: never on an
  adapter, a handler or the composition root, and nothing they import reaches boto3 or botocore.
- Ports import no AWS SDK and no adapter, directly or through anything they import.
- The forecasting library (``models``) does not import the application (``functions``).
- No import circle among the modules of ``functions``.
- What runs in Lambda is only what Lambda needs: the tools (the ``forescale`` command, the local router,
  the replay report, the in-memory twins) live in ``forescale_tools``, which no code asset stages and no
  runtime module imports; no runtime module imports a package of the ``tools`` dependency group.
"""

from __future__ import annotations

import ast
import functools
import importlib
import re
import tomllib
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

from infra_cdk.staging import RUNTIME_PACKAGES
from layers.budget import CODE_PACKAGES

ROOT = Path(__file__).parents[2]
DOMAIN_FILES = sorted((ROOT / "functions" / "domain").rglob("*.py"))
FORBIDDEN_MODULES = ("boto3", "botocore", "aws_lambda_powertools", "functions.adapters", "functions.handlers")


def _imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_domain_exists():
    assert len(DOMAIN_FILES) >= 3


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_module_imports_no_aws_or_powertools(path):
    tree = ast.parse(path.read_text())
    bad = [name for name in _imports(tree) if name.startswith(FORBIDDEN_MODULES)]
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_module_reads_no_environment(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"}:
            pytest.fail(f"{path.name}:{node.lineno} reads the process environment")


def test_the_check_catches_a_violation(tmp_path):
    # GIVEN a module that imports boto3 and reads os.environ
    tree = ast.parse("import os\nfrom boto3 import client\nx = os.environ['A']\n")
    # THEN both detectors see it
    assert any(n.startswith(FORBIDDEN_MODULES) for n in _imports(tree))
    assert any(isinstance(n, ast.Attribute) and n.attr == "environ" for n in ast.walk(tree))


# --------------------------------------------------------------------------- the import graph

#: The tools' package: the ``forescale`` command, the local router, the replay report, the in-memory twins.
TOOLS = "forescale_tools"
#: The packages a Lambda code asset holds (the CDK asset and the image context alike).
RUNTIME = tuple(sorted({*RUNTIME_PACKAGES, *CODE_PACKAGES}))
#: Packages whose modules are the project's own (their imports are followed); anything else is external.
PROJECT_PACKAGES = ("functions", "events", "models", TOOLS)
AWS_SDK = ("boto3", "botocore", "mypy_boto3")
SERVICE_FORBIDDEN = (
    *AWS_SDK,
    "aws_lambda_powertools",
    "functions.adapters",
    "functions.handlers",
    "functions.wiring",
)
PORT_FORBIDDEN = (*AWS_SDK, "aws_lambda_powertools", "functions.adapters", "functions.handlers", "functions.services")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def _project_modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PROJECT_PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def _imported_modules(tree: ast.AST, name: str, is_package: bool, known: Iterable[str]) -> set[str]:
    """Every module ``tree`` imports, anywhere in it: ``from p import m`` names ``p.m`` when that is a module."""
    modules = set(known)
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.add(full if full in modules else base)
    return out


@functools.cache
def _graph() -> dict[str, frozenset[str]]:
    """Module name -> the module names it imports (project modules and external ones)."""
    modules = _project_modules()
    return {
        name: frozenset(_imported_modules(ast.parse(path.read_text()), name, path.name == "__init__.py", modules))
        for name, path in modules.items()
    }


def _is_under(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _forbidden_reached(start: str, forbidden: tuple[str, ...], graph: Mapping[str, Iterable[str]]) -> list[str]:
    """Shortest import chains from ``start`` to each forbidden module, directly or through project modules."""
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for imported in sorted(graph.get(current, ())):
            if imported not in parent and imported != start:
                parent[imported] = current
                if not _is_under(imported, forbidden):  # one forbidden module on a path is enough to say
                    queue.append(imported)
    chains = []
    for module in sorted(m for m in parent if _is_under(m, forbidden)):
        chain = [module]
        while chain[-1] != start:
            chain.append(parent[chain[-1]])
        chains.append(" -> ".join(reversed(chain)))
    return chains


def _circles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            advanced = False
            for nxt in edges:
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def _modules_under(package: str) -> list[str]:
    return sorted(name for name in _project_modules() if _is_under(name, (package,)))


SERVICE_MODULES = _modules_under("functions.services")
RUNTIME_MODULES = sorted(name for name in _project_modules() if _is_under(name, RUNTIME))
PORT_MODULES = _modules_under("functions.ports")


# --------------------------------------------------------------------------- the rules


def test_ports_exist():
    # The services' ports (Protocols and the records they carry) have a package of their own.
    assert len(PORT_MODULES) >= 5, PORT_MODULES


@pytest.mark.parametrize("module", SERVICE_MODULES)
def test_service_imports_no_adapter_handler_or_aws_sdk(module):
    # A service imports ports, domain, events, models; nothing it imports (transitively) reaches AWS.
    chains = _forbidden_reached(module, SERVICE_FORBIDDEN, _graph())
    assert not chains, f"{module} reaches forbidden modules:\n" + "\n".join(chains)


@pytest.mark.parametrize("module", PORT_MODULES)
def test_port_imports_no_adapter_or_aws_sdk(module):
    chains = _forbidden_reached(module, PORT_FORBIDDEN, _graph())
    assert not chains, f"{module} reaches forbidden modules:\n" + "\n".join(chains)


@pytest.mark.parametrize("module", ["functions.wiring", *_modules_under("functions.adapters")])
def test_wiring_and_adapters_do_not_reach_the_handlers(module):
    # The composition root and the adapters sit below the handlers: the metric sink and idempotency are
    # built without reaching up into the handler layer.
    chains = _forbidden_reached(module, ("functions.handlers",), _graph())
    assert not chains, f"{module} reaches the handlers:\n" + "\n".join(chains)


def test_models_do_not_import_functions():
    # The forecasting library does not depend on the application, not even for a command-line tool.
    graph = _graph()
    found = sorted(
        f"{module} -> {imported}"
        for module in _modules_under("models")
        for imported in graph[module]
        if _is_under(imported, ("functions",))
    )
    assert not found, f"models import functions: {found}"


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~ ;]", item, maxsplit=1)[0].lower() for item in requirements}


def test_the_forescale_command_lives_outside_the_code_asset():
    # GIVEN the module the installed ``forescale`` command runs, and the modules it dispatches to
    entry = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["forescale"].split(":")[0]
    commands = importlib.import_module(entry).COMMANDS
    modules = [entry, *(module for module, _summary in commands.values())]
    # THEN every one is in the tools' package, and no code asset stages that package
    misplaced = [module for module in modules if not _is_under(module, (TOOLS,))]
    assert not misplaced, f"shipped in every Lambda code asset ({', '.join(RUNTIME)}): {misplaced}"
    assert TOOLS not in RUNTIME


def test_no_runtime_module_imports_a_tools_dependency():
    # The ``tools`` dependency group (picture, progress bar, moto's server) is in no layer: code importing it is a tool.
    tools = _requirement_names(tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]["tools"])
    graph = _graph()
    found = sorted(
        f"{module} -> {imported}"
        for module in RUNTIME_MODULES
        for imported in graph[module]
        if imported.split(".")[0].lower() in tools
    )
    assert not found, f"runtime modules import the tools' dependencies: {found}"


@pytest.mark.parametrize("module", RUNTIME_MODULES)
def test_runtime_module_does_not_import_the_tools(module):
    # A handler, service, adapter, port, domain module (or models, events) reaches no tool, even indirectly.
    chains = _forbidden_reached(module, (TOOLS,), _graph())
    assert not chains, f"{module} reaches the tools:\n" + "\n".join(chains)


def test_no_import_circle_in_functions():
    graph = {
        name: [m for m in imported if _is_under(m, ("functions",))]
        for name, imported in _graph().items()
        if _is_under(name, ("functions",))
    }
    assert not _circles(graph), f"import circles: {_circles(graph)}"


# --------------------------------------------------------------------------- the detectors themselves


def test_the_graph_sees_function_level_and_type_checking_imports():
    # GIVEN a module importing at module level, under TYPE_CHECKING, inside a function, and relatively
    source = (
        "from typing import TYPE_CHECKING\n"
        "from functions.ports import state\n"
        "if TYPE_CHECKING:\n    from functions.adapters.memory import X\n"
        "def f():\n    import botocore.exceptions\n    from . import common\n"
    )
    known = {"functions.ports.state", "functions.services.common"}
    # WHEN its imports are read as module names
    found = _imported_modules(ast.parse(source), "functions.services.demo", False, known)
    # THEN each one is there, a submodule named by ``from package import module`` included
    assert {"functions.ports.state", "functions.adapters.memory", "botocore.exceptions"} <= found
    assert "functions.services.common" in found


def test_the_checks_catch_a_transitive_import_and_a_circle():
    # GIVEN a service reaching botocore through a port, and three modules importing each other in a ring
    graph = {
        "functions.services.a": ["functions.ports.p"],
        "functions.ports.p": ["functions.adapters.x"],
        "functions.adapters.x": ["botocore.exceptions"],
        "functions.adapters.y": ["functions.adapters.z"],
        "functions.adapters.z": ["functions.adapters.w", "functions.adapters.x"],
        "functions.adapters.w": ["functions.adapters.y"],
    }
    # THEN the chain to the forbidden module is reported, and the ring is one circle (x alone is none)
    assert _forbidden_reached("functions.services.a", SERVICE_FORBIDDEN, graph) == [
        "functions.services.a -> functions.ports.p -> functions.adapters.x"
    ]
    assert _forbidden_reached("functions.ports.p", (*AWS_SDK,), graph) == [
        "functions.ports.p -> functions.adapters.x -> botocore.exceptions"
    ]
    assert _circles(graph) == [["functions.adapters.w", "functions.adapters.y", "functions.adapters.z"]]


def test_the_check_catches_a_handler_reaching_the_tools_indirectly():
    # GIVEN a handler importing the composition root, which imports the in-memory twins
    graph = {
        "functions.handlers.h": ["functions.wiring"],
        "functions.wiring": [f"{TOOLS}.memory", "functions.settings"],
    }
    # THEN the chain to the tool is reported
    assert _forbidden_reached("functions.handlers.h", (TOOLS,), graph) == [
        f"functions.handlers.h -> functions.wiring -> {TOOLS}.memory"
    ]
