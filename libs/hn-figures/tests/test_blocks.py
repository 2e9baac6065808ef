"""A block is replaced whole with its provenance, other text is kept, and tables and figures outside
blocks are found."""

from __future__ import annotations

from pathlib import Path

import pytest

from hn_figures import begin_marker, block_names, end_marker, unmarked_figures, unmarked_tables, write_block

DOC = f"""# Title

## Benchmarks

Intro.

{begin_marker("rpc")}
| old | table |
{end_marker("rpc")}

After.

## Other

| not | figures |
"""


def test_the_block_is_replaced_and_everything_else_kept(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text(DOC)
    write_block(str(path), "rpc", "| a | b |\n|---|---|\n| 1 | 2 |\n", command="./pants run bench/rpc.py")
    text = path.read_text()
    assert "| old | table |" not in text
    assert "| 1 | 2 |" in text
    assert "by `./pants run bench/rpc.py` (load average" in text
    assert text.startswith("# Title\n\n## Benchmarks\n\nIntro.\n\n")
    assert text.endswith(f"{end_marker('rpc')}\n\nAfter.\n\n## Other\n\n| not | figures |\n")
    # written twice, still one block
    write_block(str(path), "rpc", "| 3 |", command="x")
    assert path.read_text().count(begin_marker("rpc")) == 1
    assert block_names(path.read_text()) == ["rpc"]


def test_a_missing_block_is_an_error_not_an_append(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text("# nothing here\n")
    with pytest.raises(ValueError, match="no figures block 'rpc'"):
        write_block(str(path), "rpc", "| 1 |", command="x")
    assert path.read_text() == "# nothing here\n"


def test_tables_outside_blocks_are_found_in_the_section_only() -> None:
    assert unmarked_tables(DOC, "Benchmarks") == []
    typed = DOC.replace("After.", "| typed | by hand |")
    assert unmarked_tables(typed, "Benchmarks") == ["| typed | by hand |"]
    assert unmarked_tables(DOC, "Other") == ["| not | figures |"]


@pytest.mark.parametrize(
    "typed",
    [
        "yellow used 27.8 % of a core",
        "p50 1.75x raw",
        "3 ms of CPU per duel",
        "held 6,500 players at 956/s",
        "1.45 KB each",
    ],
)
def test_figures_typed_outside_blocks_are_found(typed: str) -> None:
    assert unmarked_figures(DOC.replace("After.", typed), "Benchmarks") == [typed]


def test_counts_and_figures_inside_blocks_are_not_typed_figures() -> None:
    prose = "1,000 instances from 4 processes on a 2-core machine, see issue 20."
    inside = DOC.replace("| old | table |", "| 27.8 % | 3 ms |")
    assert unmarked_figures(inside.replace("After.", prose), "Benchmarks") == []
