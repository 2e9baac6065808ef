"""A lease in Redis: at most one holder at a time, lost by a holder that stops renewing.

The matchmaker runs on whichever match instance holds it; when that instance dies its lease
expires and another takes over, so the queue keeps moving with any one instance left.
Compare-and-renew/delete are Lua scripts: one key each, which Twemproxy proxies.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Lease"]

#: take the lease if free, renew it if ours: one round trip per matchmaking tick
_HOLD = (
    "local v = redis.call('get', KEYS[1]) if not v then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end"
    " if v == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class Lease:
    def __init__(self, redis: Any, key: str, holder: str, *, ttl_ms: int = 3000) -> None:
        self.redis = redis
        self.key = key
        self.holder = holder
        self.ttl_ms = ttl_ms

    def hold(self) -> bool:
        """Take the lease if free, renew it if ours; True while we hold it."""
        return bool(self.redis.eval(_HOLD, 1, self.key, self.holder, self.ttl_ms))

    def release(self) -> None:
        self.redis.eval(_RELEASE, 1, self.key, self.holder)
