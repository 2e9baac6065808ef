"""Each library's and service's version is written twice: in its BUILD (the distribution's
version) and as its package's `__version__` (what a running service reports in `health`). Pants
cannot read the one from the other, so this test holds them equal.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

# The repository (the sandbox root under Pants, which holds these files: //:package-sources).
REPO = Path(__file__).resolve().parents[2]

_MACRO = re.compile(r"\bhn_(?:library|service)\(\s*(?P<args>.*?)\n\)", re.S)
_VERSION = re.compile(r"\bversion\s*=\s*\"(?P<version>[^\"]+)\"")


def packages(repo: Path) -> list[Path]:
    """The folders whose BUILD declares a versioned distribution (hn_library or hn_service)."""
    return sorted(build.parent for build in repo.glob("*/*/BUILD") if _MACRO.search(build.read_text()))


def build_version(folder: Path) -> str:
    match = _MACRO.search((folder / "BUILD").read_text())
    assert match is not None
    version = _VERSION.search(match.group("args"))
    assert version is not None, f"{folder}/BUILD: hn_library/hn_service without version="
    return version.group("version")


def package_version(folder: Path) -> str | None:
    """`__version__` as the package's `__init__.py` assigns it (the one package under src/)."""
    (init,) = (folder / "src").glob("*/__init__.py")
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            return ast.literal_eval(node.value)
    return None


FOLDERS = packages(REPO)


def test_every_library_and_service_is_checked():
    names = {f"{folder.parent.name}/{folder.name}" for folder in FOLDERS}
    assert {"libs/hn-runtime", "libs/hn-codec", "services/sso", "clients/python", "tools/hn"} <= names


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda folder: f"{folder.parent.name}/{folder.name}")
def test_the_build_version_is_the_package_version(folder: Path):
    assert package_version(folder) == build_version(folder), (
        f"{folder.parent.name}/{folder.name}: BUILD says {build_version(folder)}, "
        f"the package's __version__ {package_version(folder)}"
    )
