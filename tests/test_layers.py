"""The floors run one way, and no module imports itself round a circle.

tenancy (bottom) <- chargers <- ocpp_gateway (channel) <- restarts <- api and the
pages; config/ is the top and wires everything. Read from the source with `ast`,
so an import inside a function (or under TYPE_CHECKING) counts as much as one at
the top of a module: a local import cannot hide a circle or a floor broken.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ["tenancy", "chargers", "ocpp_gateway", "restarts", "api", "config"]
PACKAGES = [*APPS, "benchmarks", "tests"]

# What each floor must never import (what lies above it).
FORBIDDEN = {
    "tenancy": {"chargers", "restarts", "ocpp_gateway", "api", "config"},
    "chargers": {"restarts", "ocpp_gateway", "api", "config"},
    "ocpp_gateway": {"restarts", "api", "config"},
    "restarts": {"api", "config"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _imported(module: str, path: Path, known: set[str]) -> set[str]:
    """Every module `module` imports, wherever in the file the import stands.

    `from chargers import signals` names the module chargers.signals when there is
    one, else the package chargers (a name defined in it)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in known else base)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    """Module -> the modules of our own packages it imports."""
    modules = _modules()
    known = set(modules)
    return {
        name: {t for t in _imported(name, path, known) if t.split(".")[0] in PACKAGES}
        for name, path in modules.items()
    }


def _top(module: str) -> str:
    return module.split(".")[0]


@pytest.mark.parametrize("floor", sorted(FORBIDDEN))
def test_no_floor_imports_a_floor_above_it(graph, floor):
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if _top(module) == floor
        for target in targets
        if _top(target) in FORBIDDEN[floor]
    )
    assert upward == []


def test_the_walk_sees_function_level_imports(graph):
    """`RestartsConfig.ready()` imports its receivers inside the method."""
    assert "restarts.receivers" in graph["restarts.apps"]


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_in_app_code_tests_and_benchmarks(graph):
    cycles = set(_cycles(graph))
    assert sorted(map(sorted, cycles)) == []


def test_the_cycle_finder_finds_a_circle():
    graph = {"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}, "a.w": {"a.x"}}
    assert _cycles(graph) == [frozenset({"a.x", "a.y", "a.z"})]
