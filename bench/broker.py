"""Broker benchmark: one forwarding hop, `zmq.proxy` (C) vs the broker, same echo worker and load.

    ./pants run bench/broker.py -- --json [--seconds 3] [--connections 100] [--payload 64] [--rounds 3]

(a) proxy:  load generator -> zmq.proxy (ROUTER/DEALER, C) -> echo worker. The load generator
    sends hn-runtime `echo.echo` requests ([envelope, body], the envelope filled as a broker fills
    it) on one DEALER, `connections` in flight: the limit of a forwarding hop on this machine.
(b) broker: load generator -> `connections` TCP connections, each logged in (sso.guest_login
    through the broker) and keeping one framed `echo.echo` packet in flight -> broker -> the same
    echo worker, over hn-runtime's client (the broker's production path: auth gate, session
    stamping, rate limiting, stats).
(c) ws, tls, wss: (b) with the players on the broker's other schemes: one packet per binary
    WebSocket message; framed packets in TLS (a local CA's certificate); WebSocket in TLS. tcp and
    ws are one broker process, tls and wss another (a broker with a certificate speaks TLS on
    both its ports). Targets: ws_rps >= 0.7 * broker_rps, tls_rps >= 0.6 * broker_rps.

The echo worker (`_echo.py`) is a blocking pyzmq ROUTER loop that answers hn-runtime requests
itself (envelope kind turned into REPLY, the `echo_args` struct into an `echo_result`): no
framework in the way, so the figures are the hop's, not a Python service's. Worker, proxy, broker
and each load generator are separate processes; the data tier and sso are there for the logins
only (`_broker_rig.py`). The broker runs with its per-connection packet rate limit raised (clients
of a game send far fewer packets than a benchmark): the token bucket is still checked on every
packet.

Figures: throughput with `connections` requests in flight; p50/p99 at concurrency 1 (`*_p50_us`,
`*_p99_us`) and under the full load (`*_loaded_p50_us`, `*_loaded_p99_us`); the CPU time the hop
process spent per request (`*_hop_cpu_us`, all its threads, user + system). Contenders alternate
over `rounds` rounds and each figure is the median of its rounds. Only the ratio means much on a
shared 2-core machine. Target: broker_rps >= 0.5 * proxy_rps.

The same broker's players under abuse are broker_abuse.py's.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from hn_idl.client.ttypes import PacketKind
from hn_stats import percentile

from _broker_rig import backends, broker, logged_in
from _echo import REPLY_HEAD, REQUEST_HEAD
from _harness import (
    child,
    cpu_seconds,
    load_arguments,
    load_dealer,
    load_role,
    report,
    run_load,
    run_role,
    serial_latencies,
    write_ready,
)

# -- the proxy (child process) --------------------------------------------------------------


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
    rid_at = len(REQUEST_HEAD) + 3 + 4 + 4 + 3
    assert int.from_bytes(heads[5][rid_at : rid_at + 8], "big") == 5
    send = sock.send_multipart
    recv = sock.recv_multipart

    def one(i: int) -> None:
        send([heads[i], body])
        head, reply = recv()
        if head[:7] != REPLY_HEAD or reply[3:] != body[3:]:
            raise SystemExit(f"bad reply {head!r} {reply!r}")

    lat = serial_latencies(lambda: one(0), seconds / 2)
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
        if head[:7] != REPLY_HEAD:
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


def client_broker(target: str, seconds: float, concurrency: int, payload: bytes) -> dict[str, Any]:
    """`target`: the broker's address for the scheme ("host:port", "ws://..."), and after a space
    the CA file when it speaks TLS."""
    import select
    import ssl

    from hn_client.testing import masked_frame

    address, _, ca_file = target.partition(" ")
    tls = ssl.create_default_context(cafile=ca_file) if ca_file else None
    websocket = address.startswith(("ws://", "wss://"))
    players = logged_in(address, concurrency, "load", tls=tls)
    socks = [p.sock for p in players]
    framed = players[0].request("echo.echo", payload=payload)
    check = players[0].call("echo.echo", payload=payload)
    if check != payload:
        raise SystemExit(f"bad echo reply: {check}")
    # What goes on the wire: the framed packet, or one masked binary WebSocket frame holding it
    # (the same mask every time: the broker cannot tell, and the load generator spends nothing).
    request = masked_frame(2, framed[4:]) if websocket else framed
    replies = _ws_replies if websocket else _tcp_replies
    first = socks[0]

    def one(sock: Any) -> None:
        sock.sendall(request)
        count, rest = replies(sock.recv(65536))
        while not count:
            more, rest = replies(rest + sock.recv(65536))
            count += more

    lat = serial_latencies(lambda: one(first), seconds / 2)

    poller = select.epoll()
    slots = {}
    for i, sock in enumerate(socks):
        poller.register(sock.fileno(), select.EPOLLIN)
        slots[sock.fileno()] = (i, sock)
    bufs = [b""] * concurrency
    sent_at = [0.0] * concurrency
    loaded: list[float] = []
    now = time.perf_counter
    for i, sock in enumerate(socks):
        sent_at[i] = now()
        sock.sendall(request)
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
            if tls is not None:
                while sock.pending():  # decrypted already: epoll will not say so again
                    data += sock.recv(65536)
            if not data:
                raise SystemExit("the broker closed a connection")
            got, bufs[i] = replies(bufs[i] + data if bufs[i] else data)
            n += got
            outstanding -= got
            for _ in range(got):
                loaded.append(t - sent_at[i])
            if got and sending:
                sent_at[i] = t
                sock.sendall(request)
                outstanding += 1
    for sock in socks:
        sock.close()
    return _figures(counted / elapsed, lat, loaded, 201 + len(lat) + n)


#: a reply packet's kind (field 2, i32) follows the version field: bytes 8..12 of the packet
_REPLY_KIND = int(PacketKind.REPLY).to_bytes(4, "big")


def _tcp_replies(buf: bytes) -> tuple[int, bytes]:
    """Whole framed replies at the start of `buf`: how many, and the bytes after them."""
    count = 0
    while len(buf) >= 4:
        size = int.from_bytes(buf[:4], "big")
        if len(buf) < 4 + size:
            break
        if buf[12:16] != _REPLY_KIND:
            raise SystemExit(f"not a reply: {buf[: 4 + size]!r}")
        buf = buf[4 + size :]
        count += 1
    return count, buf


def _ws_replies(buf: bytes) -> tuple[int, bytes]:
    """Whole WebSocket messages (a server's frames: unmasked, unfragmented) at the start of `buf`."""
    count = 0
    while len(buf) >= 2:
        size, head = buf[1], 2
        if size == 126:
            size, head = int.from_bytes(buf[2:4], "big"), 4
        if len(buf) < head + size:
            break
        if buf[0] != 0x82 or buf[head + 8 : head + 12] != _REPLY_KIND:
            raise SystemExit(f"not a reply: {buf[: head + size]!r}")
        buf = buf[head + size :]
        count += 1
    return count, buf


def _figures(rps: float, lat: list[float], loaded: list[float], requests: int) -> dict[str, Any]:
    return {
        "rps": rps,
        "requests": requests,
        "p50_us": percentile(lat, 0.5) * 1e6,
        "p99_us": percentile(lat, 0.99) * 1e6,
        "loaded_p50_us": percentile(loaded, 0.5) * 1e6,
        "loaded_p99_us": percentile(loaded, 0.99) * 1e6,
    }


#: what this file runs as in a child process (`_harness.run_role`)
ROLES: dict[str, Callable[..., Any]] = {
    "serve-proxy": serve_proxy,
    "client-proxy": load_role(client_proxy),
    "client-broker": load_role(client_broker),
}
#: the broker's contenders, by scheme: the endpoint their players use, and the broker serving it
#: (one broker process for tcp and ws, another with a certificate for tls and wss)
SCHEMES = {"broker": "tcp", "ws": "ws", "tls": "tls", "wss": "wss"}
#: round trips/s at least, as a share of the broker's on plain TCP in the same run
SCHEME_TARGETS = {"ws": 0.7, "tls": 0.6}


# -- orchestration --------------------------------------------------------------------------


def _load(role: str, target: str, args: argparse.Namespace, hop_pid: int) -> dict[str, Any]:
    before = cpu_seconds(hop_pid)
    figures = run_load(__file__, f"client-{role}", target, args.seconds, args.connections, args.payload)
    # What the hop itself spent per request (the proxy's threads, or the broker's): less at
    # the mercy of the machine's other load than throughput is.
    figures["hop_cpu_us"] = (cpu_seconds(hop_pid) - before) / figures["requests"] * 1e6
    return figures


def main() -> None:
    import tempfile

    from hn_broker import make_local_ca

    parser = load_arguments(__doc__)
    parser.add_argument("--connections", type=int, default=100, help="requests in flight (broker: connections)")
    args = parser.parse_args()

    result: dict[str, Any] = {
        "payload_bytes": args.payload,
        "concurrency": args.connections,
        "rounds": args.rounds,
        "seconds": args.seconds,
    }
    runs: dict[str, list[dict[str, Any]]] = {"proxy": [], **{name: [] for name in SCHEMES}}
    capacity = max(20_000, 2 * args.connections)
    tls_dir = tempfile.TemporaryDirectory(prefix="hn-bench-tls-")
    ca = make_local_ca(tls_dir.name)
    with (
        tls_dir,
        backends() as to,
        child(__file__, "serve-proxy", to.worker) as proxy,
        broker(to, capacity, "off") as plain,
        broker(to, capacity, "off", tls=(ca.cert_file, ca.key_file)) as secure,
    ):
        targets = {"proxy": proxy["rep"]}
        pids = {"proxy": proxy["pid"]}
        for name, scheme in SCHEMES.items():
            hop = secure if scheme in ("tls", "wss") else plain
            targets[name] = hop["endpoints"][scheme] + (f" {ca.ca_file}" if hop is secure else "")
            pids[name] = hop["pid"]
        # Contenders take turns, round after round, and each figure is the median of its
        # rounds: a burst of noise on a shared machine then hits all alike.
        for _ in range(args.rounds):
            for role in runs:
                runs[role].append(_load("proxy" if role == "proxy" else "broker", targets[role], args, pids[role]))
    for role, measured in runs.items():
        for key in ("rps", "p50_us", "p99_us", "loaded_p50_us", "loaded_p99_us", "hop_cpu_us"):
            value = statistics.median(r[key] for r in measured)
            result[f"{role}_{key}"] = round(value) if key == "rps" else round(value, 1)
    result["broker_vs_proxy_rps"] = round(result["broker_rps"] / result["proxy_rps"], 3)
    result["broker_vs_proxy_p50"] = round(result["broker_p50_us"] / result["proxy_p50_us"], 2)
    result["broker_vs_proxy_hop_cpu"] = round(result["broker_hop_cpu_us"] / result["proxy_hop_cpu_us"], 2)
    for name in ("ws", "tls", "wss"):
        result[f"{name}_vs_tcp_rps"] = round(result[f"{name}_rps"] / result["broker_rps"], 3)
    result["targets_met"] = result["broker_vs_proxy_rps"] >= 0.5 and all(
        result[f"{name}_vs_tcp_rps"] >= share for name, share in SCHEME_TARGETS.items()
    )
    report(result, args.json)


if __name__ == "__main__":
    if not run_role(ROLES):
        main()
