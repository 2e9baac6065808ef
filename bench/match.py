"""match benchmark: matching 10,000 queued players, and pairing's scaling.

    ./pants run bench/match.py -- --json [--players 10000] [--rounds 1] [--readme README.md]

Starts the data tier's Redis (shards, Sentinel, Twemproxy: what the matchmaker's queue lives in).
Every contender runs in a child process of its own.

Each drain child fills the real queue (Redis through Twemproxy) with `players` players (ratings
spread, waits past the tolerance ceiling), then drains it (`drain` role): `match` times
`Matchmaker.tick` until the queue is empty (`match_10k_s`; the host callback only counts, presence
is all true). Baselines, the same commands (both drains' commands are counted and must agree)
with redis-py against the same Twemproxy: `bare_redis_10k_s`, one round trip per command (the two
reads, then a ZREM, HDEL and DEL per player), and `pipelined_10k_s`, the same in pipelines (the
floor). The matchmaker pipelines its takes in batches (`match_10k_redis_round_trips`):
`match_vs_pipelined` is matchmaking's own overhead over that floor. Contenders alternate over
`rounds` rounds (medians; one by default).

Scaling (`scaling` role, one child per function): `pair()` alone, its CPU time (the least of five
runs), on shuffled queues of five sizes from 12,500 to 200,000 players, and the sort it starts
with alone; `*_loglog_slope` is
the least-squares slope of log(time) over log(size) (1 linear, 2 quadratic, n log n about 1.1 over
this range): a complexity is claimed only from that fit.

Concurrent duels through a broker are duels.py's.
Figures swing about 2x between runs on a shared 2-core machine; compare the ratios within one run.
"""

from __future__ import annotations

import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from _harness import arguments, note, quiet_logs, readme_argument, report, run_json, run_role, write_table

#: a mode no match instance runs, so no matchmaker but this benchmark's touches this queue
QUEUE_MODE = "bench"
FIRST_ID = 900_000_000
PIPELINE_BATCH = 500


# -- matching a full queue (child process) --------------------------------------------------


class _Counting:
    """A redis-py client that counts the commands it is asked for, and the round trips they
    took (one per command, or one per pipeline)."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self.calls: Counter[str] = Counter()
        self.round_trips = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.redis, name)
        if not callable(attr):
            return attr
        if name == "pipeline":
            return lambda *args, **kwargs: _CountingPipeline(self, attr(*args, **kwargs))

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            self.round_trips += 1
            return attr(*args, **kwargs)

        return counted


class _CountingPipeline:
    def __init__(self, owner: _Counting, pipe: Any) -> None:
        self.owner = owner
        self.pipe = pipe

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.pipe, name)
        if name == "execute":
            self.owner.round_trips += 1
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.owner.calls[name] += 1
            return attr(*args, **kwargs)

        return counted


def _fill(redis: Any, players: int, rng: random.Random) -> None:
    from hn_match import MatchQueue

    queue, since = MatchQueue.keys(QUEUE_MODE)
    redis.delete(queue)
    redis.delete(since)
    now_ms = int(time.time() * 1000)
    commands: list[tuple[str, tuple[Any, ...]]] = []
    ids = list(range(FIRST_ID, FIRST_ID + players))
    for start in range(0, players, PIPELINE_BATCH):
        chunk = ids[start : start + PIPELINE_BATCH]
        # Neighbours in rating order are within the widest tolerance of each other, so an even
        # queue empties in one tick: the time is the drain's, not waiting for tolerances to widen.
        commands.append(("zadd", (queue, {str(k): rng.randint(800, 2400) for k in chunk})))
        commands.append(("hset", (since, None, None, {str(k): now_ms - rng.randint(30_000, 120_000) for k in chunk})))
        commands.extend(("set", (f"hn:match:player:{k}", QUEUE_MODE, 3600)) for k in chunk)
    commands += [("expire", (queue, 3600)), ("expire", (since, 3600))]
    _pipelined(redis, commands)
    if redis.zcard(queue) != players:
        raise SystemExit("the queue was not filled")


def _drain_matchmaker(redis: Any) -> dict[str, Any]:
    import gevent

    from hn_match import Matchmaker, MatchQueue

    counting = _Counting(redis)
    queue_key, _ = MatchQueue.keys(QUEUE_MODE)
    hosted = [0]

    def host(mode: str, a: Any, b: Any) -> bool:
        hosted[0] += 1
        return True

    matchmaker = Matchmaker(MatchQueue(counting), {}, host=host, present=lambda ids: [True] * len(ids))
    started = time.perf_counter()
    ticks = pairs = 0
    while True:
        pairs += matchmaker.tick(QUEUE_MODE)
        ticks += 1
        if counting.zcard(queue_key) == 0:
            break
        if ticks > 50:
            raise SystemExit("the matchmaker did not drain the queue in 50 ticks")
    while hosted[0] < pairs:  # the hand-offs are greenlets: the drain ends when all ran
        gevent.sleep(0)
    elapsed = time.perf_counter() - started
    return {"s": elapsed, "pairs": pairs, "ticks": ticks, "calls": counting.calls, "round_trips": counting.round_trips}


def _drain_bare(redis: Any, calls: Counter[str]) -> dict[str, Any]:
    """The same commands as the matchmaker's drain, straight from redis-py, one round trip each."""
    from hn_match import MatchQueue

    counting = _Counting(redis)
    queue, since = MatchQueue.keys(QUEUE_MODE)
    started = time.perf_counter()
    while True:
        members = counting.zrange(queue, 0, -1, withscores=True)
        counting.hgetall(since)
        for member, _ in members:
            counting.zrem(queue, member)
            counting.hdel(since, member)
            counting.delete(f"hn:match:player:{member.decode()}")
        if counting.zcard(queue) == 0:
            break
    elapsed = time.perf_counter() - started
    if counting.calls != calls:
        raise SystemExit(f"the baseline issued {dict(counting.calls)}, not {dict(calls)}")
    return {"s": elapsed}


