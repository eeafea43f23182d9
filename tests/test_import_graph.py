"""The library's import graph: no cycles, and the statistics and models never reach the known-truth data.

Read from the source (``ast``), function-local imports included, so a lazy
import cannot hide a cycle. A submodule's implicit import of its own package
is not an edge: every package has it, and it is not a dependency between
concerns.
"""

from __future__ import annotations

import ast
from pathlib import Path

LIB = Path(__file__).resolve().parents[1] / "lib"
PACKAGE = LIB / "emoprobe"


def module_name(path: Path) -> str:
    parts = path.relative_to(LIB).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the emoprobe modules it imports (anywhere in its source)."""
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p): p for p in paths}
    graph: dict[str, set[str]] = {name: set() for name in modules}

    def resolve(name: str) -> str | None:
        while name and name not in modules:  # `from .stats.pairs import _Design` names a module; a name in one is not
            name = name.rpartition(".")[0]
        return name or None

    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                targets = [f"{stem}.{alias.name}" for alias in node.names]
            for target in targets:
                found = resolve(target)
                if found and found != name and not name.startswith(found + "."):
                    graph[name].add(found)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first repeated last), or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        for nxt in graph.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_relative_and_local_imports():
    graph = import_graph()
    # Known edges of each form: a top-level `from . import`, a function-local one, a `from .pkg.mod import`.
    assert "emoprobe.stats" in graph["emoprobe.probe"]
    assert "emoprobe.stats.resampling" in graph["emoprobe.acoustics"]
    assert "emoprobe.models" in graph["emoprobe.truth.known_truth"]
    assert "emoprobe.stats.records" in graph["emoprobe.stats.pairs"]


def test_the_library_has_no_import_cycle():
    assert find_cycle(import_graph()) is None, find_cycle(import_graph())


def test_statistics_and_models_never_reach_the_known_truth_data():
    graph = import_graph()
    for start in [name for name in graph if name == "emoprobe.stats" or name.startswith("emoprobe.stats.")] + ["emoprobe.models"]:
        truth = {name for name in reachable(graph, start) if name.startswith("emoprobe.truth")}
        assert not truth, f"{start} imports {sorted(truth)}"


def test_every_module_says_what_it_is_for():
    for path in sorted(PACKAGE.rglob("*.py")):
        docstring = ast.get_docstring(ast.parse(path.read_text()))
        assert docstring and docstring.strip(), f"{path.relative_to(LIB)} has no docstring"
