"""No module imports another package's private parts: its `_modules` or its `_names`.

A package's public face is its `__init__` (and public submodules such as `hn_runtime.testing`);
what starts with an underscore may change without notice, so only the package's own folder (its
`src/` and its `tests/`) may import it. Everything else (other packages, e2e/, chaos/, bench/,
ops/) goes through the public names, which the package then has to keep.

First-party packages are those under `<top>/<name>/src/`; each belongs to `<top>/<name>/`.
Run `python build-support/tests/test_private_imports.py` to list the offending imports.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_SKIPPED = (".venv", ".pants", "dist", "run", "node_modules")


def packages(repo: Path) -> dict[str, Path]:
    """Top-level first-party package -> the folder that owns it (`hn_sso` -> services/sso)."""
    return {pkg.name: src.parent for src in repo.glob("*/*/src") for pkg in src.iterdir() if pkg.is_dir()}


def python_files(repo: Path) -> Iterator[Path]:
    for path in sorted(repo.rglob("*.py")):
        if not any(part.startswith(_SKIPPED) for part in path.relative_to(repo).parts):
            yield path


def _private(parts: list[str]) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in parts)


def private_imports(path: Path, owners: dict[str, Path]) -> Iterator[str]:
    """The imports in `path` of another package's private module or name."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name.split(".") for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            module = node.module.split(".")
            names = [module + [alias.name] for alias in node.names]
        else:
            continue
        for parts in names:
            owner = owners.get(parts[0])
            if owner is None or owner in path.parents or not _private(parts[1:]):
                continue
            yield f"{path.relative_to(owners[parts[0]].parents[1])}:{node.lineno}: {'.'.join(parts)}"


def offences(repo: Path) -> list[str]:
    owners = packages(repo)
    return [line for path in python_files(repo) for line in private_imports(path, owners)]


def test_the_packages_and_files_are_there():
    owners = packages(REPO)
    assert owners["hn_sso"] == REPO / "services" / "sso" and owners["hn_runtime"] == REPO / "libs" / "hn-runtime"
    files = {p.relative_to(REPO).parts[0] for p in python_files(REPO)}
    assert {"e2e", "chaos", "bench", "libs", "services"} <= files


def test_no_package_imports_the_private_parts_of_another():
    found = offences(REPO)
    assert not found, "private imports across packages (use the package's public names):\n  " + "\n  ".join(found)


def test_a_private_import_is_found_and_a_package_may_import_its_own(tmp_path: Path):
    for name in ("a", "b"):
        pkg = tmp_path / "libs" / name / "src" / f"p{name}"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "_inner.py").write_text("X = 1\n")
    (tmp_path / "libs" / "a" / "tests").mkdir()
    (tmp_path / "libs" / "a" / "tests" / "test_own.py").write_text("from pa._inner import X\n")
    (tmp_path / "libs" / "b" / "src" / "pb" / "use.py").write_text(
        "import pa._inner\nfrom pa import _inner\nfrom pa import public\n"
    )
    assert offences(tmp_path) == ["libs/b/src/pb/use.py:1: pa._inner", "libs/b/src/pb/use.py:2: pa._inner"]


if __name__ == "__main__":
    for line in offences(REPO):
        print(line)
