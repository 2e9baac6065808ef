"""What a process built from a module carries of the data tier, read from the sources.

A service needs the client side of hn-datatier only; the launcher, the agent and the fixtures
must not ride along in its PEX. Pants puts in a PEX every first-party module its entry point
reaches through import statements, wherever they stand (module level, inside a function, under
`if TYPE_CHECKING:`), so this follows the same statements, with `ast`, through the sources on
`sys.path` (a test's sandbox holds the sources its target depends on). Nothing is imported.
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import Iterator

__all__ = ["first_party_imports", "imports_beyond_the_client"]

#: The parts of hn-datatier a service never needs.
BEYOND_THE_CLIENT = ("hn_datatier.local", "hn_datatier.agent", "hn_datatier.testing")


def _source(module: str) -> tuple[str, bool] | None:
    """(path, is a package) of a module's source on sys.path, or None (third-party, generated, absent)."""
    parts = module.split(".")
    for entry in sys.path:
        base = os.path.join(os.path.abspath(entry or "."), *parts)
        if os.path.isfile(os.path.join(base, "__init__.py")):
            return os.path.join(base, "__init__.py"), True
        if os.path.isfile(base + ".py"):
            return base + ".py", False
    return None


def _with_parents(module: str) -> Iterator[str]:
    parts = module.split(".")
    for i in range(1, len(parts) + 1):
        yield ".".join(parts[:i])


def _imported(module: str, path: str, is_package: bool) -> Iterator[str]:
    """The modules one source file names in its import statements."""
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), path)
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _with_parents(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield from _with_parents(target)
            for alias in node.names:
                if _source(f"{target}.{alias.name}") is not None:  # `from package import submodule`
                    yield f"{target}.{alias.name}"


def first_party_imports(module: str, *, prefix: str = "hn_") -> dict[str, str]:
    """Every first-party module (`prefix`) `module` reaches, each mapped to the module that first
    imports it (`module` itself maps to "")."""
    seen = {name: "" for name in _with_parents(module)}
    todo = list(seen)
    while todo:
        current = todo.pop()
        found = _source(current)
        if found is None:
            continue
        for name in _imported(current, *found):
            if name.startswith(prefix) and name not in seen:
                seen[name] = current
                todo.append(name)
    return seen


def imports_beyond_the_client(module: str) -> list[str]:
    """The import chains from `module` to any part of hn-datatier beyond the client (the local
    launcher, the agent, the fixtures): empty when a PEX built from `module` carries none."""
    reached = first_party_imports(module)
    chains = []
    for name in sorted(reached):
        if any(name == part or name.startswith(part + ".") for part in BEYOND_THE_CLIENT):
            chain = [name]
            while reached[chain[-1]]:
                chain.append(reached[chain[-1]])
            chains.append(" -> ".join(reversed(chain)))
    return chains
