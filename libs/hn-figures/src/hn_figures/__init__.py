"""hn-figures: blocks of a markdown file (the README, docs/) that only code writes.

A benchmark or a test suite that measured figures replaces its own named block between two
markers with the figures, the date, the command that made them and the machine's load average,
so no figure in the README is typed by hand and a stale one says when and how it was made.
`unmarked_tables` and `unmarked_figures` find tables and figures in a section that no block holds
(a test asserts there are none).
"""

from hn_figures._blocks import (
    begin_marker,
    block_names,
    end_marker,
    unmarked_figures,
    unmarked_tables,
    write_block,
)

__version__ = "0.1.0"
__all__ = ["begin_marker", "block_names", "end_marker", "unmarked_figures", "unmarked_tables", "write_block"]
