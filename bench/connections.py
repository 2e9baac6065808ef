"""Idle logged-in game-client connections one broker process holds, and the memory each costs.

    ./pants run bench/connections.py -- --json [--connections 100000] [--per-address 250]
        [--readme README.md]

Starts Redis (the broker's shared session state; no PostgreSQL needed), a login service and one
broker process, then client processes that open `connections` TCP connections to the broker, log
each one in, and keep them idle. Prints the broker's resident memory (RSS, from /proc) before
and after, the difference per connection (target: at most 2 KB), and the kernel's memory for the
sockets beside it (the TCP line of /proc/net/sockstat, and the TCP and socket-inode slabs of
/proc/slabinfo where readable: both ends of every connection, since the clients are on this
host). It checks the broker still answers pings (on a fresh connection and on a sample of the
idle ones) while it holds them all.

Logged in: each connection sends `greeter.enter` (the login route of the end-to-end tests'
Greeter IDL, served here by `LoginService`), so the broker opens a session for it exactly as for
sso's logins (the session record and mailbox in Redis, the session table, the connection's
session and bindings); sso itself is left out because creating 100,000 accounts in PostgreSQL
would measure sso, not the broker.

Descriptors: a process may hold no more than its RLIMIT_NOFILE. Run as root (as these benchmarks
are here), the broker and the client processes raise their hard limit too (up to the kernel's
fs.nr_open); otherwise they raise the soft limit to the hard one and the broker is asked no more
connections than that leaves room for (`fd_limit`, `capped_by_fd_limit`). In production the
systemd unit's LimitNOFILE does this (infra/terraform's broker unit).

Addresses: the broker keeps its production per-address cap (`max_connections_per_address`, 256
by default): the clients spread over as many loopback source addresses (127.0.x.y, all of 127/8
is the loopback) as `per-address` connections each needs, 400 for 100,000 at 250 each, which
also keeps every address well inside the kernel's ephemeral port range.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from _harness import (
    arguments,
    child_env,
    note,
    readme_argument,
    ready_path,
    report,
    run_role,
    wait_ready,
    write_figures,
)

#: descriptors a process keeps beyond its connections (its own files, sockets to Redis...)
_FD_HEADROOM = 1024
#: connections a client process opens and logs in
_PER_PROCESS = 10_000
#: logins a client process keeps in flight at once: the broker's Redis client opens a connection
#: per login in flight (a descriptor each), so bursts are kept small
_LOGIN_WINDOW = 50


def _raise_fd_limit(wanted: int) -> int:
    """Raise RLIMIT_NOFILE to `wanted` (the hard limit too, where allowed: root); returns the
    soft limit now set."""
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


def _kernel_socket_memory() -> dict[str, int]:
    """The kernel's TCP memory now: sockstat's buffer pages (in bytes) and sockets allocated, and
    the bytes of the slabs every TCP socket takes (where /proc/slabinfo is readable: root)."""
    figures: dict[str, int] = {}
    with open("/proc/net/sockstat") as fh:
        for line in fh:
            if line.startswith("TCP:"):
                fields = line.split()[1:]
                values = dict(zip(fields[::2], map(int, fields[1::2]), strict=True))
                figures["tcp_alloc"] = values["alloc"]
                figures["tcp_buffer_bytes"] = values["mem"] * os.sysconf("SC_PAGESIZE")
    try:
        with open("/proc/slabinfo") as fh:
            for line in fh:
                name, *fields = line.split()
                if name in ("TCP", "sock_inode_cache"):
                    figures[f"slab_{name}_bytes"] = int(fields[0]) * int(fields[2])
    except OSError:
        pass
    return figures


def _per_address_cap() -> int:
    from hn_broker import BrokerConfig

    return BrokerConfig().max_connections_per_address


def _source_addresses(count: int) -> Iterator[str]:
    """Loopback addresses other than 127.0.0.1 (which the broker's own clients use): 127.0.1.1, ..."""
    for i in range(count):
        yield f"127.0.{1 + i // 250}.{1 + i % 250}"


# -- the login service and the broker (child processes) -------------------------------------


def serve_login(ready: str) -> None:
    """A service whose login route (`greeter.enter`) opens the session it is asked for."""
    from gevent import monkey

    monkey.patch_all()
    from hn_idl.greeter import Greeter  # pants: no-infer-dep (generated service module)
    from hn_runtime import Service, Session, run

    class LoginService(Service):
        name = "greeter"
        idl = Greeter

        def on_enter(self, session: Session, request: Any) -> str:
            session.open_session(request.account_id, f"p{request.account_id}")
            return "welcome"

    os.environ["HN_READY_FILE"] = ready
    run(LoginService())


def serve_broker(ready: str, redis_url: str, login: str, capacity: str) -> None:
    from gevent import monkey

    monkey.patch_all()
    from hn_broker import BrokerConfig, BrokerService
    from hn_runtime import run
    from hn_runtime.discovery import Instance, StaticDirectory, declared_client_routes

    _raise_fd_limit(int(capacity) + _FD_HEADROOM)
    directory = StaticDirectory(
        {
            "greeter": [
                Instance("greeter", "greeter-bench", {"rep": login}, client_routes=declared_client_routes("greeter"))
            ]
        }
    )
    # Production limits (the per-address cap included), but no idle timeout: they are idle on purpose.
    config = BrokerConfig(redis_url=redis_url, capacity=int(capacity), idle_timeout_s=3600.0)
    os.environ["HN_READY_FILE"] = ready
    run(BrokerService(config, directory=directory))


# -- the clients (child process) ------------------------------------------------------------


def _packet(kind: int, seq: int, type_: str = "", body: bytes = b"") -> bytes:
    from hn_idl.client.constants import PACKET_VERSION
    from hn_idl.client.ttypes import Packet
    from hn_runtime.wire import encode, spec_of

    data = encode(Packet(PACKET_VERSION, kind, type_, seq, None, None, None, None, body), spec_of(Packet))
    return len(data).to_bytes(4, "big") + data


def _answer(sock: Any) -> bytes:
    """One whole framed packet from `sock` (b"" if it closed or timed out first)."""
    answer = b""
    while len(answer) < 4 or len(answer) < 4 + int.from_bytes(answer[:4], "big"):
        try:
            chunk = sock.recv(4096)
        except OSError:
            return b""
        if not chunk:
            return b""
        answer += chunk
    return answer


def hold_connections(address: str, first_account: str, count: str, per_address: str, first_source: str) -> None:
    """Open `count` connections from source addresses `per_address` at a time (starting at the
    `first_source`-th of `_source_addresses`), log each in as its own account, say
    "ready <opened> <failed> <logged in>", answer "ping" lines by pinging a sample of them, and
    close everything when stdin closes."""
    import socket

    from hn_idl.client.ttypes import PacketKind
    from hn_idl.greeter import Greeter  # pants: no-infer-dep (generated service module)
    from hn_runtime.wire import encode, spec_of

    n, per = int(count), int(per_address)
    _raise_fd_limit(n + _FD_HEADROOM)
    host, _, port = address.rpartition(":")
    sources = list(_source_addresses(int(first_source) + (n + per - 1) // per))[int(first_source) :]
    reply_kind = int(PacketKind.REPLY).to_bytes(4, "big")
    socks = []
    failed = logged_in = 0
    for start in range(0, n, _LOGIN_WINDOW):
        window = []
        for i in range(start, min(n, start + _LOGIN_WINDOW)):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            # The port is chosen at connect, per destination: a source address serves any number.
            sock.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24), 1)
            sock.settimeout(60)
            try:
                sock.bind((sources[i // per], 0))
                sock.connect((host, int(port)))
            except OSError:
                failed += 1
                sock.close()
                continue
            body = encode(Greeter.enter_args(account_id=int(first_account) + i), spec_of(Greeter.enter_args))
            try:
                sock.sendall(_packet(PacketKind.REQUEST, 1, "greeter.enter", body))
            except OSError:
                failed += 1
                sock.close()
                continue
            window.append(sock)
        for sock in window:
            answer = _answer(sock)
            logged_in += answer[12:16] == reply_kind
        socks += window
    print(f"ready {len(socks)} {failed} {logged_in}", flush=True)
    ping = _packet(PacketKind.PING, 7)
    for line in sys.stdin:
        if line.strip() == "ping":
            # A sample spread over the whole set, oldest to newest.
            sample = socks[:: max(1, len(socks) // 50)]
            ok = 0
            for sock in sample:
                sock.sendall(ping)
                ok += len(_answer(sock)) > 4
            print(f"pinged {ok} {len(sample)}", flush=True)
    for sock in socks:
        sock.close()


# -- orchestration --------------------------------------------------------------------------


def _ping_fresh(address: str) -> bool:
    import socket

    from hn_idl.client.ttypes import PacketKind

    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(_packet(PacketKind.PING, 1))
        answer = _answer(sock)
    return answer[12:16] == int(PacketKind.PONG).to_bytes(4, "big")


def _gauges(metrics: str) -> dict[str, float]:
    import urllib.request

    found = {}
    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=60) as response:
        for line in response.read().decode().splitlines():
            name, _, value = line.partition(" ")
            if name in ("hn_broker_connections", "hn_broker_sessions"):
                found[name] = float(value)
    return found


def measure(count: int, per_address: int) -> dict[str, Any]:
    from hn_datatier.local import DataTier, DataTierConfig

    _raise_fd_limit(_FD_HEADROOM * 4)
    ready = ready_path("connections")
    login_ready = ready_path("login")
    with DataTier(DataTierConfig(postgres=False)) as tier:
        env = child_env({"HN_METRICS_PORT": "0", "HN_LOG_LEVEL": "warning"})
        login = subprocess.Popen(
            [sys.executable, __file__, "serve-login", login_ready],
            env=child_env({"HN_METRICS_PORT": "-1", "HN_LOG_LEVEL": "warning"}),
            stdout=subprocess.DEVNULL,
        )
        procs: list[subprocess.Popen[Any]] = [login]
        holders: list[subprocess.Popen[str]] = []
        try:
            login_rep = wait_ready(login, login_ready, "the login service")["endpoints"]["rep"]
            broker = subprocess.Popen(
                [sys.executable, __file__, "serve-broker", ready, tier.env["HN_REDIS_URL"], login_rep, str(count + 64)],
                env=env,
                stdout=subprocess.DEVNULL,
            )
            procs.append(broker)
            endpoints = wait_ready(broker, ready, "the broker")["endpoints"]
            address, metrics = endpoints["client"], endpoints["metrics"]
            # Warm up what every connection touches once (code paths, the accept loop).
            for _ in range(20):
                _ping_fresh(address)
            # The broker's descriptors: what its limit leaves for clients, minus room for
            # its metrics page and its own work.
            fd_limit = _fd_limit(broker.pid)
            in_use = len(os.listdir(f"/proc/{broker.pid}/fd"))
            holders_needed = (count + _PER_PROCESS - 1) // _PER_PROCESS
            asked = min(count, fd_limit - in_use - 64 - holders_needed * _LOGIN_WINDOW)
            rss_before = _rss_kb(broker.pid)
            kernel_before = _kernel_socket_memory()
            started = time.monotonic()
            sources_used = 0
            for first in range(0, asked, _PER_PROCESS):
                n = min(_PER_PROCESS, asked - first)
                argv = [__file__, "hold", address, str(1_000_000 + first), str(n), str(per_address), str(sources_used)]
                holders.append(
                    subprocess.Popen(
                        [sys.executable, *argv],
                        env=child_env(),
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                )
                sources_used += (n + per_address - 1) // per_address
            opened = failed = logins = 0
            for holder in holders:
                assert holder.stdout is not None
                _, o, f, li = holder.stdout.readline().split()
                opened, failed, logins = opened + int(o), failed + int(f), logins + int(li)
                note(f"{opened:,} connections open, {logins:,} logged in")
            deadline = time.monotonic() + 300
            while (gauges := _gauges(metrics)).get("hn_broker_sessions", 0) < logins:
                if time.monotonic() > deadline:
                    raise SystemExit("the broker did not open every session")
                time.sleep(0.5)
            seconds_to_open = time.monotonic() - started
            held = int(gauges["hn_broker_connections"])
            sessions = int(gauges["hn_broker_sessions"])
            # The logins' greenlets (a late-push replay two seconds after each) end first.
            time.sleep(3)
            rss_after = _rss_kb(broker.pid)
            kernel_after = _kernel_socket_memory()
            fresh_ok = _ping_fresh(address)
            pinged_ok = sampled = 0
            for holder in holders:
                assert holder.stdin is not None and holder.stdout is not None
                holder.stdin.write("ping\n")
                holder.stdin.flush()
                _, ok, tried = holder.stdout.readline().split()
                pinged_ok, sampled = pinged_ok + int(ok), sampled + int(tried)
            per_connection_kb = (rss_after - rss_before) / max(1, held)
            kernel = {key: kernel_after[key] - kernel_before.get(key, 0) for key in kernel_after}
            slab_bytes = sum(v for k, v in kernel.items() if k.startswith("slab_"))
            result = {
                "connections_asked": count,
                "fd_limit": fd_limit,
                "capped_by_fd_limit": asked < count,
                "per_address_cap": _per_address_cap(),
                "source_addresses": sources_used,
                "connections_held": held,
                "sessions_held": sessions,
                "connect_failures": failed,
                "logins_failed": opened - logins,
                "seconds_to_open": round(seconds_to_open, 1),
                "rss_before_mb": round(rss_before / 1024, 1),
                "rss_after_mb": round(rss_after / 1024, 1),
                "rss_per_connection_kb": round(per_connection_kb, 2),
                "kernel_tcp_sockets_added": kernel["tcp_alloc"],
                "kernel_tcp_buffers_mb": round(kernel["tcp_buffer_bytes"] / 2**20, 1),
                "kernel_tcp_slabs_mb": round(slab_bytes / 2**20, 1) if slab_bytes else None,
                # Both ends of every connection are on this host: per connection, per end.
                "kernel_per_socket_kb": round(
                    (kernel["tcp_buffer_bytes"] + slab_bytes) / 1024 / max(1, kernel["tcp_alloc"]), 2
                ),
                "fresh_connection_served": fresh_ok,
                "idle_sample_pinged": f"{pinged_ok}/{sampled}",
            }
            result["targets_met"] = (
                held >= 100_000 and sessions >= 100_000 and per_connection_kb <= 2 and fresh_ok and pinged_ok == sampled
            )
            return result
        finally:
            for holder in holders:
                if holder.stdin is not None:
                    holder.stdin.close()
                holder.wait(timeout=120)
            for proc in procs:
                proc.kill()
                proc.wait()


def figures_table(r: dict[str, Any]) -> str:
    """The README's figures block for a result of `measure`."""
    met = "met" if r["targets_met"] else "missed"
    slabs = f" + {r['kernel_tcp_slabs_mb']} MB of TCP slabs" if r["kernel_tcp_slabs_mb"] is not None else ""
    capped = ""
    if r["capped_by_fd_limit"]:
        capped = (
            f" The count was capped by the broker's open-file limit ({r['fd_limit']:,}): this machine's"
            " processes may not raise their hard limit (even as root, its container withholds"
            " CAP_SYS_RESOURCE), which systemd's LimitNOFILE does for the broker in production."
        )
    return f"""\
| figure | value |
|---|---|
| idle logged-in connections one broker process holds | **{r['connections_held']:,}** ({r['sessions_held']:,} sessions; asked {r['connections_asked']:,}, open-file limit {r['fd_limit']:,}) |
| user-space memory (broker RSS) per connection | **{r['rss_per_connection_kb']} KB** ({r['rss_before_mb']} → {r['rss_after_mb']} MB) |
| kernel memory for the sockets (both ends on this host) | {max(0.0, r['kernel_tcp_buffers_mb'])} MB of TCP buffers{slabs} for {r['kernel_tcp_sockets_added']:,} sockets: {r['kernel_per_socket_kb']} KB each |
| source addresses (production per-address cap of {r['per_address_cap']} kept) | {r['source_addresses']} |
| seconds to open and log in all | {r['seconds_to_open']} |
| a fresh connection served / idle sample pinged | {r['fresh_connection_served']} / {r['idle_sample_pinged']} |

Target (issue 20): 100,000 idle logged-in connections at ≤ 2 KB of user space each: {met}.{capped}
"""


#: what this file runs as in a child process (`_harness.run_role`)
ROLES: dict[str, Callable[..., Any]] = {
    "serve-login": serve_login,
    "serve-broker": serve_broker,
    "hold": hold_connections,
}


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--connections", type=int, default=100_000)
    parser.add_argument(
        "--per-address", type=int, default=250, help="connections from each source address (the broker's cap: 256)"
    )
    readme_argument(parser)
    args = parser.parse_args()
    result = measure(args.connections, args.per_address)
    report(result, args.json)
    write_figures(
        args, "connections", figures_table(result), "./pants run bench/connections.py -- --json --readme README.md"
    )


if __name__ == "__main__":
    if not run_role(ROLES):
        main()
