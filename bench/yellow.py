"""Yellow benchmark: 1,000 instances heartbeating at 1 Hz from several processes, 10 subscribers.

    ./pants run bench/yellow.py -- --json [--instances 1000] [--beaters 4] [--subscribers 10]
                                          [--seconds 10] [--readme README.md]

One yellow server runs as its own process. `beaters` processes share the `instances` between
them; each instance beats once a second on its own schedule (spread over the second), through the
process's hn-runtime client, and every beat carries a changed load: every beat is a change
yellow publishes to every subscriber (the worst case; in production most beats are not news).
`subscribers` processes follow yellow's changes as every service does (`hn_runtime.subscribe`,
decoding each). Prints:
  cpu_at_1hz_pct            yellow's CPU (from /proc), % of one core, over the measured window
  beats_per_s               heartbeats yellow answered per second in that window (all beaters)
  beat_rate_ok              beats_per_s is at least 95% of `instances` (the load was offered)
  beat_p99_ms               a heartbeat's round trip, p99
  changes_per_s_per_sub     changes each subscriber received per second (the slowest one)
  subscribers_ok            every subscriber received at least 95% of the beats
  heartbeats_per_s          registrations+heartbeats/s one yellow sustains (100 in flight, one
                            client in this process: the ceiling, measured after the window)
  find_p99_us/snapshot_p99_us  `find(service)` / `snapshot()` latency with every instance known
Target: cpu_at_1hz_pct < 25 with 1,000 instances and 10 subscribers, at the offered rate.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from hn_stats import percentile

from _harness import (
    arguments,
    child_env,
    cpu_seconds,
    note,
    readme_argument,
    report,
    run_role,
    service,
    write_table,
)

CPU_TARGET_PCT = 25.0
#: beats (and changes) at least this share of the offered rate count as keeping up
KEEPING_UP = 0.95
#: seconds of beating before the window opens: every instance is registered by then
WARMUP_S = 3.0


def _info(n: int, beat: int) -> Any:
    from hn_idl.yellow.ttypes import InstanceInfo

    host = f"10.0.{n // 250}.{n % 250}"
    endpoints = {"rep": f"tcp://{host}:7000", "pub": f"tcp://{host}:7001", "metrics": f"{host}:9100"}
    # The load moves every beat: each beat is news, published to every subscriber.
    load = 0.1 + (beat % 3) / 10
    return InstanceInfo(f"svc{n % 10}", f"inst-{n}", endpoints, "1.0.0", load, "up", beat)


def beater(rep: str, first: str, count: str, total: str, start_at: str, seconds: str) -> dict[str, Any]:
    """Instances `first`..`first+count` of `total` beat at 1 Hz from WARMUP_S before `start_at`
    (wall clock) to `seconds` after it; the beats answered within the window, and their round trips."""
    from gevent import monkey

    monkey.patch_all()
    import gevent

    from hn_runtime import get_service

    yellow = get_service("yellow", endpoints=[rep], timeout=30)
    window = (float(start_at), float(start_at) + float(seconds))
    answered = [0]
    late = [0]
    latencies: list[float] = []

    def instance(n: int) -> None:
        # Each instance's beats fall at its own fraction of the second: the load is even.
        next_at = window[0] - WARMUP_S + n / int(total)
        beat = 0
        while next_at < window[1]:
            gevent.sleep(max(0.0, next_at - time.time()))
            beat += 1
            sent = time.time()
            yellow.heartbeat(_info(n, beat))
            if window[0] <= sent < window[1]:
                answered[0] += 1
                latencies.append((time.time() - sent) * 1000)
            if time.time() > next_at + 1.0:
                late[0] += 1  # a beat answered a whole interval late: the schedule slipped
            next_at += 1.0

    gevent.joinall([gevent.spawn(instance, n) for n in range(int(first), int(first) + int(count))], raise_error=True)
    return {"answered": answered[0], "late": late[0], "p99_ms": percentile(latencies, 0.99)}


def subscriber(pub: str, start_at: str, seconds: str) -> dict[str, Any]:
    """Follow yellow's changes like a service does; the changes received within the window."""
    from gevent import monkey

    monkey.patch_all()
    import gevent

    from hn_runtime import subscribe

    window = (float(start_at), float(start_at) + float(seconds))
    got = [0]

    def on_change(topic: str, event: Any) -> None:
        if window[0] <= time.time() < window[1] and hasattr(event, "instance"):
            got[0] += 1

    subscription = subscribe("yellow", "yellow", on_change, endpoints=[pub])
    gevent.sleep(max(0.0, window[1] + 0.5 - time.time()))
    subscription.close()
    return {"changes": got[0]}


#: what this file runs as in a child process (`_harness.run_role`)
ROLES: dict[str, Callable[..., Any]] = {"beater": beater, "subscriber": subscriber}


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, *args], env=child_env(), stdout=subprocess.PIPE, text=True)


