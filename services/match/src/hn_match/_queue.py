"""The matchmaking queue, in Redis through Twemproxy, so any match instance can take it over.

    hn:match:{<mode>}:queue   sorted set: account id, scored by rating
    hn:match:{<mode>}:since   hash: account id -> when it joined (ms, wall clock)
    hn:match:player:<id>      the mode a player is queued in (status without knowing the mode)
    hn:match:room:<id>        "<instance> <match id>" of the player's duel while it lasts
    hn:match:rating:<id>      the player's rating as their last duel left it (PostgreSQL holds it;
                              this copy spares a query per enqueue, read with the player's keys)

Single-key commands, MGETs (Twemproxy splits them over the shards) and scripts whose keys share
one hash tag only (Twemproxy sends such a script to that tag's shard); a message's commands go
in one pipeline (one round trip) where none depends on another's reply. The `{mode}` hash tag
keeps a mode's two keys on one shard: `add` updates both in one script. A player leaves the
queue by exactly one ZREM: the matchmaker's take and a cancel race on it, and Redis says who
won.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from hn_match._pairing import Waiting

__all__ = ["MatchQueue"]

#: `clear_room`'s check and delete in one step: the key still names this duel
_CLEAR_ROOM = (
    "local v = redis.call('get', KEYS[1]) if v then local i = string.find(v, ' ', 1, true)"
    " if i and string.sub(v, i + 1) == ARGV[1] then return redis.call('del', KEYS[1]) end end return 0"
)
#: `add`'s queue work in one command: both keys carry the `{mode}` hash tag, so Twemproxy sends
#: the script to the shard holding both. KEYS: queue, since; ARGV: member, rating, now (ms), ttl.
#: Keeps an earlier place (NX on both), refreshes both TTLs; answers {joined ms, players queued}.
_ADD = (
    "redis.call('hsetnx', KEYS[2], ARGV[1], ARGV[3])"
    " redis.call('zadd', KEYS[1], 'NX', ARGV[2], ARGV[1])"
    " redis.call('expire', KEYS[1], ARGV[4]) redis.call('expire', KEYS[2], ARGV[4])"
    " return {redis.call('hget', KEYS[2], ARGV[1]), redis.call('zcard', KEYS[1])}"
)
#: how long a rating copy is trusted: a copy left stale by a failed write heals within this
RATING_COPY_TTL_S = 600


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _int(value: Any) -> int:
    return int(_text(value))


class MatchQueue:
    def __init__(self, redis: Any, *, ttl_s: int = 3600, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self._clock = clock
        #: a forgotten queue (every instance gone for an hour) expires rather than matching ghosts
        self.ttl_s = ttl_s

    @staticmethod
    def keys(mode: str) -> tuple[str, str]:
        """The Redis keys of a mode's queue: ratings (sorted set) and join times (hash)."""
        return f"hn:match:{{{mode}}}:queue", f"hn:match:{{{mode}}}:since"

    def now_ms(self) -> int:
        # Wall clock, not Redis' TIME (Twemproxy does not proxy keyless commands): instances'
        # clocks are NTP-close, and a second of skew only shifts the rating tolerance a little.
        return int(self._clock() * 1000)

    def add(self, mode: str, account_id: int, rating: int, since_ms: int | None = None) -> tuple[int, int]:
        """Queue the player (keeping an earlier place): (when they joined in ms, players queued)."""
        # One round trip: a pipeline, not a transaction (Twemproxy has no MULTI); the queue's
        # keys in one script (one shard), the player's mode beside it. A crash between the two
        # leaves a state `waiting` and `standing` already live with (queued, no mode key).
        pipe = self.redis.pipeline(transaction=False)
        self._queue_add(pipe, mode, account_id, rating, self.now_ms() if since_ms is None else since_ms)
        pipe.set(f"hn:match:player:{account_id}", mode, ex=self.ttl_s)
        (joined, queued), _ = pipe.execute()
        return _int(joined), int(queued)

    def _queue_add(self, pipe: Any, mode: str, account_id: int, rating: int, since_ms: int) -> None:
        queue, since = self.keys(mode)
        pipe.eval(_ADD, 2, queue, since, str(account_id), rating, since_ms, self.ttl_s)

    def remove(self, mode: str, account_id: int) -> bool:
        """Take the player off the queue; False if someone else already did."""
        queue, since = self.keys(mode)
        removed = bool(self.redis.zrem(queue, str(account_id)))
        if removed:
            self.redis.hdel(since, str(account_id))
            self.redis.delete(f"hn:match:player:{account_id}")
        return removed

    def take(self, mode: str, a: Waiting, b: Waiting) -> bool:
        """Take both players of a pair, or neither (one who left meanwhile is put back)."""
        return bool(self.take_pairs(mode, [(a, b)]))

    def take_pairs(self, mode: str, pairs: list[tuple[Waiting, Waiting]]) -> list[tuple[Waiting, Waiting]]:
        """Take every pair whose two players are both still queued, in three round trips.

        Each ZREM still decides alone (a racing cancel wins or loses cleanly); a pair half taken
        puts its remaining player back with their wait.
        """
        if not pairs:
            return []
        queue, since = self.keys(mode)
        pipe = self.redis.pipeline(transaction=False)
        for a, b in pairs:
            pipe.zrem(queue, str(a.account_id))
            pipe.zrem(queue, str(b.account_id))
        removed = pipe.execute()
        taken: list[tuple[Waiting, Waiting]] = []
        pipe = self.redis.pipeline(transaction=False)
        for i, (a, b) in enumerate(pairs):
            got_a, got_b = bool(removed[2 * i]), bool(removed[2 * i + 1])
            if got_a and got_b:
                taken.append((a, b))
                for player in (a, b):
                    pipe.hdel(since, str(player.account_id))
                    pipe.delete(f"hn:match:player:{player.account_id}")
            elif got_a or got_b:
                back = a if got_a else b
                pipe.zadd(queue, {str(back.account_id): back.rating}, nx=True)
        pipe.execute()
        return taken

    def whereabouts(self, account_id: int) -> tuple[tuple[str, str] | None, str | None]:
        """((instance, match id) of the player's duel, or None; the mode they are queued in, or None)."""
        where, mode, _ = self.standing(account_id)
        return where, mode

    def standing(self, account_id: int) -> tuple[tuple[str, str] | None, str | None, int | None]:
        """`whereabouts`, and the player's rating copy (None: no copy), in one round trip."""
        # One MGET, not three GETs: Twemproxy splits it over the shards; redis-py packs and parses
        # one command instead of three.
        return self._standing(self.redis.mget(self._player_keys(account_id)))

    @staticmethod
    def _player_keys(account_id: int) -> list[str]:
        return [f"hn:match:room:{account_id}", f"hn:match:player:{account_id}", f"hn:match:rating:{account_id}"]

    def _standing(self, reply: Any) -> tuple[tuple[str, str] | None, str | None, int | None]:
        room, mode, rating = reply
        return self._where(room), None if mode is None else _text(mode), None if rating is None else _int(rating)

    def status(
        self, account_id: int, likely_mode: str
    ) -> tuple[tuple[str, str] | None, str | None, int | None, tuple[int | None, int]]:
        """`standing` and `position` in `likely_mode`, in one round trip (for the mode the player
        is queued in, when it is another, `position` must be asked again)."""
        queue, since = self.keys(likely_mode)
        member = str(account_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.mget(self._player_keys(account_id))
        pipe.hget(since, member)
        pipe.zscore(queue, member)
        pipe.zcard(queue)
        standing, joined, score, queued = pipe.execute()
        where, mode, rating = self._standing(standing)
        return where, mode, rating, self._position(joined, score, queued)

    @staticmethod
    def _position(joined: Any, score: Any, queued: Any) -> tuple[int | None, int]:
        return (None if joined is None or score is None else _int(joined)), int(queued)

    @staticmethod
    def _where(room: Any) -> tuple[str, str] | None:
        where = None
        if room is not None:
            instance, _, match_id = _text(room).partition(" ")
            where = (instance, match_id)
        return where

    def keep_rating(self, account_id: int, rating: int) -> None:
        """Copy a rating read from PostgreSQL, unless a newer one was copied meanwhile (NX: the
        duel that moved it writes its copy unconditionally)."""
        self.redis.set(f"hn:match:rating:{account_id}", rating, ex=RATING_COPY_TTL_S, nx=True)

    @staticmethod
    def queue_ratings(pipe: Any, ratings: dict[int, int]) -> None:
        """On the caller's pipeline: copy ratings a duel just stored."""
        for account_id, rating in ratings.items():
            pipe.set(f"hn:match:rating:{account_id}", rating, ex=RATING_COPY_TTL_S)

    def position(self, mode: str, account_id: int) -> tuple[int | None, int]:
        """(ms the player joined, or None if not queued; players queued in `mode`)."""
        queue, since = self.keys(mode)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(since, str(account_id))
        pipe.zscore(queue, str(account_id))
        pipe.zcard(queue)
        return self._position(*pipe.execute())

    def waiting(self, mode: str) -> list[Waiting]:
        """Everyone queued in `mode` (two reads in one round trip; a player between them is seen
        next tick)."""
        queue, since = self.keys(mode)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrange(queue, 0, -1, withscores=True)
        pipe.hgetall(since)
        ratings, joined_at = pipe.execute()
        joined = {_int(k): _int(v) for k, v in joined_at.items()}
        now = None
        result = []
        for member, score in ratings:
            account_id = _int(member)
            if account_id not in joined:
                now = self.now_ms() if now is None else now
                joined[account_id] = now  # a crash between HSETNX and ZADD: the wait starts now
                self.redis.hsetnx(since, str(account_id), now)
            result.append(Waiting(account_id, int(score), joined[account_id]))
        return result

    # -- players in a duel (so they cannot queue twice) ------------------------------------

    def set_room(self, account_id: int, instance_id: str, match_id: str, ttl_s: int) -> None:
        self.queue_set_room(self.redis, account_id, instance_id, match_id, ttl_s)

    @staticmethod
    def queue_set_room(pipe: Any, account_id: int, instance_id: str, match_id: str, ttl_s: int) -> None:
        """`set_room` on the caller's pipeline (or client)."""
        pipe.set(f"hn:match:room:{account_id}", f"{instance_id} {match_id}", ex=ttl_s)

    def clear_room(self, account_id: int, match_id: str) -> None:
        """Free the player of the duel `match_id` (not of a newer one)."""
        self.queue_clear_room(self.redis, account_id, match_id)

    @staticmethod
    def queue_clear_room(pipe: Any, account_id: int, match_id: str) -> None:
        """`clear_room` on the caller's pipeline (or client): one script, check and delete."""
        pipe.eval(_CLEAR_ROOM, 1, f"hn:match:room:{account_id}", match_id)
