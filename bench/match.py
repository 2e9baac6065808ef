"""match benchmark: matching 10,000 queued players, and concurrent duels through one broker.

    ./pants run bench/match.py -- --json [--players 10000] [--rounds 1] [--pairs 25,50,100,250,500]
                                         [--seconds 5] [--duel-rounds 1] [--only queue|duels] [--keep]

Starts the platform as processes (data tier, yellow, 1 broker, 1 sso, 1 match, brokerlist: the
`hn up` cluster); the load runs in separate child processes.

(a) Matching: a child fills the real queue (Redis through Twemproxy) with `players` players
    (ratings spread, waits past the tolerance ceiling) and times `Matchmaker.tick` until the queue
    is empty (`match_10k_s`); the host callback only counts, presence is all true. Baselines in
    the same run, the same commands (both drains' commands are counted and must agree) with
    redis-py against the same Twemproxy: `bare_redis_10k_s`, one round trip per command (the two
    reads, then a ZREM, HDEL and DEL per player), and `pipelined_10k_s`, the same in pipelines
    (the floor). The matchmaker pipelines its takes in batches (`match_10k_redis_round_trips`):
    `match_vs_pipelined` is matchmaking's own overhead over that floor. Contenders alternate over `rounds` rounds
    (medians; one by default, since a drain is 30,000 round trips: tens of seconds on a busy
    machine). `pair_*_ms`: `pair()` alone, CPU only, on shuffled input; `pair_100k_vs_10k` beside
    `sort_100k_vs_10k` (the sort it starts with, alone) shows it scales as its sort, O(n log n).
(b) Duels: a load child logs 2 x max(pairs) guests in through the broker. For each N in `pairs`,
    2N of them duel in a loop for `seconds` (queue, ready, signal after 50-150 ms, shoot, result;
    starts spread over the first second) and the round trips of `match.duel_ready` and
    `match.duel_shoot` sent within that window are timed (`duel_p99_ms`).
    Baseline in the same run: the same 2N clients call `match.status`, a plain session call
    through the same broker, at the same message rate (`status_p99_ms`). Also per level: duels/s,
    queue wait (`found_p50_ms`), and the CPU the match and broker processes used (from /proc:
    what other tenants of the machine do not skew). `concurrent_duels_p99_under_50ms` is the
    largest N whose duel p99 stayed under 50 ms without errors.
Figures swing about 2x between runs on a shared 2-core machine; compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from _harness import cpu_seconds, percentile, report, run_json

P99_TARGET_MS = 50.0
#: a mode the cluster's match instance does not run, so its matchmaker leaves this queue alone
QUEUE_MODE = "bench"
FIRST_ID = 900_000_000
PIPELINE_BATCH = 500


_T0 = time.monotonic()


def _note(what: str) -> None:
    print(f"[{time.monotonic() - _T0:6.1f}s] {what}", file=sys.stderr, flush=True)


def _quiet_logs() -> None:
    # The JSON result is the last line of stdout: library logs go to stderr.
    from hn_runtime import configure_logging

    configure_logging(service="bench", instance="match", level="warning", stream=sys.stderr)


# -- (a) matching a full queue (child process) ----------------------------------------------


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
    from hn_match._queue import MatchQueue

    queue, since = MatchQueue._keys(QUEUE_MODE)
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

    from hn_match._matchmaker import Matchmaker
    from hn_match._queue import MatchQueue

    counting = _Counting(redis)
    queue_key, _ = MatchQueue._keys(QUEUE_MODE)
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
    from hn_match._queue import MatchQueue

    counting = _Counting(redis)
    queue, since = MatchQueue._keys(QUEUE_MODE)
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
    from hn_match._queue import MatchQueue

    queue, since = MatchQueue._keys(QUEUE_MODE)
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


def _scaling(rng: random.Random) -> dict[str, Any]:
    """pair() on 10k and 100k players, and the sort it starts with alone (the floor)."""
    import gc

    from hn_match._pairing import Waiting, pair

    now_ms = 10**12
    inputs = {}
    for players in (10_000, 100_000):
        waiting = [Waiting(k, rng.randint(0, 3000), now_ms - rng.randint(0, 120_000)) for k in range(players)]
        # ZRANGE hands pair() its input sorted (Timsort is then linear): shuffled is the worst case.
        rng.shuffle(waiting)
        inputs[players] = waiting

    def sort(waiting: list[Any]) -> Any:
        return sorted(waiting, key=lambda w: (w.rating, w.since_ms, w.account_id))

    def pair_(waiting: list[Any]) -> Any:
        return pair(waiting, now_ms)

    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(5):
        for players, waiting in inputs.items():
            for name, fn in (("pair", pair_), ("sort", sort)):
                gc.collect()  # a collection left over from building the input is not pair()'s
                started = time.perf_counter()
                fn(waiting)
                times.setdefault((name, players), []).append(time.perf_counter() - started)
    ms = {key: statistics.median(values) * 1000 for key, values in times.items()}
    return {
        "pair_10k_ms": round(ms["pair", 10_000], 2),
        "pair_100k_ms": round(ms["pair", 100_000], 2),
        "pair_100k_vs_10k": round(ms["pair", 100_000] / ms["pair", 10_000], 1),
        "sort_100k_vs_10k": round(ms["sort", 100_000] / ms["sort", 10_000], 1),
    }


def queue_worker(redis_url: str, players: int, rounds: int) -> dict[str, Any]:
    from gevent import monkey

    monkey.patch_all()
    _quiet_logs()
    from hn_datatier import redis_from_url

    rng = random.Random(6)
    result = _scaling(rng)
    _note(f"pair(): {result}")
    redis = redis_from_url(redis_url, socket_timeout=30, socket_connect_timeout=5)
    runs: dict[str, list[float]] = {"match": [], "bare": [], "pipelined": []}
    made = set()
    for round_ in range(rounds):
        seed = rng.random()
        # Every contender drains a queue filled alike, in an order that flips every round.
        for contender in list(runs) if round_ % 2 == 0 else list(runs)[::-1]:
            _fill(redis, players, random.Random(seed))
            if contender == "match":
                drained = _drain_matchmaker(redis)
                runs["match"].append(drained["s"])
                calls = drained["calls"]
                made.add((drained["pairs"], drained["ticks"], drained["round_trips"]))
            elif contender == "bare":
                runs["bare"].append(_drain_bare(redis, _expected_calls(players))["s"])
            else:
                runs["pipelined"].append(_drain_pipelined(redis))
        _note(f"drain {players}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in runs.items()))
    if calls != _expected_calls(players):
        raise SystemExit(f"the matchmaker issued {dict(calls)}, the baseline {dict(_expected_calls(players))}")
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
    result["redis_round_trip_us"] = round(result["bare_redis_10k_s"] / sum(_expected_calls(players).values()) * 1e6)
    if players != 10_000:
        result["queue_players"] = players
    return result


# -- (b) concurrent duels through the broker (child process) --------------------------------


class _CpuMeter:
    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.started = time.monotonic()
        self.before = {name: cpu_seconds(pid) for name, pid in pids.items()}

    def percent(self) -> dict[str, float]:
        """Each process's CPU use since the start, in % of one core."""
        elapsed = time.monotonic() - self.started
        return {name: (cpu_seconds(pid) - self.before[name]) / elapsed * 100 for name, pid in self.pids.items()}


