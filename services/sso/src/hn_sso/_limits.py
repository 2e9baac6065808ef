"""Failed-login limits per account and per client address, shared by every sso instance (Redis).

A fixed window per key: `SET key 0 EX window NX` then `INCR` (INCR keeps the TTL), two
single-key commands Twemproxy proxies, with no moment where a counter exists without expiry.
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

    def blocked_for(self, name: str, address: str | None) -> int:
        """Seconds until another attempt may be made, or 0 if it may be made now."""
        for kind, key in self._keys(name, address):
            count = self._redis.get(key)
            if count is not None and int(count) >= self._limits[kind]:
                return max(1, int(self._redis.ttl(key)))
        return 0

    def failed(self, name: str, address: str | None) -> None:
        for _, key in self._keys(name, address):
            self._redis.set(key, 0, ex=self.window_s, nx=True)
            self._redis.incr(key)

    def succeeded(self, name: str) -> None:
        self._redis.delete(f"sso:fail:acct:{name.lower()}")
