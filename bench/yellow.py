"""Yellow benchmark: heartbeat throughput, query latency, and the CPU cost of 1,000 instances.

    ./pants run bench/yellow.py -- --json [--instances 1000] [--seconds 5]

One yellow server runs as its own process; the load comes from this one. Prints:
  heartbeats_per_s        registrations+heartbeats/s one yellow sustains (100 in flight)
  find_p50_us/find_p99_us  `find(service)` latency with `instances` registered (concurrency 1)
  snapshot_p50_us/p99_us   `snapshot()` (the whole view) latency, same conditions
  cpu_at_1hz_pct          yellow's CPU, % of one core, while every instance heartbeats at 1 Hz
Target: cpu_at_1hz_pct < 25 with 1,000 instances.
"""

from __future__ import annotations

import time
from typing import Any

from hn_stats import percentile

from _harness import arguments, cpu_seconds, report, service


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    from gevent import monkey

    monkey.patch_all()
    import gevent

    from hn_idl.yellow.ttypes import InstanceInfo
    from hn_runtime import get_service

    with service("hn_yellow") as (pid, ready):
        address = ready["endpoints"]["rep"]
        yellow = get_service("yellow", endpoints=[address], timeout=30)
        beat = [0]

        def info(n: int, load: float = 0.1) -> InstanceInfo:
            beat[0] += 1
            endpoints = {
                "rep": f"tcp://10.0.{n // 250}.{n % 250}:7000",
                "metrics": f"10.0.{n // 250}.{n % 250}:9100",
            }
            return InstanceInfo(f"svc{n % 10}", f"inst-{n}", endpoints, "1.0.0", load, "up", beat[0])

        for n in range(args.instances):
            yellow.heartbeat(info(n))

        # 1. Throughput: 100 greenlets heartbeating as fast as they can.
        done = [0]
        stop_at = time.perf_counter() + args.seconds

        def hammer(k: int) -> None:
            n = k
            while time.perf_counter() < stop_at:
                yellow.heartbeat(info(n % args.instances))
                done[0] += 1
                n += 100

        started = time.perf_counter()
        gevent.joinall([gevent.spawn(hammer, k) for k in range(100)])
        heartbeats_per_s = done[0] / (time.perf_counter() - started)

        # 2. Query latency with the registry full.
        def latencies(call: Any, count: int = 500) -> list[float]:
            out = []
            for _ in range(count):
                t = time.perf_counter()
                call()
                out.append((time.perf_counter() - t) * 1e6)
            return out

        find = latencies(lambda: yellow.find("svc3"))
        snap = latencies(yellow.snapshot, count=100)

        # 3. CPU at 1 Hz: every instance heartbeats once a second, spread evenly.
        spacing = 1.0 / args.instances
        cpu0, wall0 = cpu_seconds(pid), time.perf_counter()
        next_at = time.perf_counter()
        n = 0
        while time.perf_counter() - wall0 < args.seconds:
            yellow.heartbeat(info(n % args.instances, load=0.1 + (n % 3) / 10))
            n += 1
            next_at += spacing
            delay = next_at - time.perf_counter()
            if delay > 0:
                gevent.sleep(delay)
        wall = time.perf_counter() - wall0
        cpu_pct = (cpu_seconds(pid) - cpu0) / wall * 100
        result = {
            "instances": args.instances,
            "heartbeats_per_s": round(heartbeats_per_s),
            "find_p50_us": round(percentile(find, 0.5)),
            "find_p99_us": round(percentile(find, 0.99)),
            "snapshot_p50_us": round(percentile(snap, 0.5)),
            "snapshot_p99_us": round(percentile(snap, 0.99)),
            "heartbeat_rate_at_1hz": round(n / wall),
            "cpu_at_1hz_pct": round(cpu_pct, 1),
            "target_met": cpu_pct < 25,
        }
    report(result, args.json)


if __name__ == "__main__":
    main()
