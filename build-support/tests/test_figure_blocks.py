"""No figure in the README is typed by hand: every table and figure of its Benchmarks section sits
in a generated block, and every block is written by code in the repository (a benchmark or a suite
that calls hn_figures.write_block with the block's name)."""

from __future__ import annotations

import re
from pathlib import Path

from hn_figures import block_names, unmarked_figures, unmarked_tables

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _writers() -> str:
    """Every Python source that may write a block (benchmarks, the chaos suite, libraries)."""
    return "\n".join(
        path.read_text() for folder in ("bench", "chaos", "libs") for path in (ROOT / folder).rglob("*.py")
    )


def test_the_benchmarks_section_has_no_table_outside_a_generated_block() -> None:
    assert unmarked_tables(README, "Benchmarks") == []


def test_the_benchmarks_section_states_no_figure_outside_a_generated_block() -> None:
    # Prose around the blocks says why; a figure typed there goes stale with the next run.
    assert unmarked_figures(README, "Benchmarks") == []


def test_every_block_is_written_by_code() -> None:
    names = block_names(README)
    assert {"rpc", "broker", "connections", "yellow", "match", "chaos"} <= set(names), names
    sources = _writers()
    for name in names:
        assert re.search(rf"""["']{re.escape(name)}["']""", sources), f"no code writes the README block {name!r}"
