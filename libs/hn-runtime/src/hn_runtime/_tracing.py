"""Which requests every hop logs: a sample decided by the trace id alone.

Logging every request would cost more than serving it at the runtime's rates, and logging a
random sample per process would leave holes in a request's path. Deciding from the trace id
(the first 32 bits against `rate`) makes every process that sees a trace agree without a word on
the wire: a sampled request is logged by the broker and by every service it reaches, with its
duration and outcome, so `hn logs --trace ID` shows its whole path. Failures are logged anyway.
"""

from __future__ import annotations

__all__ = ["TraceSampler"]

_SPACE = 1 << 32


class TraceSampler:
    def __init__(self, rate: float) -> None:
        """`rate`: the share of traces logged at every hop, 0 (none) to 1 (all)."""
        self.rate = min(1.0, max(0.0, rate))
        self._below = int(self.rate * _SPACE)

    def __bool__(self) -> bool:
        return self._below > 0

    def sampled(self, trace_id: str | None) -> bool:
        if not trace_id or self._below == 0:
            return False
        if self._below >= _SPACE:
            return True
        try:
            return int(trace_id[:8], 16) < self._below
        except ValueError:
            # A client-chosen id that is not hex: any stable hash keeps the hops in agreement.
            return (int.from_bytes(trace_id.encode()[:8].ljust(8, b"\0"), "big") >> 32) < self._below
