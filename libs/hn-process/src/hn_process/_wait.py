"""Waiting on a condition with a deadline, never a fixed sleep."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["WaitTimeout", "time_factor", "wait_until"]

T = TypeVar("T")


class WaitTimeout(TimeoutError, AssertionError):
    """A condition was still false at its deadline.

    A TimeoutError to code that waits on a server, and an assertion failure to a test (pytest
    reports it as a failed check, and tests that add context catch AssertionError).
    """


def time_factor() -> float:
    """HN_TEST_TIME_FACTOR (default 1): how much slower than a quiet machine this one runs; tests
    stretch their deadlines by it."""
    return float(os.environ.get("HN_TEST_TIME_FACTOR", "1"))


def wait_until(
    condition: Callable[[], T | None],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "",
    scaled: bool = False,
) -> T:
    """Poll `condition` until it returns something truthy, and return that (never None: a
    condition that returns a result or None gives the result's type).

    Raises WaitTimeout after `timeout` seconds, times `time_factor()` when `scaled` (a test's
    deadline; a server's own deadlines are not stretched). Between polls it calls `time.sleep`,
    which gevent's monkey patching (every HighNoon process patches first) makes a yield to the
    hub: other greenlets run while this one waits.
    """
    limit = timeout * time_factor() if scaled else timeout
    deadline = time.monotonic() + limit
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {limit:.1f}s waiting for {message or condition}")
        time.sleep(interval)
