"""One active autoscaler: a lease in Redis (through Twemproxy) that its holder keeps renewing.

Two autoscalers acting on the same groups would fight: one drains what the other just started,
and every scale-out would count twice. So each autoscaler process runs a `RedisLease` and acts only
while it holds it; the others decide and export the same figures (a warm standby) but leave the
driver alone.

* Taking it: `SET key holder NX PX ttl` (the same idea as match's matchmaker lease). Renewing and
  releasing first compare the holder (a Lua script on one key, which Twemproxy proxies), so a
  holder whose lease lapsed can neither extend nor delete its successor's.
* The holder renews every `ttl/3` from its own greenlet, and counts itself the holder only until
  `margin * ttl` after the moment it *sent* its last successful renewal: it stops acting before
  the key can expire in Redis, whatever a slow round or a slow reply does meanwhile.
* A holder that dies stops renewing: the key expires within `ttl`, and a standby, trying every
  `ttl/3`, takes it. A holder that stops cleanly deletes the key, and a standby takes over at its
  next try.
* Redis unreachable: nobody can renew or take the lease, so nobody acts (scaling pauses; decisions
  are still logged). Two autoscalers never act at once, which is the point.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent.event

from hn_runtime import get_logger

__all__ = ["RedisLease"]

_log = get_logger("hn.autoscale")

_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class RedisLease:
    def __init__(
        self,
        redis: Any,
        key: str,
        holder: str,
        *,
        ttl_s: float = 10.0,
        margin: float = 0.8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """redis: a client of the tier (hn_datatier.redis_from_url); holder: this autoscaler's
        instance id; margin: the share of `ttl_s` a renewal counts for here (below 1: this side
        stops before Redis expires the key)."""
        if ttl_s <= 0 or not 0 < margin < 1:
            raise ValueError("need ttl_s > 0 and 0 < margin < 1")
        self.redis = redis
        self.key = key
        self.holder = holder
        self.ttl_s = ttl_s
        self.margin = margin
        self.clock = clock
        self._valid_until = -float("inf")

    def held(self) -> bool:
        """True while the last renewal still covers now (on this process's clock)."""
        return self.clock() < self._valid_until

    def try_hold(self) -> bool:
        """Take the lease if it is free, renew it if it is ours; whether we hold it now.
        A failed call to Redis raises, and the lease then runs out on its own."""
        sent = self.clock()
        ttl_ms = int(self.ttl_s * 1000)
        ours = bool(self.redis.set(self.key, self.holder, nx=True, px=ttl_ms)) or bool(
            self.redis.eval(_RENEW, 1, self.key, self.holder, ttl_ms)
        )
        self._valid_until = sent + self.ttl_s * self.margin if ours else -float("inf")
        return ours

    def release(self) -> None:
        """Give the lease up now (if still ours), so a standby takes over at its next try."""
        self._valid_until = -float("inf")
        self.redis.eval(_RELEASE, 1, self.key, self.holder)

    def keep(self, stop: gevent.event.Event) -> None:
        """Take or renew every ttl/3 until `stop` is set, then release. Run it in a greenlet."""
        holding = False
        while not stop.is_set():
            try:
                now_holding = self.try_hold()
            except Exception as exc:  # noqa: BLE001 - Redis away: the lease runs out, nobody acts
                _log.warning("autoscaler lease: Redis did not answer", key=self.key, error=str(exc))
                now_holding = self.held()
            if now_holding != holding:
                holding = now_holding
                _log.info(
                    "autoscaler lease taken: this autoscaler acts" if holding else "autoscaler lease lost: standing by",
                    key=self.key,
                    holder=self.holder,
                )
            stop.wait(self.ttl_s / 3)
        try:
            self.release()
        except Exception as exc:  # noqa: BLE001 - it expires on its own within ttl
            _log.warning("autoscaler lease: could not release it", key=self.key, error=str(exc))
