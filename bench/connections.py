"""Idle game-client connections one broker process holds, and the memory each costs.

    ./pants run bench/connections.py -- --json [--connections 20000]

Starts Redis (the broker's shared session state; no PostgreSQL needed) and one broker process,
then a client process that opens `connections` TCP connections to it and keeps them idle. Prints
the broker's resident memory (RSS, from /proc) before and after, the difference per connection,
and checks the broker still answers pings (on a fresh connection and on a sample of the idle
ones) while it holds them all. Socket buffers live in the kernel and are not in RSS.
Targets: 20,000 connections at no more than 12 KB each.

A process may not hold more descriptors than RLIMIT_NOFILE allows: the benchmark raises its
limits where it may, opens the clients from several processes, and asks no more connections of
the broker than its own limit leaves room for (reported as `fd_limit`, and `capped_by_fd_limit`).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from _harness import arguments, child_env, ready_path, report, run_role, wait_ready

_FD_HEADROOM = 1024


def _raise_fd_limit(wanted: int) -> int:
    """Raise RLIMIT_NOFILE to `wanted` (the hard limit too, where allowed); returns what is set."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if wanted > hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
        except (ValueError, OSError):
            wanted = hard
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return max(soft, wanted)


def _fd_limit(pid: int) -> int:
    with open(f"/proc/{pid}/limits") as fh:
        for line in fh:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    raise RuntimeError("no open-files limit")


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


# -- the broker (child process) -------------------------------------------------------------


def serve_broker(ready: str, redis_url: str, capacity: str) -> None:
    from gevent import monkey

    monkey.patch_all()
    from hn_broker import BrokerConfig, BrokerService
    from hn_runtime import run
    from hn_runtime.testing import unreachable

    _raise_fd_limit(int(capacity) + _FD_HEADROOM)
    # Every connection comes from this host: no per-address cap.
    config = BrokerConfig(
        redis_url=redis_url, capacity=int(capacity), idle_timeout_s=3600.0, max_connections_per_address=0
    )
    os.environ["HN_READY_FILE"] = ready
    run(BrokerService(config, directory=unreachable("sso")))


# -- the clients (child process) ------------------------------------------------------------


