"""hn-chaos: fault injection and correctness checks for the chaos tests.

- `FaultProxy`: a loopback TCP proxy on gevent between a client and a service that adds latency,
  stalls, black-holes or resets the link, switchable at runtime.
- `History`, `Op`, `Outcome`, `check_set`: every operation recorded as ok / failed / unknown, and
  Jepsen's set check afterwards (nothing acknowledged lost, nothing stored twice, nothing that
  failed with a clear error stored anyway).
- `Figures`, `write_report`, `write_summary`: one scenario's figures, the generated markdown page
  and the short table the suite writes into the README.
"""

from hn_chaos._history import CheckResult, History, Op, Outcome, check_set, default_classify
from hn_chaos._proxy import DIRECTIONS, FaultProxy, ProxyStats
from hn_chaos._report import (
    SUMMARY_BLOCK,
    Figures,
    markdown_table,
    summary_table,
    write_report,
    write_summary,
)

__version__ = "0.1.0"
__all__ = [
    "DIRECTIONS",
    "SUMMARY_BLOCK",
    "CheckResult",
    "FaultProxy",
    "Figures",
    "History",
    "Op",
    "Outcome",
    "ProxyStats",
    "check_set",
    "default_classify",
    "markdown_table",
    "summary_table",
    "write_report",
    "write_summary",
]
