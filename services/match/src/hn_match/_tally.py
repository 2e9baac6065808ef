"""A count of things in progress (the duels an instance holds) and a wait until there are none."""

from __future__ import annotations

import gevent.event

__all__ = ["Tally"]


class Tally:
    def __init__(self) -> None:
        self.count = 0
        self._none = gevent.event.Event()
        self._none.set()

    def add(self) -> None:
        self.count += 1
        self._none.clear()

    def done(self) -> None:
        self.count -= 1
        if self.count <= 0:
            self.count = 0
            self._none.set()

    def wait_none(self, timeout: float) -> bool:
        """True once nothing is in progress, False if something still is after `timeout` seconds."""
        return bool(self._none.wait(timeout))