def hold_connections(address: str, count: str) -> None:
    """Open `count` connections, say "ready <n>", answer "ping" lines by pinging a sample of
    them, and close everything when stdin closes."""
    import socket

    from hn_idl.client.constants import PACKET_VERSION
    from hn_idl.client.ttypes import Packet, PacketKind
    from hn_runtime.wire import encode, spec_of

    _raise_fd_limit(int(count) + _FD_HEADROOM)
    host, _, port = address.rpartition(":")
    data = encode(Packet(PACKET_VERSION, PacketKind.PING, "", 7, None, None, None, None, b""), spec_of(Packet))
    ping = len(data).to_bytes(4, "big") + data
    socks = []
    failed = 0
    for _ in range(int(count)):
        try:
            sock = socket.create_connection((host, int(port)), timeout=30)
        except OSError:
            failed += 1
            continue
        socks.append(sock)
    print(f"ready {len(socks)} {failed}", flush=True)
    for line in sys.stdin:
        if line.strip() == "ping":
            # A sample spread over the whole set, oldest to newest.
            sample = socks[:: max(1, len(socks) // 50)]
            ok = 0
            for sock in sample:
                sock.sendall(ping)
                answer = b""
                while len(answer) < 4 or len(answer) < 4 + int.from_bytes(answer[:4], "big"):
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    answer += chunk
                ok += len(answer) > 4
            print(f"pinged {ok} {len(sample)}", flush=True)
    for sock in socks:
        sock.close()


# -- orchestration --------------------------------------------------------------------------


def _ping_fresh(address: str) -> bool:
    import socket

    from hn_idl.client.constants import PACKET_VERSION
    from hn_idl.client.ttypes import Packet, PacketKind
    from hn_runtime.wire import decode, encode, spec_of

    spec = spec_of(Packet)
    data = encode(Packet(PACKET_VERSION, PacketKind.PING, "", 1, None, None, None, None, b""), spec)
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(len(data).to_bytes(4, "big") + data)
        answer = b""
        while len(answer) < 4 or len(answer) < 4 + int.from_bytes(answer[:4], "big"):
            chunk = sock.recv(4096)
            if not chunk:
                return False
            answer += chunk
    return bool(decode(answer[4:], spec).kind == PacketKind.PONG)


def _connections_gauge(metrics: str) -> float:
    import urllib.request

    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=30) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("hn_broker_connections "):
                return float(line.split()[1])
    return -1.0


def measure(count: int) -> dict[str, Any]:
    from hn_datatier.local import DataTier, DataTierConfig

    ready = ready_path("connections")
    with DataTier(DataTierConfig(postgres=False)) as tier:
        env = child_env({"HN_METRICS_PORT": "0", "HN_LOG_LEVEL": "warning"})
        broker = subprocess.Popen(
            [sys.executable, __file__, "serve-broker", ready, tier.env["HN_REDIS_URL"], str(count + 16)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        holders: list[subprocess.Popen[str]] = []
        try:
            endpoints = wait_ready(broker, ready, "the broker")["endpoints"]
            address, metrics = endpoints["client"], endpoints["metrics"]
            # Warm up what every connection touches once (code paths, the accept loop).
            for _ in range(20):
                _ping_fresh(address)
            # The broker's descriptors: what its limit leaves for clients, minus room for
            # its metrics page and its own work.
            fd_limit = _fd_limit(broker.pid)
            in_use = len(os.listdir(f"/proc/{broker.pid}/fd"))
            asked = min(count, fd_limit - in_use - 64)
            rss_before = _rss_kb(broker.pid)
            started = time.monotonic()
            per_process = 5000
            for first in range(0, asked, per_process):
                holder = subprocess.Popen(
                    [sys.executable, __file__, "hold", address, str(min(per_process, asked - first))],
                    env=child_env(),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                holders.append(holder)
            opened = failed = 0
            for holder in holders:
                assert holder.stdout is not None
                _, n, f = holder.stdout.readline().split()
                opened, failed = opened + int(n), failed + int(f)
            deadline = time.monotonic() + 120
            while _connections_gauge(metrics) < opened:
                if time.monotonic() > deadline:
                    raise SystemExit("the broker did not accept every connection")
                time.sleep(0.2)
            seconds_to_open = time.monotonic() - started
            held = _connections_gauge(metrics)
            rss_after = _rss_kb(broker.pid)
            fresh_ok = _ping_fresh(address)
            pinged_ok = sampled = 0
            for holder in holders:
                assert holder.stdin is not None and holder.stdout is not None
                holder.stdin.write("ping\n")
                holder.stdin.flush()
                _, ok, n = holder.stdout.readline().split()
                pinged_ok, sampled = pinged_ok + int(ok), sampled + int(n)
            per_connection_kb = (rss_after - rss_before) / max(1, held)
            return {
                "connections_asked": count,
                "fd_limit": fd_limit,
                "capped_by_fd_limit": asked < count,
                "connections_held": int(held),
                "connect_failures": int(failed),
                "seconds_to_open": round(seconds_to_open, 1),
                "rss_before_mb": round(rss_before / 1024, 1),
                "rss_after_mb": round(rss_after / 1024, 1),
                "rss_per_connection_kb": round(per_connection_kb, 2),
                "fresh_connection_served": fresh_ok,
                "idle_sample_pinged": f"{pinged_ok}/{sampled}",
                "targets_met": int(held) >= 20_000 and per_connection_kb <= 12 and fresh_ok and pinged_ok == sampled,
                # The same, with 20,000 replaced by what the descriptor limit leaves room for.
                "targets_met_within_fd_limit": int(held) >= min(20_000, asked)
                and per_connection_kb <= 12
                and fresh_ok
                and pinged_ok == sampled,
            }
        finally:
            for holder in holders:
                if holder.stdin is not None:
                    holder.stdin.close()
                holder.wait(timeout=60)
            broker.kill()
            broker.wait()


#: what this file runs as in a child process (`_harness.run_role`)
ROLES: dict[str, Callable[..., Any]] = {"serve-broker": serve_broker, "hold": hold_connections}


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--connections", type=int, default=20_000)
    args = parser.parse_args()
    result = measure(args.connections)
    report(result, args.json)


if __name__ == "__main__":
    if not run_role(ROLES):
        main()
