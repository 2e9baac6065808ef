"""The matchmaker: for each mode, the one instance holding that mode's lease pairs its queue.

Each tick reads a mode's queue (O(n)), pairs it (O(n log n), `_pairing`), takes each pair off
the queue (two ZREMs: a cancel racing the take wins or loses cleanly) and hands it to `host`,
which opens a room on some instance. A pair whose room cannot be opened goes back to the queue
with its original wait. Players whose connection is gone (no broker holds their session) are
dropped from the queue, checked for every pair before it is taken and for the whole queue every
`sweep_every_s`; one found without a connection is dropped only once it has stayed so for
`absent_grace_s` (until then it is left out of pairs): a client whose broker drained or died is
between brokers for a moment, and resumes on another with its place in the queue.

`stop` hands matchmaking over at once: it releases the leases, so a live instance's matchmaker
takes them at its next tick instead of at their expiry, and lets the tick in progress and the
rooms it is opening finish (their players are off the queue until a room opens or they go back).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import gevent
import gevent.event
import gevent.pool
from prometheus_client import Counter, Gauge, Histogram
from redis.exceptions import RedisError

from hn_match._lease import Lease
from hn_match._pairing import DEFAULT_TOLERANCE, Tolerance, Waiting, pair
from hn_match._queue import MatchQueue
from hn_runtime import get_logger
from hn_runtime.logs import LogThrottle

__all__ = ["Matchmaker"]

_log = get_logger("hn.match.matchmaker")
QUEUED = Gauge("hn_match_queued", "Players waiting in the queue (set by the matchmaking instance).", ["mode"])
PAIRED = Counter("hn_match_pairs_total", "Pairs taken off the queue, by what became of them.", ["mode", "outcome"])
DROPPED = Counter("hn_match_queue_dropped_total", "Players removed from the queue by the matchmaker.", ["reason"])
TICKS = Histogram(
    "hn_match_tick_seconds", "Time of one matchmaking tick over a mode's queue.", buckets=(0.001, 0.005, 0.02, 0.1, 0.5)
)
FAILURES = Counter("hn_match_tick_failures_total", "Matchmaking ticks that failed on Redis.")

#: (mode, a, b) -> True when a room was opened for them
Host = Callable[[str, Waiting, Waiting], bool]
#: account ids -> whether each still has a connection (a broker holds its session)
Presence = Callable[[Sequence[int]], list[bool]]


class Matchmaker:
    def __init__(
        self,
        queue: MatchQueue,
        leases: dict[str, Lease],
        *,
        host: Host,
        present: Presence,
        tolerance: Tolerance = DEFAULT_TOLERANCE,
        tick_s: float = 0.25,
        sweep_every_s: float = 2.0,
        absent_grace_s: float = 5.0,
        batch: int = 200,
        rooms_at_once: int = 32,
        spawn: Callable[..., Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queue = queue
        #: one per mode this instance runs: modes spread their matchmaking over the instances
        self.leases = leases
        self.host = host
        self.present = present
        self.tolerance = tolerance
        self.tick_s = tick_s
        self.sweep_every_s = sweep_every_s
        self.absent_grace_s = absent_grace_s
        self._clock = clock
        #: (mode, account id) -> when the player was first found without a connection
        self._absent: dict[tuple[str, int], float] = {}
        self.batch = batch
        # Rooms open through a bounded pool: a tick of thousands of pairs must not put thousands
        # of hand-offs (each several round trips) in front of the players' duel messages at once.
        self._hand_offs = gevent.pool.Pool(rooms_at_once)
        self._hand_off = spawn or self._hand_offs.spawn
        self._throttle = LogThrottle(burst=1, period=10.0)
        self._last_sweep = 0.0
        self._greenlet: gevent.Greenlet | None = None
        self._stopping = gevent.event.Event()
        self.leading: set[str] = set()

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._loop)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop matchmaking here, leases handed over at once; the tick in progress and the rooms
        it is opening get `timeout` seconds to finish."""
        deadline = time.monotonic() + timeout
        self._stopping.set()
        self._release()  # before the tick ends: taking pairs twice is safe (ZREM), waiting is not
        if self._greenlet is not None:
            self._greenlet.join(timeout)
            self._greenlet.kill()  # no-op once it ended
            self._greenlet = None
        self._hand_offs.join(timeout=max(0.0, deadline - time.monotonic()))
        self._release()  # in case the last tick renewed one meanwhile
        self.leading = set()

    def _release(self) -> None:
        for mode in list(self.leading):
            try:
                self.leases[mode].release()  # the next instance takes over now, not at expiry
            except RedisError:
                pass

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                sweep = time.monotonic() - self._last_sweep >= self.sweep_every_s
                if sweep:
                    self._last_sweep = time.monotonic()
                for mode, lease in self.leases.items():
                    if self._stopping.is_set():
                        break
                    leading = lease.hold()
                    if leading != (mode in self.leading):
                        _log.info("matchmaking here" if leading else "matchmaking elsewhere", mode=mode)
                        (self.leading.add if leading else self.leading.discard)(mode)
                    if leading and not self._stopping.is_set():
                        self.tick(mode, sweep=sweep)
            except RedisError as exc:
                FAILURES.inc()
                if self._throttle.allow("redis") is not None:
                    _log.error("matchmaking tick failed", dependency="redis", error=str(exc))
            self._stopping.wait(self.tick_s)

    def tick(self, mode: str, *, sweep: bool = False) -> int:
        """One pass over `mode`'s queue; returns how many pairs were handed to rooms."""
        started = time.perf_counter()
        waiting = self.queue.waiting(mode)
        if sweep and waiting:
            queued = {w.account_id for w in waiting}
            self._absent = {k: t for k, t in self._absent.items() if k[0] != mode or k[1] in queued}
            waiting = self._drop_absent(mode, waiting)
        elif self._absent:  # found without a connection lately: not paired before the next sweep
            waiting = [w for w in waiting if (mode, w.account_id) not in self._absent]
        QUEUED.labels(mode).set(len(waiting))
        pairs = pair(waiting, self.queue.now_ms(), self.tolerance)
        handed = 0
        for start in range(0, len(pairs), self.batch):
            batch = pairs[start : start + self.batch]
            here = self.present([p.account_id for ab in batch for p in ab])
            ready = []
            for i, (a, b) in enumerate(batch):
                if here[2 * i] and here[2 * i + 1]:
                    ready.append((a, b))
                else:
                    self._drop_absent(mode, [a, b], checked=[here[2 * i], here[2 * i + 1]])
            taken = self.queue.take_pairs(mode, ready)
            PAIRED.labels(mode, "raced").inc(len(ready) - len(taken))
            for a, b in taken:
                self._hand_off(self._open, mode, a, b)
            handed += len(taken)
            # A long queue takes many batches: keep the lease, or another instance starts a
            # second tick over the same players.
            lease = self.leases.get(mode)
            if start + self.batch < len(pairs) and lease is not None and (self._stopping.is_set() or not lease.hold()):
                break
        TICKS.observe(time.perf_counter() - started)
        return handed

    def _open(self, mode: str, a: Waiting, b: Waiting) -> None:
        if self.host(mode, a, b):
            PAIRED.labels(mode, "room").inc()
            return
        PAIRED.labels(mode, "requeued").inc()
        for player in (a, b):
            self.queue.add(mode, player.account_id, player.rating, player.since_ms)

    def _drop_absent(self, mode: str, waiting: list[Waiting], checked: list[bool] | None = None) -> list[Waiting]:
        """The players of `waiting` present; the absent ones are dropped once past their grace."""
        here = checked if checked is not None else self.present([w.account_id for w in waiting])
        kept = []
        now = self._clock()
        for player, present in zip(waiting, here, strict=False):
            key = (mode, player.account_id)
            if present:
                self._absent.pop(key, None)
                kept.append(player)
                continue
            if now - self._absent.setdefault(key, now) < self.absent_grace_s:
                continue  # perhaps resuming on another broker: not paired, not dropped yet
            del self._absent[key]
            if self.queue.remove(mode, player.account_id):
                DROPPED.labels("disconnected").inc()
                _log.info("dropped from the queue: disconnected", account_id=player.account_id, mode=mode)
        return kept
