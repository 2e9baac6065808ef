"""hn-chaos: fault injection and correctness checks for the chaos tests.

- `FaultProxy`: a loopback TCP proxy on gevent between a client and a service that adds latency,
  stalls, black-holes or resets the link, switchable at runtime.
- `History`, `Op`, `Outcome`, `check_set`: every operation recorded as ok / failed / unknown, and
  Jepsen's set check afterwards (nothing acknowledged lost, nothing stored twice).
- `Figures`, `write_report`: one scenario's figures and the generated markdown table.
"""

from hn_chaos._history import CheckResult, History, Op, Outcome, check_set, default_classify
from hn_chaos._proxy import DIRECTIONS, FaultProxy, ProxyStats
from hn_chaos._report import Figures, markdown_table, write_report

__version__ = "0.1.0"
__all__ = [
    "DIRECTIONS",
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
    "write_report",
]
