"""A client writing numbered keys straight to one Redis node, run as its own process inside a
host (a network namespace) so it stays on that node's side of a partition: the writer of the
acknowledged-write-loss scenario (test_partitions.py).

    python _writer.py HOST PORT PREFIX INTERVAL_S        (HN_WRITER_PASSWORD: the admin password)

It SETs PREFIX<n> = n for n = 1, 2, ... every INTERVAL_S seconds until its stdin closes, and
prints one line per write: `n invoked acked outcome error`, the times on CLOCK_MONOTONIC (one
clock for every namespace of the machine: the test reads them against its own), outcome "ok",
"failed" (a Redis error reply: NOREPLICAS, READONLY: not written) or "unknown" (no reply).
"""

from __future__ import annotations

import os
import select
import sys
import time

import redis


def main(argv: list[str]) -> int:
    host, port, prefix, interval = argv[0], int(argv[1]), argv[2], float(argv[3])
    client = redis.Redis(
        host=host,
        port=port,
        username=os.environ.get("HN_WRITER_USER", "admin"),
        password=os.environ.get("HN_WRITER_PASSWORD", ""),
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
    )
    n = 0
    while True:
        # stdin closed (the test is done with us): stop. Otherwise it paces the writes.
        ready, _, _ = select.select([sys.stdin], [], [], interval)
        if ready and not sys.stdin.readline():
            return 0
        n += 1
        invoked = time.monotonic()
        try:
            client.set(f"{prefix}{n}", n)
            outcome, error = "ok", ""
        except redis.ResponseError as exc:  # the node answered no: nothing written
            outcome, error = "failed", str(exc).split(" ", 1)[0]
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            outcome, error = "unknown", type(exc).__name__
        print(n, f"{invoked:.6f}", f"{time.monotonic():.6f}", outcome, error or "-", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
