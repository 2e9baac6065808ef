"""A flapping link: a host cut off and back, again and again, until stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["Flap"]


class Flap:
    """Calls `set_down(True)`, waits `down_s`, `set_down(False)`, waits `up_s`, and so on, in a
    thread (a greenlet under gevent) from `start()` until `stop()`, which leaves the link up."""

    def __init__(self, set_down: Callable[[bool], None], *, down_s: float, up_s: float) -> None:
        if down_s <= 0 or up_s <= 0:
            raise ValueError("a flap's down and up periods must be > 0")
        self._set_down = set_down
        self.down_s = down_s
        self.up_s = up_s
        self.downs = 0  # periods the link went down so far
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hn-netns-flap", daemon=True)

    def start(self) -> Flap:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self._set_down(True)
                self.downs += 1
                if self._stopping.wait(self.down_s):
                    break
                self._set_down(False)
                self._stopping.wait(self.up_s)
        finally:
            self._set_down(False)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> Flap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
