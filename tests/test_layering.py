"""The layering rule, enforced by reading every module's imports with :mod:`ast`.

* ``ann/`` (wake side) imports nothing of ``snn/`` or ``bridge/``;
* ``snn/`` (sleep engines) imports no ``torch`` and nothing of ``ann/`` or ``bridge/``;
* ``bridge/`` is the only package that knows both;
* no import cycle between the project's modules. Every import counts, also one
  inside a function or under ``if TYPE_CHECKING:`` (a deferred import hides a
  cycle, it does not remove it), and a submodule importing its own package's
  ``__init__`` (``from .. import x`` where ``x`` is not a module) is an edge to it;
* ``import snn`` (and loading every registered engine) does not import torch;
* ``docs/architecture.md`` has a line for every module, and none for a module that is gone.
"""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("ann", "snn", "bridge")


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


MODULES = module_files()


def imported_names(name: str, path: Path) -> list[tuple[str, int]]:
    """Absolute dotted names that module ``name`` imports, with line numbers.

    ``from X import y`` yields ``X.y`` when that is a project module, else ``X``;
    relative imports are resolved against the module's package.
    """
    is_package = path.name == "__init__.py"
    package = name.split(".") if is_package else name.split(".")[:-1]
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                assert len(base) == len(package) - (node.level - 1), f"{path}:{node.lineno}: relative import too deep"
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            for alias in node.names:
                target = f"{source}.{alias.name}"
                found.append((target if target in MODULES else source, node.lineno))
    return found


def project_module(imported: str) -> str | None:
    """The project module an import loads (``snn.spikes.X`` -> ``snn.spikes``), or None."""
    parts = imported.split(".")
    for k in range(len(parts), 0, -1):
        candidate = ".".join(parts[:k])
        if candidate in MODULES:
            return candidate
    return None


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported project module: line}; implicit parent-package imports left out."""
    graph: dict[str, dict[str, int]] = {}
    for name, path in MODULES.items():
        edges: dict[str, int] = {}
        for imported, line in imported_names(name, path):
            target = project_module(imported)
            if target is not None and target != name:
                edges.setdefault(target, line)
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for name, path in MODULES.items():
        if name.split(".")[0] != package:
            continue
        for imported, line in imported_names(name, path):
            if imported.split(".")[0] in forbidden:
                bad.append(f"{path.relative_to(REPO)}:{line} imports {imported}")
    return bad


def test_every_package_is_found():
    for package in PACKAGES:
        assert package in MODULES and len([m for m in MODULES if m.startswith(package + ".")]) >= 3


def test_ann_imports_nothing_of_snn_or_bridge():
    assert violations("ann", ("snn", "bridge")) == []


def test_snn_imports_no_torch_ann_or_bridge():
    assert violations("snn", ("torch", "ann", "bridge")) == []


def test_the_checks_see_relative_and_deferred_imports(tmp_path):
    """The parser resolves relative imports and finds imports inside functions."""
    path = tmp_path / "mod.py"
    path.write_text("def f():\n    from ..network import SleepNetwork\n    from .. import errors\n"
                    "    from . import helper\n    import torch\n")
    found = [name for name, _ in imported_names("snn.sub.mod", path)]
    assert found == ["snn.network", "snn.errors", "snn.sub", "torch"]


def test_cycle_finder_finds_a_cycle():
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert shortest_cycle(graph, ["a", "b", "c"]) == "a (line 1) -> b (line 2) -> c (line 3) -> a"
    assert find_cycles({"a": {"b": 1}, "b": {}}) == []


def shortest_cycle(graph: dict[str, dict[str, int]], component: list[str]) -> str:
    """One shortest cycle through the first module of a component, with line numbers."""
    start = component[0]
    parents: dict[str, str] = {}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(parents[path[-1]])
                path = path[::-1] + [start]
                return " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(path, path[1:])) + f" -> {start}"
            if w in component and w not in parents:
                parents[w] = v
                queue.append(w)
    raise AssertionError(f"no cycle through {start}")


def test_no_import_cycle():
    graph = import_graph()
    cycles = find_cycles(graph)
    detail = [f"{len(c)} modules, e.g. {shortest_cycle(graph, c)}" for c in cycles]
    assert cycles == [], "import cycles:\n" + "\n".join(detail)


@pytest.mark.parametrize("load_engines", [False, True], ids=["import snn", "every engine class"])
def test_snn_does_not_import_torch(load_engines):
    code = ("import json, sys\nimport snn\n"
            + ("for name in snn.available_engines():\n    snn.engine_class(name)\n" if load_engines else "")
            + "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
              "('torch', 'ann', 'bridge', 'snn'))))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "snn" in loaded
    assert [m for m in loaded if m.split(".")[0] in ("torch", "ann", "bridge")] == []


def test_architecture_doc_lists_every_module():
    doc = (REPO / "docs" / "architecture.md").read_text()
    listed = set(re.findall(r"`((?:ann|snn|bridge)/[\w/]+\.py)`", doc))
    files = {str(path.relative_to(REPO)) for path in MODULES.values()}
    assert sorted(files - listed) == [], "modules without a line in docs/architecture.md"
    assert sorted(listed - files) == [], "docs/architecture.md lists modules that do not exist"