def _result_of(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"a load process failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _ceiling(yellow: Any, instances: int, seconds: float) -> dict[str, Any]:
    """Heartbeats/s with 100 in flight from one client, then find/snapshot latency."""
    import gevent

    done = [0]
    stop_at = time.perf_counter() + seconds

    def hammer(k: int) -> None:
        n = k
        while time.perf_counter() < stop_at:
            yellow.heartbeat(_info(n % instances, 1_000_000 + done[0]))
            done[0] += 1
            n += 100

    started = time.perf_counter()
    gevent.joinall([gevent.spawn(hammer, k) for k in range(100)], raise_error=True)
    rate = done[0] / (time.perf_counter() - started)

    def latencies(call: Any, count: int) -> list[float]:
        out = []
        for _ in range(count):
            t = time.perf_counter()
            call()
            out.append((time.perf_counter() - t) * 1e6)
        return out

    find = latencies(lambda: yellow.find("svc3"), 300)
    snap = latencies(yellow.snapshot, 50)
    return {
        "heartbeats_per_s": round(rate),
        "find_p50_us": round(percentile(find, 0.5)),
        "find_p99_us": round(percentile(find, 0.99)),
        "snapshot_p50_us": round(percentile(snap, 0.5)),
        "snapshot_p99_us": round(percentile(snap, 0.99)),
    }


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--beaters", type=int, default=4, help="processes the instances beat from")
    parser.add_argument("--subscribers", type=int, default=10, help="processes following the changes")
    parser.add_argument("--seconds", type=float, default=10.0, help="the measured window")
    readme_argument(parser)
    args = parser.parse_args()

    from gevent import monkey

    monkey.patch_all()
    import gevent

    from hn_runtime import get_service

    with service("hn_yellow") as (pid, ready):
        rep, pub = ready["endpoints"]["rep"], ready["endpoints"]["pub"]
        # Children need a few seconds to start (imports): the window opens once they are all up.
        start_at = time.time() + 8.0 + WARMUP_S
        window = [str(start_at), str(args.seconds)]
        subs = [_spawn("subscriber", pub, *window) for _ in range(args.subscribers)]
        share = [args.instances // args.beaters + (k < args.instances % args.beaters) for k in range(args.beaters)]
        beaters = [
            _spawn("beater", rep, str(sum(share[:k])), str(share[k]), str(args.instances), *window)
            for k in range(args.beaters)
        ]
        gevent.sleep(max(0.0, start_at - time.time()))
        note("window open")
        cpu0, wall0 = cpu_seconds(pid), time.time()
        gevent.sleep(max(0.0, start_at + args.seconds - time.time()))
        cpu_pct = (cpu_seconds(pid) - cpu0) / (time.time() - wall0) * 100
        note(f"window closed: yellow {cpu_pct:.1f} % of a core")
        timeout = WARMUP_S + args.seconds + 120
        beats = [_result_of(p, timeout) for p in beaters]
        changes = [_result_of(p, timeout)["changes"] for p in subs]
        yellow = get_service("yellow", endpoints=[rep], timeout=30)
        ceiling = _ceiling(yellow, args.instances, 3.0)

    beats_per_s = sum(b["answered"] for b in beats) / args.seconds
    slowest_sub = min(changes, default=0) / args.seconds
    result: dict[str, Any] = {
        "instances": args.instances,
        "beaters": args.beaters,
        "subscribers": args.subscribers,
        "cpu_at_1hz_pct": round(cpu_pct, 1),
        "beats_per_s": round(beats_per_s),
        "beat_rate_ok": beats_per_s >= KEEPING_UP * args.instances,
        "beats_late": sum(b["late"] for b in beats),
        "beat_p99_ms": round(max(b["p99_ms"] for b in beats), 2),
        "changes_per_s_per_sub": round(slowest_sub),
        "subscribers_ok": slowest_sub >= KEEPING_UP * beats_per_s,
        **ceiling,
    }
    result["target_met"] = cpu_pct < CPU_TARGET_PCT and result["beat_rate_ok"] and result["subscribers_ok"]
    report(result, args.json)
    verdict = "met" if result["target_met"] else "missed"
    write_table(
        args.readme,
        "yellow",
        [
            ("figure", "measured"),
            (
                f"yellow CPU: {args.instances:,} instances at 1 Hz from {args.beaters} processes, every beat a "
                f"change, {args.subscribers} subscriber processes",
                f"**{result['cpu_at_1hz_pct']} %** of a core (target < {CPU_TARGET_PCT:.0f} %: {verdict})",
            ),
            (
                "beats answered / s (offered: one per instance per second); heartbeat p99",
                f"{result['beats_per_s']:,} ({'kept up' if result['beat_rate_ok'] else 'fell behind'}); "
                f"{result['beat_p99_ms']:.1f} ms",
            ),
            (
                "changes / s the slowest subscriber received",
                f"{result['changes_per_s_per_sub']:,} ({'all' if result['subscribers_ok'] else 'some lost'})",
            ),
            (
                "heartbeats / s at most (100 in flight, one client); find / snapshot p99",
                f"{result['heartbeats_per_s']:,}; {result['find_p99_us']:,} µs / {result['snapshot_p99_us']:,} µs",
            ),
        ],
    )


if __name__ == "__main__":
    if not run_role(ROLES):
        main()
