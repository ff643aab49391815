"""The benchmark modules form a DAG, and the entry point loads before Django is set up."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

from tests.helpers import ROOT

PACKAGE = ROOT / "benchmarks"


def _module_name(path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Each benchmarks module and the benchmarks modules it imports, wherever the import
    stands (top level, in a function, under TYPE_CHECKING)."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[name] = {target for target in targets if target in modules} - {name}
    return graph


def test_benchmark_imports_have_no_circle():
    graph = _imports()
    done, path = set(), []

    def visit(module):
        if module in path:
            raise AssertionError("import circle: " + " -> ".join([*path, module]))
        if module in done:
            return
        path.append(module)
        for target in sorted(graph[module]):
            visit(target)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    assert "benchmarks.harness" in graph["benchmarks.run"]


def test_entry_point_loads_before_django_is_set_up():
    """`python -m benchmarks.run` sets Django up itself; the scenarios come after."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    code = (
        "import sys, benchmarks.run; "
        "assert 'benchmarks.scenarios' not in sys.modules; "
        "assert 'chargers.models' not in sys.modules"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-3000:]


def test_every_scenario_name_has_its_scenario():
    from benchmarks import run, scenarios

    assert tuple(scenarios.BY_NAME) == run.SCENARIOS
