"""Password hashing: argon2id at OWASP's minimums, off the event loop.

argon2 burns ~20 MiB and tens of milliseconds per hash by design. It runs in a thread pool of
its own (argon2-cffi releases the GIL) sized to leave a core to the event loop, on threads with
a lower scheduling priority: heartbeats and validates keep flowing while 50 logins hash at once. A login for a missing account verifies against a dummy hash: a wrong
password costs the same whether or not the name exists.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from gevent.threadpool import ThreadPool

__all__ = ["HashProfile", "PROFILES", "Passwords"]

T = TypeVar("T")
_niceness = threading.local()


def _niced(fn: Callable[..., T], *args: Any) -> T:
    """Run `fn` on a thread that yields the CPU to the event loop's thread when both want it."""
    if not getattr(_niceness, "done", False):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except OSError:
            pass  # not permitted here: the pool size alone still leaves a core to the loop
        _niceness.done = True
    return fn(*args)


@dataclass(frozen=True)
class HashProfile:
    time_cost: int
    memory_kib: int
    parallelism: int


PROFILES = {
    # OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
    "production": HashProfile(time_cost=2, memory_kib=19 * 1024, parallelism=1),
    # Fast enough for test suites that log in thousands of times; never for real accounts.
    "test": HashProfile(time_cost=1, memory_kib=1024, parallelism=1),
}


class Passwords:
    def __init__(self, profile: HashProfile) -> None:
        self._hasher = PasswordHasher(
            time_cost=profile.time_cost,
            memory_cost=profile.memory_kib,
            parallelism=profile.parallelism,
            type=Type.ID,
        )
        self._pool = ThreadPool(max(1, (os.cpu_count() or 2) - 1))
        self._dummy = self._hasher.hash("not a password anyone has")

    def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return self._pool.apply(_niced, (fn, *args))  # type: ignore[no-any-return]

    def hash(self, password: str) -> str:
        return self._run(self._hasher.hash, password)

    def verify(self, stored: str | None, password: str) -> bool:
        """True if `password` matches `stored`; a None `stored` costs a real verify too."""
        return self._run(self._matches, stored or self._dummy, password) and bool(stored)

    def _matches(self, stored: str, password: str) -> bool:
        # On the pool's thread: a mismatch must not leave it as an exception, which gevent's
        # thread pool prints to stderr (a log line an attacker could multiply at will).
        try:
            return bool(self._hasher.verify(stored, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        """The stored hash was made with other parameters than today's: upgrade it on login."""
        return self._hasher.check_needs_rehash(stored)
