"""Broker benchmark: one forwarding hop, `zmq.proxy` (C) vs the broker, same echo worker and load.

    ./pants run bench/broker.py -- --json [--seconds 3] [--connections 100] [--payload 64] [--rounds 3]

(a) proxy:  load generator -> zmq.proxy (ROUTER/DEALER, C) -> echo worker. The load generator
    sends hn-runtime `echo.echo` requests ([envelope, body], the envelope filled as a broker fills
    it) on one DEALER, `connections` in flight: the limit of a forwarding hop on this machine.
(b) broker: load generator -> `connections` TCP connections, each logged in (sso.guest_login
    through the broker) and keeping one framed `echo.echo` packet in flight -> broker -> the same
    echo worker, over hn-runtime's client (the broker's production path: auth gate, session
    stamping, rate limiting, stats).

The echo worker is a blocking pyzmq ROUTER loop that answers hn-runtime requests itself (envelope
kind turned into REPLY, the `echo_args` struct into an `echo_result`): no framework in the way, so
the figures are the hop's, not a Python service's. Worker, proxy, broker and each load generator
are separate processes; the data tier and sso are there for the logins only. The broker runs
with its per-connection packet rate limit raised (clients of a game send far fewer packets than
a benchmark): the token bucket is still checked on every packet.

Figures: throughput with `connections` requests in flight; p50/p99 at concurrency 1 (`*_p50_us`,
`*_p99_us`) and under the full load (`*_loaded_p50_us`, `*_loaded_p99_us`); the CPU time the hop
process spent per request (`*_hop_cpu_us`, all its threads, user + system). Contenders alternate
over `rounds` rounds and each figure is the median of its rounds. Only the ratio means much on a
shared 2-core machine. Target: broker_rps >= 0.5 * proxy_rps.

Then (unless --no-abuse) a broker with every production limit: `bystanders` logged-in players each
send an echo 50 times a second (within the rate limit) and time their round trips, alone and while
another process abuses the same broker (unauthenticated calls, malformed and oversized frames, a
logged-in flood past the rate limit, 50 slowloris connections). Target: the bystanders' p99 under
abuse within 2x of their p99 alone (`bystander_abused_vs_normal_p99` <= 2). The abuser is a
process of its own on the same 2 cores: part of what it costs the bystanders is the core it takes,
so a control runs too, a process that only burns a core (`hogged`), and
`bystander_abused_vs_hogged_p99` is what the abuse costs beyond that.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from _harness import (
    child_env,
    cpu_seconds,
    load_dealer,
    percentile,
    ready_path,
    report,
    run_json,
    service,
    wait_ready,
    write_ready,
)

#: echo requests per second from each bystander player: half the broker's production rate limit
_PLAYER_RATE = 50.0
#: Envelope field 1 (kind, i32) as fastbinary writes it first: REQUEST (1) and REPLY (2).
_REQUEST_HEAD = b"\x08\x00\x01\x00\x00\x00\x01"
_REPLY_HEAD = b"\x08\x00\x01\x00\x00\x00\x02"
#: echo_args field 1 (payload, binary) and echo_result field 0 (success, binary).
_ARGS_HEAD = b"\x0b\x00\x01"
_RESULT_HEAD = b"\x0b\x00\x00"


# -- servers (child processes) --------------------------------------------------------------


def serve_worker(ready: str) -> None:
    """The echo worker: answers `echo.echo` requests; whatever else comes gets no answer."""
    import zmq

    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.setsockopt(zmq.RCVHWM, 0)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    write_ready(ready, {"rep": f"tcp://127.0.0.1:{port}"})
    recv, send = sock.recv_multipart, sock.send_multipart
    while True:
        frames = recv()
        head, body = frames[-2], frames[-1]
        if head[:7] != _REQUEST_HEAD or body[:3] != _ARGS_HEAD:
            continue
        frames[-2] = _REPLY_HEAD + head[7:]
        frames[-1] = _RESULT_HEAD + body[3:]
        send(frames)


def serve_proxy(ready: str, worker: str) -> None:
    import zmq

    ctx = zmq.Context()
    front = ctx.socket(zmq.ROUTER)
    back = ctx.socket(zmq.DEALER)
    for sock in (front, back):
        sock.setsockopt(zmq.SNDHWM, 0)
        sock.setsockopt(zmq.RCVHWM, 0)
    port = front.bind_to_random_port("tcp://127.0.0.1")
    back.connect(worker)
    write_ready(ready, {"rep": f"tcp://127.0.0.1:{port}"})
    zmq.proxy(front, back)


def serve_broker(ready: str, worker: str, sso: str, redis_url: str, capacity: str, limits: str = "off") -> None:
    """`limits`: "off" raises the per-connection packet rate (a benchmark sends far more than a
    game client); "production" keeps every default limit (the abuse figures)."""
    from gevent import monkey

    monkey.patch_all()
    from hn_broker._config import BrokerConfig
    from hn_broker._service import BrokerService
    from hn_runtime import Instance, StaticDirectory, run

    directory = StaticDirectory(
        {
            "echo": [Instance("echo", "echo-bench", {"rep": worker})],
            "sso": [Instance("sso", "sso-bench", {"rep": sso})],
        }
    )
    config = BrokerConfig(services=("sso", "echo"), redis_url=redis_url, capacity=int(capacity))
    if limits == "off":
        config = dataclasses.replace(config, rate=1e9, burst=1e9, idle_timeout_s=3600.0)
    os.environ["HN_READY_FILE"] = ready
    run(BrokerService(config, directory=directory))


# -- load generators (child processes; print one JSON object) --------------------------------


def client_proxy(endpoint: str, seconds: float, concurrency: int, payload: bytes) -> dict[str, Any]:

    from hn_idl.echo import Echo  # pants: no-infer-dep (generated service module)
    from hn_runtime.wire import REQUEST, Envelope, encode, encode_envelope, spec_of

    sock = load_dealer(endpoint)
    body = encode(Echo.echo_args(payload=payload), spec_of(Echo.echo_args))
    deadline_ms = int((time.time() + 3600) * 1000)
    # The envelope a broker sends: method, request id, session, trace id, deadline, sender, client.
    heads = [
        encode_envelope(
            Envelope(REQUEST, "echo", i, "1234567", f"{i:016x}", deadline_ms, "broker-bench", None, None, "127.0.0.1:9")
        )
        for i in range(concurrency)
    ]
    # The request id sits right after the kind and the method "echo": the worker returns it as is.
    rid_at = len(_REQUEST_HEAD) + 3 + 4 + 4 + 3
    assert int.from_bytes(heads[5][rid_at : rid_at + 8], "big") == 5
    send = sock.send_multipart
    recv = sock.recv_multipart

    def one(i: int) -> None:
        send([heads[i], body])
        head, reply = recv()
        if head[:7] != _REPLY_HEAD or reply[3:] != body[3:]:
            raise SystemExit(f"bad reply {head!r} {reply!r}")

    for _ in range(200):
        one(0)
    lat = []
    end = time.perf_counter() + seconds / 2
    while time.perf_counter() < end:
        t = time.perf_counter()
        one(0)
        lat.append(time.perf_counter() - t)
    sent_at = [0.0] * concurrency
    loaded: list[float] = []
    now = time.perf_counter
    for i in range(concurrency):
        sent_at[i] = now()
        send([heads[i], body])
    n = 0
    start = now()
    end = start + seconds
    while True:
        head, reply = recv()
        if head[:7] != _REPLY_HEAD:
            raise SystemExit(f"bad reply {head!r}")
        i = int.from_bytes(head[rid_at : rid_at + 8], "big")
        t = now()
        loaded.append(t - sent_at[i])
        n += 1
        if t >= end:
            break
        sent_at[i] = t
        send([heads[i], body])
    elapsed = now() - start
    for _ in range(concurrency - 1):
        recv()
    return _figures(n / elapsed, lat, loaded, 200 + len(lat) + n + concurrency - 1)


def _players(address: str, count: int, name: str) -> list[Any]:
    """`count` connections to the broker, each logged in as a guest of its own."""
    from hn_broker.testing import RawClient

    tag = f"{name}-{os.getpid()}-{time.time_ns() % 10**9}"
    players = []
    for i in range(count):
        player = RawClient(address)
        player.guest_login(f"bench-{tag}-{i}")
        players.append(player)
    return players


def client_broker(address: str, seconds: float, concurrency: int, payload: bytes) -> dict[str, Any]:
    import select
    import socket

    from hn_idl.client.ttypes import PacketKind

    players = _players(address, concurrency, "load")
    socks: list[socket.socket] = [p.sock for p in players]
    request = players[0].request("echo.echo", payload=payload)
    check = players[0].call("echo.echo", payload=payload)
    if check != payload:
        raise SystemExit(f"bad echo reply: {check}")
    first = socks[0]
    # In a framed reply, the packet's kind (field 2, i32) is at bytes 12..16 (after the length and
    # the version field).
    reply_kind = int(PacketKind.REPLY).to_bytes(4, "big")

    def one(sock: socket.socket) -> None:
        sock.sendall(request)
        data = sock.recv(65536)
        while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:4], "big"):
            data += sock.recv(65536)
        if data[12:16] != reply_kind:
            raise SystemExit(f"not a reply: {data!r}")

    for _ in range(200):
        one(first)
    lat = []
    end = time.perf_counter() + seconds / 2
    while time.perf_counter() < end:
        t = time.perf_counter()
        one(first)
        lat.append(time.perf_counter() - t)

    poller = select.epoll()
    slots = {}
    for i, sock in enumerate(socks):
        sock.setblocking(False)
        poller.register(sock.fileno(), select.EPOLLIN)
        slots[sock.fileno()] = (i, sock)
    bufs = [b""] * concurrency
    sent_at = [0.0] * concurrency
    loaded: list[float] = []
    now = time.perf_counter
    for i, sock in enumerate(socks):
        sent_at[i] = now()
        sock.send(request)
    n = 0
    outstanding = concurrency
    start = now()
    end = start + seconds
    sending = True
    elapsed, counted = seconds, 0
    while outstanding:
        events = poller.poll(30)
        if not events:
            raise SystemExit("no reply from the broker within 30 s")
        t = now()
        if sending and t >= end:
            sending = False
            elapsed = t - start
            counted = n
        for fd, _ in events:
            i, sock = slots[fd]
            data = sock.recv(65536)
            if not data:
                raise SystemExit("the broker closed a connection")
            buf = bufs[i] + data if bufs[i] else data
            while len(buf) >= 4:
                size = int.from_bytes(buf[:4], "big")
                if len(buf) < 4 + size:
                    break
                if buf[12:16] != reply_kind:
                    raise SystemExit(f"not a reply: {buf[: 4 + size]!r}")
                buf = buf[4 + size :]
                n += 1
                outstanding -= 1
                loaded.append(t - sent_at[i])
                if sending:
                    sent_at[i] = t
                    sock.send(request)
                    outstanding += 1
            bufs[i] = buf
    for sock in socks:
        sock.close()
    return _figures(counted / elapsed, lat, loaded, 201 + len(lat) + n)


def _figures(rps: float, lat: list[float], loaded: list[float], requests: int) -> dict[str, Any]:
    return {
        "rps": rps,
        "requests": requests,
        "p50_us": percentile(lat, 0.5) * 1e6,
        "p99_us": percentile(lat, 0.99) * 1e6,
        "loaded_p50_us": percentile(loaded, 0.5) * 1e6,
        "loaded_p99_us": percentile(loaded, 0.99) * 1e6,
    }


def client_bystanders(address: str, seconds: float, players: int, payload: bytes) -> dict[str, Any]:
    """`players` logged-in players, each sending one echo every 1/_PLAYER_RATE s (within the
    broker's production rate limit, as a game client would) and timing its round trips."""
    import select

    from hn_idl.client.ttypes import PacketKind

    clients = _players(address, players, "bystander")
    socks = [c.sock for c in clients]
    request = clients[0].request("echo.echo", payload=payload)
    reply_kind = int(PacketKind.REPLY).to_bytes(4, "big")
    poller = select.epoll()
    slot = {}
    for i, sock in enumerate(socks):
        sock.setblocking(False)
        poller.register(sock.fileno(), select.EPOLLIN)
        slot[sock.fileno()] = i
    period = 1.0 / _PLAYER_RATE
    now = time.perf_counter
    start = now()
    # Spread the players' sends over one period, so they do not all send at once.
    due = [start + period * i / players for i in range(players)]
    sent_at: list[float | None] = [None] * players
    bufs = [b""] * players
    lat: list[float] = []
    errors = 0
    end = start + seconds
    while now() < end or any(t is not None for t in sent_at):
        t = now()
        for i, sock in enumerate(socks):
            if sent_at[i] is None and t >= due[i] and t < end:
                sock.send(request)
                sent_at[i] = t
                due[i] += period
        waits = [d for i, d in enumerate(due) if sent_at[i] is None and d < end]
        timeout = max(0.0, min(waits) - now()) if waits else 0.05
        for fd, _ in poller.poll(timeout):
            i = slot[fd]
            data = socks[i].recv(65536)
            if not data:
                raise SystemExit("the broker closed a bystander's connection")
            buf = bufs[i] + data
            while len(buf) >= 4 and len(buf) >= 4 + int.from_bytes(buf[:4], "big"):
                size = int.from_bytes(buf[:4], "big")
                if buf[12:16] == reply_kind:
                    lat.append(now() - (sent_at[i] or 0.0))
                else:
                    errors += 1
                sent_at[i] = None
                buf = buf[4 + size :]
            bufs[i] = buf
        if now() > end + 30:
            raise SystemExit("bystanders' answers missing 30 s after the end")
    for sock in socks:
        sock.close()
    return {
        "requests": len(lat),
        "errors": errors,
        "p50_us": percentile(lat, 0.5) * 1e6,
        "p99_us": percentile(lat, 0.99) * 1e6,
    }


def abuse(address: str) -> None:
    """The abusers, until stdin closes: unauthenticated calls, malformed and oversized frames,
    a logged-in flood (far past the rate limit), and 50 slowloris connections holding half a
    header all along. Prints "ready" after the first round, then the packets sent as JSON."""
    import select

    from hn_broker.testing import RawClient

    slowloris = [RawClient(address) for _ in range(50)]
    for loris in slowloris:
        loris.send(b"\x00\x00")  # half a length prefix, never finished
    unauthenticated = RawClient(address)
    (flooder,) = _players(address, 1, "abuser")
    calls = unauthenticated.request("echo.echo", payload=b"u" * 32) * 20
    flood = flooder.request("echo.echo", payload=b"f" * 32) * 50
    counts = {"unauthenticated": 0, "malformed": 0, "oversized": 0, "flood": 0, "slowloris": len(slowloris)}
    first = True
    while not select.select([sys.stdin], [], [], 0)[0]:
        unauthenticated.send(calls)
        for _ in range(20):
            if unauthenticated.read() is None:
                raise SystemExit("the broker cut the unauthenticated caller off")
        counts["unauthenticated"] += 20
        garbage = RawClient(address)
        garbage.send(b"\x00\x00\x00\x05hello" * 3)
        garbage.closed()  # answered with errors, then closed
        garbage.close()
        counts["malformed"] += 3
        big = RawClient(address)
        big.send((64 * 1024 * 1024).to_bytes(4, "big"))
        big.closed()
        big.close()
        counts["oversized"] += 1
        flooder.send(flood)
        for _ in range(50):
            if flooder.read() is None:
                raise SystemExit("the broker cut the flooder off")
        counts["flood"] += 50
        if first:
            print("ready", flush=True)
            first = False
    print(json.dumps(counts), flush=True)


def hog() -> None:
    """The control for `abuse`: a process that only burns a core, until stdin closes."""
    import select

    print("ready", flush=True)
    spins = 0
    while not select.select([sys.stdin], [], [], 0)[0]:
        for _ in range(10_000):
            spins += 1
    print(json.dumps({"spins": spins}), flush=True)


def _bystander_under_abuse(address: str, args: argparse.Namespace) -> dict[str, Any]:
    """Logged-in players' echo round trips (`client_bystanders`) alone, then while `abuse` runs in
    another process; rounds alternate and each figure is the median of its rounds."""
    normal: list[dict[str, Any]] = []
    hogged: list[dict[str, Any]] = []
    abused: list[dict[str, Any]] = []
    sent: list[float] = []

    def bystander() -> dict[str, Any]:
        argv = [__file__, "client-bystanders", address, str(args.seconds), str(args.bystanders), str(args.payload)]
        return run_json(argv, timeout=120 + 3 * args.seconds)

    def beside(role: str, *role_args: str) -> tuple[dict[str, Any], dict[str, Any], float]:
        """The bystanders timed while `role` runs in a process of its own."""
        other = subprocess.Popen(
            [sys.executable, __file__, role, *role_args],
            env=child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert other.stdin is not None and other.stdout is not None
        try:
            if other.stdout.readline().strip() != "ready":
                raise SystemExit(f"{role} did not start")
            started = time.perf_counter()
            figures = bystander()
            other.stdin.close()
            counts = json.loads(other.stdout.readline())
            elapsed = time.perf_counter() - started
            other.wait(timeout=30)
            return figures, counts, elapsed
        finally:
            if other.poll() is None:
                other.kill()
                other.wait()

    for _ in range(args.rounds):
        normal.append(bystander())
        hogged.append(beside("hog")[0])
        figures, counts, elapsed = beside("abuse", address)
        abused.append(figures)
        sent.append(sum(v for k, v in counts.items() if k != "slowloris") / elapsed)

    def median(runs: list[dict[str, Any]], key: str) -> float:
        return round(float(statistics.median(r[key] for r in runs)), 1)

    result = {
        "bystanders": args.bystanders,
        "bystander_p50_us": median(normal, "p50_us"),
        "bystander_p99_us": median(normal, "p99_us"),
        "bystander_hogged_p50_us": median(hogged, "p50_us"),
        "bystander_hogged_p99_us": median(hogged, "p99_us"),
        "bystander_abused_p50_us": median(abused, "p50_us"),
        "bystander_abused_p99_us": median(abused, "p99_us"),
        "bystander_errors": sum(r["errors"] for r in normal + hogged + abused),
        "abuse_packets_per_s": round(statistics.median(sent)),
    }
    result["bystander_abused_vs_normal_p99"] = round(result["bystander_abused_p99_us"] / result["bystander_p99_us"], 2)
    # What the abuse costs beyond taking a core of this 2-core machine (the hog's cost).
    result["bystander_abused_vs_hogged_p99"] = round(
        result["bystander_abused_p99_us"] / result["bystander_hogged_p99_us"], 2
    )
    return result


# -- orchestration --------------------------------------------------------------------------


@contextmanager
def child(role: str, *args: str, env: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """Run `bench/broker.py <role> <ready> args...` until the block ends; yield its ready info."""
    ready = ready_path(f"broker-{role}")
    full_env = child_env({"HN_METRICS_PORT": "-1", "HN_LOG_LEVEL": "warning", **(env or {})})
    proc = subprocess.Popen([sys.executable, __file__, role, ready, *args], env=full_env, stdout=subprocess.DEVNULL)
    try:
        info = wait_ready(proc, ready, role)
        info["pid"] = proc.pid
        yield info
    finally:
        proc.kill()
        proc.wait()


def _load(role: str, target: str, args: argparse.Namespace, hop_pid: int) -> dict[str, Any]:
    before = cpu_seconds(hop_pid)
    argv = [__file__, f"client-{role}", target, str(args.seconds), str(args.connections), str(args.payload)]
    figures = run_json(argv, timeout=120 + 3 * args.seconds)
    # What the hop itself spent per request (the proxy's threads, or the broker's): less at
    # the mercy of the machine's other load than throughput is.
    figures["hop_cpu_us"] = (cpu_seconds(hop_pid) - before) / figures["requests"] * 1e6
    return figures


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("serve-"):
        servers: dict[str, Callable[..., None]] = {
            "serve-worker": serve_worker,
            "serve-proxy": serve_proxy,
            "serve-broker": serve_broker,
        }
        servers[sys.argv[1]](*sys.argv[2:])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "abuse":
        abuse(sys.argv[2])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "hog":
        hog()
        return
    if len(sys.argv) > 1 and sys.argv[1].startswith("client-"):
        target, seconds, concurrency, size = sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        fn = {"client-proxy": client_proxy, "client-broker": client_broker, "client-bystanders": client_bystanders}[
            sys.argv[1]
        ]
        print(json.dumps(fn(target, seconds, concurrency, os.urandom(size))))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=100, help="requests in flight (broker: connections)")
    parser.add_argument("--payload", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per contender (medians)")
    parser.add_argument("--no-abuse", action="store_true", help="skip the bystander-under-abuse figures")
    parser.add_argument("--bystanders", type=int, default=20, help="players timed, normal and under abuse")
    args = parser.parse_args()

    from hn_datatier.local import DataTier, DataTierConfig

    result: dict[str, Any] = {
        "payload_bytes": args.payload,
        "concurrency": args.connections,
        "rounds": args.rounds,
        "seconds": args.seconds,
    }
    runs: dict[str, list[dict[str, Any]]] = {"proxy": [], "broker": []}
    with (
        DataTier(DataTierConfig()) as tier,
        service("hn_sso", {**tier.env, "HN_SSO_HASH_PROFILE": "test"}) as (_, sso_ready),
        child("serve-worker") as worker,
    ):
        sso = sso_ready["endpoints"]["rep"]
        with (
            child("serve-proxy", worker["rep"]) as proxy,
            child(
                "serve-broker", worker["rep"], sso, tier.env["HN_REDIS_URL"], str(max(20_000, 2 * args.connections))
            ) as broker,
        ):
            targets = {"proxy": proxy["rep"], "broker": broker["endpoints"]["client"]}
            pids = {"proxy": proxy["pid"], "broker": broker["pid"]}
            # Contenders take turns, round after round, and each figure is the median of its
            # rounds: a burst of noise on a shared machine then hits both alike.
            for _ in range(args.rounds):
                for role in runs:
                    runs[role].append(_load(role, targets[role], args, pids[role]))
        if not args.no_abuse:
            broker_args = (worker["rep"], sso, tier.env["HN_REDIS_URL"], "20000", "production")
            with child("serve-broker", *broker_args) as guarded:
                result.update(_bystander_under_abuse(guarded["endpoints"]["client"], args))
    for role, measured in runs.items():
        for key in ("rps", "p50_us", "p99_us", "loaded_p50_us", "loaded_p99_us", "hop_cpu_us"):
            value = statistics.median(r[key] for r in measured)
            result[f"{role}_{key}"] = round(value) if key == "rps" else round(value, 1)
    result["broker_vs_proxy_rps"] = round(result["broker_rps"] / result["proxy_rps"], 3)
    result["broker_vs_proxy_p50"] = round(result["broker_p50_us"] / result["proxy_p50_us"], 2)
    result["broker_vs_proxy_hop_cpu"] = round(result["broker_hop_cpu_us"] / result["proxy_hop_cpu_us"], 2)
    result["targets_met"] = result["broker_vs_proxy_rps"] >= 0.5 and (
        args.no_abuse or result["bystander_abused_vs_normal_p99"] <= 2.0
    )
    report(result, args.json)


if __name__ == "__main__":
    main()
