"""Deciding what gets logged: `LogThrottle` spares the log a flood of identical lines,
`TraceSampler` picks the traces every hop logs (the same ones in every process).

Loggers themselves come from `hn_runtime.get_logger` and `hn_runtime.configure_logging`.
"""

from hn_runtime._throttle import LogThrottle
from hn_runtime._tracing import TraceSampler

__all__ = ["LogThrottle", "TraceSampler"]