def _expected_calls(players: int) -> Counter[str]:
    """What draining an evenly paired queue takes: one read of each key, then per player a ZREM,
    an HDEL and a DEL (MatchQueue.remove), and the emptiness check. Both drains must match it."""
    return Counter(zrange=1, hgetall=1, zrem=players, hdel=players, delete=players, zcard=1)


def _pipelined(redis: Any, commands: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
    # Batches: Twemproxy times out a request still queued behind thousands of others.
    replies: list[Any] = []
    for start in range(0, len(commands), PIPELINE_BATCH):
        pipe = redis.pipeline(transaction=False)
        for name, args in commands[start : start + PIPELINE_BATCH]:
            getattr(pipe, name)(*args)
        replies.extend(pipe.execute())
    return replies


def _drain_pipelined(redis: Any) -> float:
    """The same commands pipelined: the reads, the ZREMs, then HDEL/DEL of those removed."""
    from hn_match import MatchQueue

    queue, since = MatchQueue.keys(QUEUE_MODE)
    started = time.perf_counter()
    members = [m for m, _ in redis.zrange(queue, 0, -1, withscores=True)]
    redis.hgetall(since)
    removed = _pipelined(redis, [("zrem", (queue, m)) for m in members])
    won = [m for m, ok in zip(members, removed, strict=True) if ok]
    _pipelined(
        redis, [("hdel", (since, m)) for m in won] + [("delete", (f"hn:match:player:{m.decode()}",)) for m in won]
    )
    if redis.zcard(queue) != 0:
        raise SystemExit("the pipelined drain left players queued")
    return time.perf_counter() - started


#: queue sizes pair()'s scaling is fitted over (a 16x range, five points)
SCALING_SIZES = (12_500, 25_000, 50_000, 100_000, 200_000)


def scaling(name: str) -> dict[str, Any]:
    """`pair()` (or the sort it starts with, the floor) on shuffled queues of SCALING_SIZES
    players: the least CPU time (this process's, so other tenants of a busy machine barely
    count) of five runs per size."""
    import gc

    from hn_match import Waiting, pair

    rng = random.Random(6)
    now_ms = 10**12

    def sort(waiting: list[Any]) -> Any:
        return sorted(waiting, key=lambda w: (w.rating, w.since_ms, w.account_id))

    fn = sort if name == "sort" else (lambda waiting: pair(waiting, now_ms))
    ms = {}
    for players in SCALING_SIZES:
        waiting = [Waiting(k, rng.randint(0, 3000), now_ms - rng.randint(0, 120_000)) for k in range(players)]
        # ZRANGE hands pair() its input sorted (Timsort is then linear): shuffled is the worst case.
        rng.shuffle(waiting)
        times = []
        for _ in range(5):
            gc.collect()  # a collection left over from building the input is not pair()'s
            started = time.process_time()
            fn(waiting)
            times.append(time.process_time() - started)
        ms[str(players)] = min(times) * 1000
    return ms


def loglog_slope(points: dict[int, float]) -> float:
    """The least-squares slope of log(time) against log(size): 1 is linear, 2 quadratic;
    n log n over a 16x range reads about 1.1."""
    import math

    xs = [math.log(n) for n in points]
    ys = [math.log(t) for t in points.values()]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def drain(contender: str, redis_url: str, players: int, seed: float) -> dict[str, Any]:
    """Fill the queue alike, then drain it as `contender` (match, bare, pipelined): seconds."""
    from gevent import monkey

    monkey.patch_all()
    quiet_logs("match")
    from hn_datatier import redis_from_url

    redis = redis_from_url(redis_url, socket_timeout=30, socket_connect_timeout=5)
    _fill(redis, players, random.Random(seed))
    if contender == "match":
        drained = _drain_matchmaker(redis)
        if drained["calls"] != _expected_calls(players):
            raise SystemExit(f"the matchmaker issued {dict(drained['calls'])}, not {dict(_expected_calls(players))}")
        return {
            "s": drained["s"],
            "pairs": drained["pairs"],
            "ticks": drained["ticks"],
            "round_trips": drained["round_trips"],
        }
    if contender == "bare":
        return _drain_bare(redis, _expected_calls(players))
    return {"s": _drain_pipelined(redis)}


#: what this file runs as in a child process (`_harness.run_role`)
ROLES: dict[str, Callable[..., Any]] = {
    "drain": lambda contender, url, players, seed: drain(contender, url, int(players), float(seed)),
    "scaling": scaling,
}


# -- orchestration --------------------------------------------------------------------------


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--players", type=int, default=10_000, help="players queued")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds per contender (medians)")
    readme_argument(parser)
    args = parser.parse_args()
    if args.players % 2:
        parser.error("--players must be even (an odd one out waits for a partner forever)")

    from hn_datatier.local import DataTier, DataTierConfig

    started = time.monotonic()
    result: dict[str, Any] = {}
    fits = {}
    for name in ("pair", "sort"):
        points = {int(n): ms for n, ms in run_json([__file__, "scaling", name], timeout=600).items()}
        fits[name] = points
        result[f"{name}_ms"] = {n: round(ms, 1) for n, ms in points.items()}
        result[f"{name}_loglog_slope"] = round(loglog_slope(points), 2)
    note(f"scaling: {result}")
    rng = random.Random(6)
    runs: dict[str, list[float]] = {"match": [], "bare": [], "pipelined": []}
    made = set()
    with DataTier(DataTierConfig(postgres=False)) as tier:
        note("data tier up")
        url = tier.env["HN_REDIS_URL"]
        for round_ in range(args.rounds):
            seed = rng.random()
            # Every contender, each in a process of its own, drains a queue filled alike, in an
            # order that flips every round.
            for contender in list(runs) if round_ % 2 == 0 else list(runs)[::-1]:
                drained = run_json([__file__, "drain", contender, url, str(args.players), str(seed)], timeout=600)
                runs[contender].append(drained["s"])
                if contender == "match":
                    made.add((drained["pairs"], drained["ticks"], drained["round_trips"]))
            note(f"drain {args.players}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in runs.items()))
    pairs, ticks, round_trips = sorted(made)[0]
    result.update(
        match_10k_s=round(statistics.median(runs["match"]), 3),
        match_10k_pairs=pairs,
        match_10k_ticks=ticks,
        match_10k_redis_round_trips=round_trips,
        bare_redis_10k_s=round(statistics.median(runs["bare"]), 3),
        pipelined_10k_s=round(statistics.median(runs["pipelined"]), 3),
    )
    result["match_vs_bare_redis"] = round(result["match_10k_s"] / result["bare_redis_10k_s"], 2)
    result["match_vs_pipelined"] = round(result["match_10k_s"] / result["pipelined_10k_s"], 1)
    result["redis_round_trip_us"] = round(
        result["bare_redis_10k_s"] / sum(_expected_calls(args.players).values()) * 1e6
    )
    if args.players != 10_000:
        result["queue_players"] = args.players
    result["total_s"] = round(time.monotonic() - started, 1)
    report(result, args.json)
    sizes = f"{SCALING_SIZES[0]:,} to {SCALING_SIZES[-1]:,}"
    write_table(
        args.readme,
        "match",
        [
            ("figure", "measured"),
            (
                f"matching {args.players:,} queued players (Redis through Twemproxy), each contender in its own process",
                f"**{result['match_10k_s']} s**, {round_trips} Redis round trips: {result['match_vs_bare_redis']}x the "
                f"same commands one round trip each ({result['bare_redis_10k_s']} s), "
                f"{result['match_vs_pipelined']}x them pipelined ({result['pipelined_10k_s']} s)",
            ),
            (
                f"`pair()` on {len(SCALING_SIZES)} queue sizes, {sizes} players: log-log slope (1 linear, 2 quadratic)",
                f"**{result['pair_loglog_slope']}** ({result['pair_ms'][SCALING_SIZES[0]]} → "
                f"{result['pair_ms'][SCALING_SIZES[-1]]} ms); the sort it starts with alone: "
                f"{result['sort_loglog_slope']}",
            ),
        ],
        _scaling_verdict(result["pair_loglog_slope"], result["sort_loglog_slope"]),
    )


def _scaling_verdict(pair_slope: float, sort_slope: float) -> str:
    """What the fit supports, and no more."""
    like_sort = abs(pair_slope - sort_slope) <= 0.25 * sort_slope
    verdict = (
        f"pair() scales as the sort it starts with (slopes {pair_slope} and {sort_slope})"
        if like_sort
        else f"pair()'s slope ({pair_slope}) departs from its sort's ({sort_slope})"
    )
    if max(pair_slope, sort_slope) <= 1.25:
        return verdict + ": the fit is consistent with n log n (about 1.1 over this range)."
    return (
        verdict + ": steeper than n log n (about 1.1 over this range) in this run, so no complexity is claimed; "
        "sorting Python objects slows as the working set outgrows the CPU caches, and a busy machine adds noise."
    )


if __name__ == "__main__":
    if not run_role(ROLES):
        main()
