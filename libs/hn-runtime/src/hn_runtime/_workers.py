"""Reusable greenlets that run handlers entered straight from the hub.

Creating, starting and finishing a greenlet costs ~15 us on these machines (measured: greenlet
3.x on CPython 3.11), ten times a switch into a parked one; per request that was a third of the
server's time. So workers park after each task and are reused.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

import gevent
from greenlet import getcurrent, greenlet

from hn_runtime._logging import get_logger

__all__ = ["Workers"]

_TASK = object()
_log = get_logger("hn.workers")


class Workers:
    """`spawn(fn, *args)` runs `fn` in a worker greenlet at once, from the hub's greenlet.

    `spawn` returns when `fn` finishes or first blocks; a blocked task resumes whenever what it
    waits for happens, like any greenlet. Each task runs in a fresh `contextvars.Context`, so
    nothing one request binds leaks into the next on the same worker. `fn` must handle its own
    exceptions: one that escapes is logged and swallowed, never raised into the hub.
    """

    def __init__(self, *, max_idle: int = 256) -> None:
        self._hub = gevent.get_hub()
        self._idle: list[greenlet] = []
        self._max_idle = max_idle

    def spawn(self, fn: Callable[..., Any], *args: Any) -> None:
        task = (_TASK, fn, args)
        if self._idle:
            self._idle.pop().switch(task)
        else:
            greenlet(self._work, self._hub).switch(task)

    def _work(self, task: tuple[Any, ...]) -> None:
        hub = self._hub
        idle = self._idle
        me = getcurrent()
        while True:
            try:
                contextvars.Context().run(task[1], *task[2])
            except BaseException as exc:  # noqa: BLE001 - nothing may escape into the hub
                _log.error("worker task failed", task=getattr(task[1], "__qualname__", repr(task[1])), exc_info=exc)
            if len(idle) >= self._max_idle:
                return  # a burst is over: let this greenlet go
            idle.append(me)
            while True:
                try:
                    task = hub.switch()
                except BaseException:  # noqa: BLE001 - a stale timeout or kill aimed at a finished task
                    continue
                # Anything else switching in is a stale wake-up of a finished task: park again.
                if type(task) is tuple and len(task) == 3 and task[0] is _TASK:
                    break
