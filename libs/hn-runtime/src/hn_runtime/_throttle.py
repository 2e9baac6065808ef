"""Log throttling: a flood of identical refusals must not become a flood of identical log lines."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["LogThrottle"]


class LogThrottle:
    """Lets through the first `burst` events per key per `period` seconds, counts the rest.

    The count of suppressed events rides on the next line let through, so nothing is hidden.
    Metrics still count every event; this only spares the log.
    """

    def __init__(self, *, burst: int = 5, period: float = 1.0) -> None:
        self._burst = burst
        self._period = period
        self._windows: dict[Any, list[float | int]] = {}

    def allow(self, key: Any) -> int | None:
        """None to stay quiet; otherwise how many were suppressed since the last line."""
        now = time.monotonic()
        window = self._windows.get(key)
        if window is None or now - window[0] >= self._period:
            suppressed = int(window[2]) if window is not None else 0
            self._windows[key] = [now, 1, 0]
            return suppressed
        if window[1] < self._burst:
            window[1] += 1
            return 0
        window[2] += 1
        return None

    def warning(self, log: Any, key: Any, event: str, **fields: Any) -> None:
        """`log.warning(event, **fields)` unless `key` is over its burst (counted on the next line)."""
        suppressed = self.allow(key)
        if suppressed is not None:
            log.warning(event, **fields, suppressed=suppressed)
