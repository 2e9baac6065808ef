"""docs/security.md cannot name a test that does not exist, and its attack table names every test
of the security tier.

Every `path/test_x.py::test_name` the page writes (a parametrized `test_name[id]` counts as
`test_name`) must be a file of the repository defining that test function; the table of section
"Attacks and the tests that prove them" must name each test of `security/test_*.py`, so a test
added to the tier is added to the page.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "security.md"
TABLE = "## Attacks and the tests that prove them"
_REFERENCE = re.compile(r"(?P<path>[\w./-]+/test_\w+\.py)::(?P<name>test_\w+)")


def references(text: str) -> set[tuple[str, str]]:
    return {(m["path"], m["name"]) for m in _REFERENCE.finditer(text)}


def _test_functions(path: Path) -> set[str]:
    return {
        node.name
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    }


def attack_table(text: str) -> str:
    start = text.index(TABLE)
    end = text.find("\n## ", start + len(TABLE))
    return text[start : end if end != -1 else len(text)]


def test_every_test_the_page_names_exists() -> None:
    named = references(DOC.read_text())
    assert len(named) > 20, "the page's references were found"
    missing = sorted(
        f"{path}::{name}"
        for path, name in named
        if not (REPO / path).is_file() or name not in _test_functions(REPO / path)
    )
    assert not missing, f"docs/security.md names tests that do not exist: {missing}"


def test_the_attack_table_names_every_test_of_the_security_tier() -> None:
    table = attack_table(DOC.read_text())
    named = references(table)
    tier = {
        (f"security/{path.name}", name)
        for path in sorted((REPO / "security").glob("test_*.py"))
        if path.name != Path(__file__).name
        for name in _test_functions(path)
    }
    assert tier, "the tier's tests were found"
    assert not tier - named, f"tests of the security tier missing from the attack table: {sorted(tier - named)}"
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| attack")]
    assert all(_REFERENCE.search(row) for row in rows if not row.startswith("|---")), "a row without its test"


@pytest.mark.parametrize("text", ["`e2e/test_x.py::test_y[a]`", "[`e2e/test_x.py::test_y`](../e2e/test_x.py)"])
def test_a_reference_is_read_with_its_path_and_name(text: str) -> None:
    assert {name for _, name in references(text)} == {"test_y"}
