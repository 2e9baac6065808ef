"""Login-attempt limits per account and per client address, shared by every sso instance (Redis).

An attempt is counted *before* its password is checked: counted after the slow verify, guesses
sent in parallel would all pass the check before any of them counted. A fixed window per key:
`SET key 0 EX window NX`, `INCR` (INCR keeps the TTL) and `TTL`, pipelined single-key commands
Twemproxy proxies, with no moment where a counter exists without expiry. A successful login
clears the account's count and gives the address its attempt back, so a shared address (a NAT)
is limited by its failures, not by its players.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FailedLogins"]


class FailedLogins:
    def __init__(self, redis: Any, *, per_account: int, per_address: int, window_s: int) -> None:
        self._redis = redis
        self._limits = {"acct": per_account, "addr": per_address}
        self.window_s = window_s

    def _keys(self, name: str, address: str | None) -> list[tuple[str, str]]:
        keys = [("acct", f"sso:fail:acct:{name.lower()}")]
        if address:
            keys.append(("addr", f"sso:fail:addr:{address}"))
        return keys

    def attempt(self, name: str, address: str | None) -> int:
        """Count an attempt; seconds until one may be made if this one is over a limit, else 0."""
        pipe = self._redis.pipeline(transaction=False)
        keys = self._keys(name, address)
        for _, key in keys:
            pipe.set(key, 0, ex=self.window_s, nx=True)
            pipe.incr(key)
            pipe.ttl(key)
        replies = pipe.execute()
        wait = 0
        for i, (kind, _) in enumerate(keys):
            count, ttl = replies[3 * i + 1], replies[3 * i + 2]
            if int(count) > self._limits[kind]:
                wait = max(wait, int(ttl), 1)
        return wait

    def refund(self, name: str, address: str | None) -> None:
        """Take back an attempt that was never judged (the check itself failed)."""
        pipe = self._redis.pipeline(transaction=False)
        for _, key in self._keys(name, address):
            pipe.decr(key)
        pipe.execute()

    def succeeded(self, name: str, address: str | None) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.delete(f"sso:fail:acct:{name.lower()}")
        if address:
            pipe.decr(f"sso:fail:addr:{address}")
        pipe.execute()
