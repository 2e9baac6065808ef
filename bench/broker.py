"""Broker benchmark: one forwarding hop, `zmq.proxy` (C) vs the broker, same echo worker and load.

    ./pants run bench/broker.py -- --json [--seconds 3] [--connections 100] [--generators 2]
        [--payload 64] [--rounds 3] [--readme README.md]

(a) proxy:  load generators -> zmq.proxy (ROUTER/DEALER, C) -> echo worker. Each load generator
    holds its share of `connections` DEALER sockets (a TCP connection each), every socket keeping
    one hn-runtime `echo.echo` request in flight ([envelope, body], the envelope filled as a
    broker fills it), read through epoll on the sockets' ZMQ_FDs.
(b) broker: load generators -> `connections` TCP connections, each logged in (sso.guest_login
    through the broker) and keeping one framed `echo.echo` packet in flight -> broker -> the same
    echo worker, over hn-runtime's client (the broker's production path: auth gate, session
    stamping, rate limiting, stats).
(c) ws, tls, wss: (b) with the players on the broker's other schemes: one packet per binary
    WebSocket message; framed packets in TLS (a local CA's certificate); WebSocket in TLS. tcp and
    ws are one broker process, tls and wss another (a broker with a certificate speaks TLS on
    both its ports). Targets: ws_rps >= 0.7 * broker_rps, tls_rps >= 0.6 * broker_rps.

A fair baseline: the proxy gets as many client sockets and load-generator processes as the
broker gets connections and processes (`--generators` of each, `connections` split among them;
until issue 20 the proxy was fed by one DEALER, which limited it more than the proxy itself did).
The generators of a contender open their connections, then start their loaded phases together
(`_harness.run_loads`); the first of them measures the latency at concurrency 1 before.

The echo worker (`_echo.py`) is a blocking pyzmq ROUTER loop that answers hn-runtime requests
itself (envelope kind turned into REPLY, the `echo_args` struct into an `echo_result`): no
framework in the way, so the figures are the hop's, not a Python service's. Worker, proxy, broker
and each load generator are separate processes; the data tier and sso are there for the logins
only (`_broker_rig.py`). The broker runs with its per-connection packet rate limit raised (clients
of a game send far fewer packets than a benchmark): the token bucket is still checked on every
packet.

Figures: throughput with `connections` requests in flight (the generators' sum); p50/p99 at
concurrency 1 (`*_p50_us`, `*_p99_us`) and under the full load (`*_loaded_p50_us`: the generators'
median, `*_loaded_p99_us`: their worst); the CPU time the hop process spent per request of the
loaded phase (`*_hop_cpu_us`, all its threads, user + system). Contenders alternate over `rounds`
rounds and each figure is the median of its rounds. Only the ratios mean much on a shared 2-core
machine. Targets (issue 20): broker_rps >= 0.7 * proxy_rps, broker_hop_cpu_us <= 2 * proxy_hop_cpu_us.
With `--readme PATH` (or HN_BENCH_README) the figures replace the "broker" block of that file.

Where the broker's time goes (py-spy, before and after issue 20's work): docs/performance.md.
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
from _echo import REPLY_HEAD
from _harness import (
    child,
    cpu_seconds,
    generator,
    generators_go,
    load_arguments,
    load_dealer,
    load_role,
    readme_argument,
    report,
    run_loads,
    run_role,
    serial_latencies,
    write_figures,
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
    """`concurrency` DEALER sockets (a TCP connection each, as the broker's players have), each
    keeping one hn-runtime `echo.echo` request in flight, read through epoll on their ZMQ_FDs."""
    import select

    import zmq

    from hn_idl.echo import Echo  # pants: no-infer-dep (generated service module)
    from hn_runtime.wire import encode, encode_request_envelope, spec_of

    socks = [load_dealer(endpoint) for _ in range(concurrency)]
    body = encode(Echo.echo_args(payload=payload), spec_of(Echo.echo_args))
    deadline_ms = int((time.time() + 3600) * 1000)
    # The envelope a broker sends: method, request id, session, trace id, deadline, sender, client.
    heads = [
        encode_request_envelope("echo", i, "1234567", f"{i:016x}", deadline_ms, "broker-bench", "127.0.0.1:9")
        for i in range(concurrency)
    ]

    def one(i: int) -> None:
        socks[i].send_multipart([heads[i], body])
        head, reply = socks[i].recv_multipart()
        if head[:7] != REPLY_HEAD or reply[3:] != body[3:]:
            raise SystemExit(f"bad reply {head!r} {reply!r}")

    for i in range(concurrency):
        one(i)  # every socket connected and answered once
    lat = serial_latencies(lambda: one(0), seconds / 2) if generator()[0] == 0 else []
    generators_go()
    poller = select.epoll()
    slot = {}
    for i, sock in enumerate(socks):
        fd = sock.getsockopt(zmq.FD)
        poller.register(fd, select.EPOLLIN)
        slot[fd] = i
    events_opt, pollin, noblock = int(zmq.EVENTS), int(zmq.POLLIN), int(zmq.NOBLOCK)
    sent_at = [0.0] * concurrency
    loaded: list[float] = []
    now = time.perf_counter
    for i, sock in enumerate(socks):
        sent_at[i] = now()
        sock.send_multipart([heads[i], body])
    n = 0
    outstanding = concurrency
    start = now()
    end = start + seconds
    sending = True
    elapsed, counted = seconds, 0
    # A send can take in zmq's news, and with it the readable signal of a reply already there:
    # every socket is asked once after the first sends, and again after each send (the `while`).
    ready = [(fd, select.EPOLLIN) for fd in slot]
    while outstanding:
        if not ready:
            ready = poller.poll(30)
            if not ready:
                raise SystemExit("no reply through the proxy within 30 s")
        t = now()
        if sending and t >= end:
            sending = False
            elapsed = t - start
            counted = n
        for fd, _ in ready:
            i = slot[fd]
            sock = socks[i]
            # ZMQ_FD only says zmq has news: ask whether a message waits (it also rearms the fd).
            while sock.getsockopt(events_opt) & pollin:
                head, _reply = sock.recv_multipart(noblock)
                if head[:7] != REPLY_HEAD:
                    raise SystemExit(f"bad reply {head!r}")
                n += 1
                outstanding -= 1
                loaded.append(t - sent_at[i])
                if sending:
                    sent_at[i] = t
                    sock.send_multipart([heads[i], body])
                    outstanding += 1
        ready = []
    for sock in socks:
        sock.close(linger=0)
    return _figures(counted / elapsed, lat, loaded)


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

    lat = serial_latencies(lambda: one(first), seconds / 2) if generator()[0] == 0 else []
    generators_go()
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
    return _figures(counted / elapsed, lat, loaded)


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


def _figures(rps: float, lat: list[float], loaded: list[float]) -> dict[str, Any]:
    """A load generator's figures (latency at concurrency 1 from the first generator only);
    `loaded_requests`: every round trip of its loaded phase, those still in flight at its end too."""
    return {
        "rps": rps,
        "loaded_requests": len(loaded),
        "p50_us": percentile(lat, 0.5) * 1e6 if lat else None,
        "p99_us": percentile(lat, 0.99) * 1e6 if lat else None,
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
    """`args.generators` load generators against `target`, together; their figures combined,
    with the CPU time the hop process spent per request of the loaded phase."""
    cpu_at_go: list[float] = []
    runs = run_loads(
        __file__,
        f"client-{role}",
        target,
        args.seconds,
        args.connections,
        args.payload,
        args.generators,
        on_go=lambda: cpu_at_go.append(cpu_seconds(hop_pid)),
    )
    figures = {key: runs[0][key] for key in ("p50_us", "p99_us")}
    figures["rps"] = sum(r["rps"] for r in runs)
    # Percentiles do not add up: the generators' middle p50, and their worst p99.
    figures["loaded_p50_us"] = statistics.median(r["loaded_p50_us"] for r in runs)
    figures["loaded_p99_us"] = max(r["loaded_p99_us"] for r in runs)
    # What the hop itself spent per request (the proxy's threads, or the broker's) while the
    # generators ran together: less at the mercy of the machine's other load than throughput.
    loaded = sum(r["loaded_requests"] for r in runs)
    figures["hop_cpu_us"] = (cpu_seconds(hop_pid) - cpu_at_go[0]) / loaded * 1e6
    return figures


def main() -> None:
    import tempfile

    from hn_broker import make_local_ca

    parser = load_arguments(__doc__)
    parser.add_argument(
        "--connections",
        type=int,
        default=100,
        help="requests in flight: connections (broker) or DEALER sockets (proxy)",
    )
    parser.add_argument(
        "--generators",
        type=int,
        default=2,
        help="load-generator processes per contender, the connections split among them",
    )
    readme_argument(parser)
    args = parser.parse_args()

    result: dict[str, Any] = {
        "payload_bytes": args.payload,
        "concurrency": args.connections,
        "generators": args.generators,
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
    result["broker_target_met"] = result["broker_vs_proxy_rps"] >= 0.7 and result["broker_vs_proxy_hop_cpu"] <= 2.0
    result["targets_met"] = result["broker_target_met"] and all(
        result[f"{name}_vs_tcp_rps"] >= share for name, share in SCHEME_TARGETS.items()
    )
    report(result, args.json)
    write_figures(args, "broker", figures_table(result), "./pants run bench/broker.py -- --json --readme README.md")


def figures_table(r: dict[str, Any]) -> str:
    """The README's figures block for a result of `main`."""
    met = "met" if r["broker_target_met"] else "missed"
    return f"""\
One forwarding hop in front of the same echo worker, {r['concurrency']:,} requests in flight from
{r['generators']} load-generator processes per contender ({r['payload_bytes']} B payloads, median of
{r['rounds']} alternating rounds of {r['seconds']:g} s). The zmq.proxy contender gets as many DEALER
sockets as the broker gets TCP connections.

| contender | round trips/s | p50 / p99 at concurrency 1 | p50 / p99 loaded | CPU per hop |
|---|---|---|---|---|
| zmq.proxy (C), {r['concurrency']} DEALER sockets | {r['proxy_rps']:,} | {r['proxy_p50_us']} / {r['proxy_p99_us']} µs \
| {r['proxy_loaded_p50_us']} / {r['proxy_loaded_p99_us']} µs | {r['proxy_hop_cpu_us']} µs |
| broker, {r['concurrency']} TCP players | {r['broker_rps']:,} | {r['broker_p50_us']} / {r['broker_p99_us']} µs \
| {r['broker_loaded_p50_us']} / {r['broker_loaded_p99_us']} µs | {r['broker_hop_cpu_us']} µs |
| broker, WebSocket | {r['ws_rps']:,} ({r['ws_vs_tcp_rps']}x tcp) | {r['ws_p50_us']} / {r['ws_p99_us']} µs \
| {r['ws_loaded_p50_us']} / {r['ws_loaded_p99_us']} µs | {r['ws_hop_cpu_us']} µs |
| broker, TLS | {r['tls_rps']:,} ({r['tls_vs_tcp_rps']}x tcp) | {r['tls_p50_us']} / {r['tls_p99_us']} µs \
| {r['tls_loaded_p50_us']} / {r['tls_loaded_p99_us']} µs | {r['tls_hop_cpu_us']} µs |
| broker, WebSocket in TLS | {r['wss_rps']:,} ({r['wss_vs_tcp_rps']}x tcp) | {r['wss_p50_us']} / {r['wss_p99_us']} µs \
| {r['wss_loaded_p50_us']} / {r['wss_loaded_p99_us']} µs | {r['wss_hop_cpu_us']} µs |

Broker / proxy: **{r['broker_vs_proxy_rps']}x** the round trips (target ≥ 0.7x), **{r['broker_vs_proxy_hop_cpu']}x**
the CPU per hop (target ≤ 2x): {met}. Schemes: ws ≥ 0.7x and tls ≥ 0.6x the broker's TCP.
"""


if __name__ == "__main__":
    if not run_role(ROLES):
        main()
