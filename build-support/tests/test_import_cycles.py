"""No file-level import cycle among the modules of the first-party packages.

The rule: every import statement in a module's file is an edge to the module it names, wherever
the statement stands: at the top, under `if TYPE_CHECKING:`, or inside a function. That is what
Pants' dependency inference reads, and two files that name each other cannot be read, tested or
moved apart, whether the loop closes when the code runs or only for the type checker. (Each of
the three cycles issue 21 names goes through a TYPE_CHECKING or a function-level import.)
Not an edge: the parent packages Python runs before a module (`import a.b.c` runs `a` and `a.b`
first); counted, every package whose `__init__` re-exports its modules would be a cycle.
`from pkg import name` is an edge to the module `pkg.name` when there is one, else to `pkg`.

Packages: every `<top>/<name>/src/` folder (libs, services, clients, tools). Run
`python build-support/tests/test_import_cycles.py` to list the cycles of a checkout.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

# The repository (the sandbox root under Pants, which holds these files: //:package-sources).
REPO = Path(__file__).resolve().parents[2]


def modules(repo: Path) -> dict[str, Path]:
    """Module name -> file, for every first-party package under `<top>/<name>/src/`."""
    found: dict[str, Path] = {}
    for src in sorted(repo.glob("*/*/src")):
        for path in sorted(src.rglob("*.py")):
            parts = list(path.relative_to(src).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imported(name: str, path: Path) -> Iterator[tuple[str, str | None]]:
    """(module, imported name or None) for every import statement in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                yield base, alias.name


def import_graph(found: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in found.items():
        edges = graph[name] = set()
        for module, attr in _imported(name, path):
            target = f"{module}.{attr}" if attr is not None and f"{module}.{attr}" in found else module
            if target in found and target != name:
                edges.add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _shown(cycle: frozenset[str]) -> str:
    return " <-> ".join(sorted(cycle))


def test_the_graph_covers_every_package():
    found = modules(REPO)
    # Nothing read would pass every check below: make sure the packages are there.
    assert {"hn_runtime._server", "hn_runtime._service", "hn_sso", "hn_client", "hn_cli"} <= found.keys()


def test_no_import_cycle():
    found = [_shown(c) for c in cycles(import_graph(modules(REPO)))]
    assert not found, "file-level import cycles:\n  " + "\n  ".join(found)


def test_imports_are_read_wherever_they_stand(tmp_path: Path):
    src = tmp_path / "libs" / "x" / "src" / "pkg"
    src.mkdir(parents=True)
    (src / "__init__.py").write_text("from pkg.a import A\n")
    (src / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\nclass A: ...\n"
    )
    (src / "b.py").write_text("def f():\n    from . import a\n    from .c import C\n")
    (src / "c.py").write_text("C = 1\n")
    graph = import_graph(modules(tmp_path))
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a", "pkg.c"}, "pkg.c": set()}
    assert cycles(graph) == [frozenset({"pkg.a", "pkg.b"})]


if __name__ == "__main__":
    found = cycles(import_graph(modules(REPO)))
    for cycle in found:
        print(_shown(cycle))
    sys.exit(1 if found else 0)