def _leave_if_matched(client: Any) -> None:
    """A player who cancelled just as the matchmaker took them has a room waiting for their
    ready: leave it, or their partner waits out the ready timeout and the next phase finds them
    still in a duel."""
    from hn_idl.match.ttypes import QueueState

    try:
        status = client.call("match.status")
        if status.state == QueueState.IN_DUEL:
            client.call("match.duel_leave", match_id=status.match_id)
    except Exception:  # noqa: BLE001 - the room times out anyway
        pass


def _duel_phase(duelists: list[Any], seconds: float, pids: dict[str, int]) -> dict[str, Any]:
    import gevent

    latency: dict[str, list[float]] = {}
    found: list[float] = []
    tally: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for duelist in duelists:
        while not duelist.events.empty():  # pushes of a duel of the previous phase
            duelist.events.get_nowait()

    ends = time.monotonic() + seconds

    def timed(type_: str, call: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        counted = time.monotonic() < ends
        try:
            return call()
        finally:
            # Only calls made within the window: when it closes, every queued player cancels at
            # once, a herd no game sees, and the duels still running would pay for it.
            if counted:
                latency.setdefault(type_, []).append((time.perf_counter() - started) * 1000)

    def over() -> bool:
        return time.monotonic() >= ends

    def play(duelist: Any) -> None:
        # Players arrive over the first moments, not in one herd a real game never sends.
        gevent.sleep(random.uniform(0, min(1.0, seconds / 4)))
        while not over():
            try:
                outcome = duelist.duel(timed=timed, stop=over, timeout=60)
            except Exception as exc:  # noqa: BLE001 - a failed duel is a figure
                errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
                gevent.sleep(0.5)
                continue
            if outcome is None:
                _leave_if_matched(duelist.client)
                return
            tally["aborted" if outcome.result is None else "duels"] += 1
            found.append(outcome.waited_s * 1000)

    cpu = _CpuMeter(pids)
    gevent.joinall([gevent.spawn(play, d) for d in duelists], timeout=seconds + 90, raise_error=True)
    used = cpu.percent()
    elapsed = time.monotonic() - cpu.started
    duel = latency.get("match.duel_ready", []) + latency.get("match.duel_shoot", [])
    enqueue = latency.get("match.enqueue", [])
    return {
        # Both players count a duel: halve it.
        "duels": tally["duels"] // 2,
        "aborted": tally["aborted"] // 2,
        "errors": dict(errors),
        "duel_msgs": len(duel),
        "duel_p50_ms": percentile(duel, 0.5),
        "duel_p99_ms": percentile(duel, 0.99),
        "ready_p99_ms": percentile(latency.get("match.duel_ready", []), 0.99),
        "shoot_p99_ms": percentile(latency.get("match.duel_shoot", []), 0.99),
        "enqueue_p50_ms": percentile(enqueue, 0.5),
        "enqueue_p99_ms": percentile(enqueue, 0.99),
        "found_p50_ms": percentile(found, 0.5),
        "calls_per_s": sum(len(v) for v in latency.values()) / seconds,
        "elapsed_s": elapsed,
        "match_cpu_pct": used["match"],
        "broker_cpu_pct": used["broker"],
        "match_cpu_ms_per_duel": used["match"] * 10 * elapsed / max(1, tally["duels"] // 2),
    }


def _status_phase(clients: list[Any], seconds: float, calls_per_s: float, pids: dict[str, int]) -> dict[str, Any]:
    import gevent

    latency: list[float] = []
    errors: Counter[str] = Counter()
    per_client = max(calls_per_s / len(clients), 0.01)
    ends = time.monotonic() + seconds

    def loop(client: Any) -> None:
        gevent.sleep(random.uniform(0, 1 / per_client))  # spread, not a thundering herd
        while time.monotonic() < ends:
            started = time.perf_counter()
            try:
                client.call("match.status")
            except Exception as exc:  # noqa: BLE001 - counted
                errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
            took = time.perf_counter() - started
            latency.append(took * 1000)
            gevent.sleep(max(0.0, random.uniform(0.5, 1.5) / per_client - took))

    cpu = _CpuMeter(pids)
    gevent.joinall([gevent.spawn(loop, c) for c in clients], timeout=seconds + 60, raise_error=True)
    return {
        "status_p50_ms": percentile(latency, 0.5),
        "status_p99_ms": percentile(latency, 0.99),
        "status_calls_per_s": len(latency) / seconds,
        "status_errors": dict(errors),
        "status_match_cpu_pct": cpu.percent()["match"],
    }


def _summarize(pairs: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One level's figures: medians over its rounds, counts summed."""

    def median(key: str, digits: int = 1) -> float:
        return round(float(statistics.median(r[key] for r in runs)), digits)

    level: dict[str, Any] = {"pairs": pairs}
    for key in ("duel_p50_ms", "duel_p99_ms", "ready_p99_ms", "shoot_p99_ms", "status_p50_ms", "status_p99_ms"):
        level[key] = median(key)
    level["duel_vs_status_p99"] = round(level["duel_p99_ms"] / max(level["status_p99_ms"], 1e-3), 2)
    level["duels_per_s"] = round(sum(r["duels"] for r in runs) / sum(r["elapsed_s"] for r in runs), 1)
    level["duel_msgs"] = sum(r["duel_msgs"] for r in runs)
    for key in ("enqueue_p50_ms", "enqueue_p99_ms", "found_p50_ms", "match_cpu_ms_per_duel"):
        level[key] = median(key, 0)
    for key in ("match_cpu_pct", "broker_cpu_pct", "status_match_cpu_pct", "calls_per_s", "status_calls_per_s"):
        level[key] = median(key, 0)
    level["aborted"] = sum(r["aborted"] for r in runs)
    errors: Counter[str] = Counter()
    for r in runs:
        errors.update(r["errors"])
        errors.update(r["status_errors"])
    if errors:
        level["errors"] = dict(errors)
    return level


def duel_load(brokerlist: str, levels: list[int], seconds: float, rounds: int, pids: dict[str, int]) -> dict[str, Any]:
    from gevent import monkey

    monkey.patch_all()
    _quiet_logs()
    import gevent.pool
    from hn_client import Duelist, GameClient

    def login(k: int) -> Any:
        client = GameClient(brokerlist, timeout=30).connect()
        client.guest_login(f"bench-match-{os.getpid()}-{k}")
        return client

    started = time.monotonic()
    clients = list(gevent.pool.Pool(50).imap(login, range(2 * max(levels))))
    login_s = time.monotonic() - started
    _note(f"{len(clients)} guests logged in through the broker in {login_s:.1f} s")
    duelists = [Duelist(c) for c in clients]
    measured = []
    for pairs in levels:
        runs = []
        # Duels and their baseline take turns: a burst of noise hits both.
        for _ in range(rounds):
            run = _duel_phase(duelists[: 2 * pairs], seconds, pids)
            run.update(_status_phase(clients[: 2 * pairs], seconds, run["calls_per_s"], pids))
            runs.append(run)
            shown = {k: round(v, 1) if isinstance(v, float) else v for k, v in run.items() if "errors" not in k or v}
            _note(f"{pairs} pairs: {shown}")

        measured.append(_summarize(pairs, runs))
    for client in clients:
        client.close()
    under = [m["pairs"] for m in measured if m["duel_p99_ms"] < P99_TARGET_MS and "errors" not in m]
    return {
        "concurrent_duels_p99_under_50ms": max(under, default=0),
        "duel_levels": measured,
        "logins": len(clients),
        "login_s": round(login_s, 1),
    }


# -- orchestration --------------------------------------------------------------------------


def _child(args: list[str], timeout: float) -> dict[str, Any]:
    return run_json([__file__, *args], timeout)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("queue-worker", "duel-load"):
        if sys.argv[1] == "queue-worker":
            print(json.dumps(queue_worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
        else:
            print(json.dumps(duel_load(**json.loads(sys.argv[2]))))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    parser.add_argument("--players", type=int, default=10_000, help="(a) players queued")
    parser.add_argument("--rounds", type=int, default=1, help="(a) alternating rounds per contender (medians)")
    parser.add_argument("--pairs", default="25,50,100,250,500", help="(b) concurrent duel pairs, one level each")
    parser.add_argument("--seconds", type=float, default=5.0, help="(b) seconds of duelling per level and round")
    parser.add_argument("--duel-rounds", type=int, default=1, help="(b) alternating duel/status rounds per level")
    parser.add_argument("--only", choices=("queue", "duels"), help="run one half")
    parser.add_argument("--keep", action="store_true", help="keep the run directory (services' logs)")
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="extra environment for the services (what-ifs)"
    )
    args = parser.parse_args()
    if args.players % 2:
        parser.error("--players must be even (an odd one out waits for a partner forever)")

    from gevent import monkey

    monkey.patch_all()
    _quiet_logs()
    from hn_cli._cluster import Cluster, ClusterSpec

    started = time.monotonic()
    # PostgreSQL runs as "postgres" when this runs as root: the run directory must be traversable.
    scratch = tempfile.mkdtemp(prefix="hn-bench-match-")
    os.chmod(scratch, 0o755)
    spec = ClusterSpec(
        brokers=1,
        sso=1,
        match=1,
        run_dir=scratch,
        log_level="info",  # production's level: its cost is part of what a duel costs
        extra_env={
            "HN_MATCH_SIGNAL_DELAY_S": "0.05,0.15",
            # A player who cancels at the end of a phase just as they are matched leaves a room
            # waiting for their ready: shorter than production's 15 s, so phases end sooner.
            "HN_MATCH_READY_TIMEOUT_S": "5",
            "HN_DRAIN_SECONDS": "2",
            **dict(item.split("=", 1) for item in args.env),
        },
    )
    cluster = Cluster(spec)
    result: dict[str, Any] = {}
    try:
        cluster.start()
        cluster.wait_healthy()
        _note(f"platform up in {cluster.run_dir}")
        assert cluster.tier is not None
        if args.only in (None, "queue"):
            queue_args = ["queue-worker", cluster.tier.env["HN_REDIS_URL"], str(args.players), str(args.rounds)]
            result.update(_child(queue_args, timeout=600))
        if args.only in (None, "duels"):
            pids = {}
            for name in ("match", "broker"):
                process = cluster.process(f"{name}-1").process
                assert process is not None
                pids[name] = process.pid
            load = {
                "brokerlist": cluster.brokerlist_url,
                "levels": [int(n) for n in args.pairs.split(",")],
                "seconds": args.seconds,
                "rounds": args.duel_rounds,
                "pids": pids,
            }
            result.update(_child(["duel-load", json.dumps(load)], timeout=900))
    finally:
        cluster.stop()
        if args.keep:
            _note(f"logs kept in {cluster.run_dir}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    result["total_s"] = round(time.monotonic() - started, 1)
    report(result, args.json)


if __name__ == "__main__":
    main()
