"""Password hashing: argon2id at OWASP's minimums, off the event loop.

argon2 burns ~20 MiB and tens of milliseconds per hash by design. It runs in gevent's thread
pool (argon2-cffi releases the GIL), so heartbeats and other requests keep flowing while
50 logins hash at once. A login for a missing account verifies against a dummy hash: a wrong
password costs the same whether or not the name exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import gevent
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["HashProfile", "PROFILES", "Passwords"]


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
        self._pool = gevent.get_hub().threadpool
        self._dummy = self._hasher.hash("not a password anyone has")

    def hash(self, password: str) -> str:
        return self._pool.apply(self._hasher.hash, (password,))  # type: ignore[no-any-return]

    def verify(self, stored: str | None, password: str) -> bool:
        """True if `password` matches `stored`; a None `stored` costs a real verify too."""
        try:
            return bool(self._pool.apply(self._hasher.verify, (stored or self._dummy, password))) and bool(stored)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        """The stored hash was made with other parameters than today's: upgrade it on login."""
        return self._hasher.check_needs_rehash(stored)
