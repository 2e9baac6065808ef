"""Coalesce Redis GETs: every GET asked for in one turn of the gevent loop (a server's whole drain
of requests, see `_start_flush`) goes out as one MGET.

A hot read path (sso's `validate`) issues thousands of single-key GETs a second from many
greenlets; each costs a full redis-py round of pool checkout, packing,
a Twemproxy hop and parsing. Batched, those costs are paid once per turn. Twemproxy splits an
MGET over its shards and reassembles the answer, so keys need no common hash tag.
"""

from __future__ import annotations

from typing import Any

import gevent
from gevent.event import AsyncResult

__all__ = ["GetBatcher"]


class GetBatcher:
    def __init__(self, redis: Any, *, max_batch: int = 256, max_hops: int = 32) -> None:
        self._redis = redis
        self._max_batch = max_batch
        #: how many callback hops the first key of a batch waits at most (one per drained request)
        self._max_hops = max_hops
        self._hops = 0
        self._pending: list[tuple[str, AsyncResult]] = []
        self._flush_scheduled = False
        #: how many keys were waiting at the flush callback's last hop
        self._seen = 0

    def get(self, key: str) -> Any:
        """The value of `key` (or None); raises what the MGET raised."""
        return self._ask([key])[0].get()

    def get_many(self, keys: list[str]) -> list[Any]:
        """The values of `keys` (None for a missing one), read in the same MGET: one wait."""
        return [result.get() for result in self._ask(keys)]

    def _ask(self, keys: list[str]) -> list[AsyncResult]:
        results: list[AsyncResult] = []
        for key in keys:
            result: AsyncResult = AsyncResult()
            self._pending.append((key, result))
            results.append(result)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            gevent.get_hub().loop.run_callback(self._start_flush)
        return results

    def _start_flush(self) -> None:
        # Runs in the hub, which may not block: the MGET itself runs in a greenlet.
        waiting = len(self._pending)
        self._hops += 1
        if waiting < self._max_batch and waiting != self._seen and self._hops < self._max_hops:
            # Keys still arrive in this turn: a server drains its requests one callback after
            # another (each handler that blocks here hands the drain on), so flushing at the
            # first hop would send every request's keys alone. Go to the back of the queue
            # until a hop brings nothing new.
            self._seen = waiting
            gevent.get_hub().loop.run_callback(self._start_flush)
            return
        self._seen = self._hops = 0
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), self._max_batch):
            gevent.spawn(self._flush, pending[start : start + self._max_batch])

    def _flush(self, batch: list[tuple[str, AsyncResult]]) -> None:
        try:
            values = self._redis.mget([key for key, _ in batch])
        except BaseException as exc:  # noqa: BLE001 - every waiter hears about the failure
            for _, result in batch:
                result.set_exception(exc)
            return
        for (_, result), value in zip(batch, values, strict=False):
            result.set(value)
