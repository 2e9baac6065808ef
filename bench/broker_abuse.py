"""Broker abuse benchmark: logged-in players' round trips alone, beside a process that burns a
core, beside a process that abuses the same broker, and beside one connection flooding it.

    ./pants run bench/broker_abuse.py -- --json [--seconds 3] [--bystanders 20] [--payload 64] [--rounds 3]
        [--readme README.md]

A broker with every production limit, in front of the echo worker (`_broker_rig.py`, `_echo.py`):
`bystanders` logged-in players each send an echo 50 times a second (within the rate limit) and
time their round trips, alone and while another process abuses the same broker (unauthenticated
calls, malformed and oversized frames, a logged-in flood past the rate limit, 50 slowloris
connections; a caller the broker cuts off for flooding comes back at once). Target: the
bystanders' p99 under abuse within 2x of their p99 alone (`bystander_abused_vs_normal_p99` <= 2).
The abuser is a process of its own on the same 2 cores: part of what it costs the bystanders is
the core it takes, so a control runs too, a process that only burns a core (`hogged`), and
`bystander_abused_vs_hogged_p99` is what the abuse costs beyond that: held to the same 2x (issue
20: against a noisy normal run the first ratio flattered the broker, 1.38x where the same run's
control said 2.05x). Both ratios are reported, and both count for `targets_met`.

The flood (`flooded`, issue 16's attack): one connection sending pings as fast as the broker
takes them and reading every answer, connecting again whenever the broker cuts it off. Targets:
the bystanders' p99 within 2x of the same run's p99 alone (`bystander_flooded_vs_normal_p99`),
and the flood costs the broker under 30% of a core (`broker_flood_cost_cores` < 0.3): the broker
process's CPU time per second while the flood runs, less the same while the bystanders run alone
(each is `broker_cpu_cores_*`, from /proc over the whole bystander run, logins included).

The four alternate over `rounds` rounds and each figure is the median of its rounds.

With `--readme PATH` (or HN_BENCH_README) the figures replace the "broker-abuse" block of that
file. The broker's throughput against zmq.proxy is broker.py's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from hn_stats import percentile

from _broker_rig import backends, broker, logged_in
from _harness import (
    child_env,
    cpu_seconds,
    load_arguments,
    load_role,
    readme_argument,
    report,
    run_load,
    run_role,
    write_figures,
)

#: echo requests per second from each bystander player: half the broker's production rate limit
_PLAYER_RATE = 50.0


# -- the players, the abuser and the control (child processes) -------------------------------


def client_bystanders(address: str, seconds: float, players: int, payload: bytes) -> dict[str, Any]:
    """`players` logged-in players, each sending one echo every 1/_PLAYER_RATE s (within the
    broker's production rate limit, as a game client would) and timing its round trips."""
    import select

    from hn_idl.client.ttypes import PacketKind

    clients = logged_in(address, players, "bystander")
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


def _answered(client: Any, data: bytes, count: int) -> bool:
    """Send `data` and read `count` answers; False if the broker cut the connection off."""
    try:
        client.send(data)
        return all(client.read() is not None for _ in range(count))
    except OSError:
        return False


def abuse(address: str) -> None:
    """The abusers, until stdin closes: unauthenticated calls, malformed and oversized frames,
    a logged-in flood (far past the rate limit), and 50 slowloris connections holding half a
    header all along; a caller cut off for flooding connects (and logs in) again at once.
    Prints "ready" after the first round, then the packets sent as JSON."""
    import select

    from hn_client.testing import RawClient

    slowloris = [RawClient(address) for _ in range(50)]
    for loris in slowloris:
        loris.send(b"\x00\x00")  # half a length prefix, never finished
    unauthenticated = RawClient(address)
    (flooder,) = logged_in(address, 1, "abuser")
    calls = unauthenticated.request("echo.echo", payload=b"u" * 32) * 20
    flood = flooder.request("echo.echo", payload=b"f" * 32) * 50
    counts = {"unauthenticated": 0, "malformed": 0, "oversized": 0, "flood": 0, "slowloris": len(slowloris)}
    cut_off = 0
    first = True
    while not select.select([sys.stdin], [], [], 0)[0]:
        if not _answered(unauthenticated, calls, 20):
            cut_off += 1
            unauthenticated = RawClient(address)
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
        if not _answered(flooder, flood, 50):
            cut_off += 1
            (flooder,) = logged_in(address, 1, "abuser")
        counts["flood"] += 50
        if first:
            print("ready", flush=True)
            first = False
    print(json.dumps({**counts, "cut_off": cut_off}), flush=True)


def flood(address: str) -> None:
    """One connection sending pings as fast as the broker takes them and reading every answer,
    until stdin closes; cut off, it connects again at once. Prints "ready" once flooding, then
    its figures as JSON: pings sent, pongs and refusals read, times cut off."""
    import select

    from hn_client.testing import RawClient
    from hn_idl.client.ttypes import PacketKind

    client = RawClient(address)
    ping = len(client.packet(kind=PacketKind.PING))
    batch = b"".join(client.packet(kind=PacketKind.PING) for _ in range(1000))
    pong = int(PacketKind.PONG).to_bytes(4, "big")
    counts = {"pongs": 0, "refusals": 0, "cut_off": 0}
    sent_bytes = 0
    sock = client.sock
    sock.setblocking(False)
    out = memoryview(batch)
    buf = b""
    print("ready", flush=True)
    while not select.select([sys.stdin], [], [], 0)[0]:
        readable, writable, _ = select.select([sock], [sock], [], 0.05)
        try:
            if writable:
                sent = sock.send(out)
                sent_bytes += sent
                out = out[sent:] if sent < len(out) else memoryview(batch)
            if readable:
                data = sock.recv(65536)
                if not data:
                    raise ConnectionResetError("closed by the broker")
                buf += data
                while len(buf) >= 4 and len(buf) >= 4 + int.from_bytes(buf[:4], "big"):
                    counts["pongs" if buf[12:16] == pong else "refusals"] += 1
                    buf = buf[4 + int.from_bytes(buf[:4], "big") :]
        except OSError:
            counts["cut_off"] += 1
            sock.close()
            sock = RawClient(address).sock
            sock.setblocking(False)
            out, buf = memoryview(batch), b""
    sock.close()
    print(json.dumps({"pings": sent_bytes // ping, **counts}), flush=True)


def hog() -> None:
    """The control for `abuse`: a process that only burns a core, until stdin closes."""
    import select

    print("ready", flush=True)
    spins = 0
    while not select.select([sys.stdin], [], [], 0)[0]:
        for _ in range(10_000):
            spins += 1
    print(json.dumps({"spins": spins}), flush=True)


#: what this file runs as in a child process (`_harness.run_role`)
ROLES: dict[str, Callable[..., Any]] = {
    "client-bystanders": load_role(client_bystanders),
    "abuse": abuse,
    "flood": flood,
    "hog": hog,
}


# -- orchestration --------------------------------------------------------------------------


def _bystander_under_abuse(address: str, broker_pid: int, args: argparse.Namespace) -> dict[str, Any]:
    """Logged-in players' echo round trips (`client_bystanders`) alone, then while `hog`, `abuse`
    and `flood` run in another process, with the broker's CPU time over each; rounds alternate
    and each figure is the median of its rounds."""
    runs: dict[str, list[dict[str, Any]]] = {"normal": [], "hogged": [], "abused": [], "flooded": []}
    sent: list[float] = []
    floods: list[dict[str, Any]] = []

    def bystander() -> dict[str, Any]:
        """The bystanders' figures, with the broker's CPU time per second meanwhile ("broker_cores")."""
        cpu, started = cpu_seconds(broker_pid), time.perf_counter()
        figures = run_load(__file__, "client-bystanders", address, args.seconds, args.bystanders, args.payload)
        figures["broker_cores"] = (cpu_seconds(broker_pid) - cpu) / (time.perf_counter() - started)
        return figures

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
        runs["normal"].append(bystander())
        runs["hogged"].append(beside("hog")[0])
        figures, counts, elapsed = beside("abuse", address)
        runs["abused"].append(figures)
        sent.append(sum(v for k, v in counts.items() if k not in ("slowloris", "cut_off")) / elapsed)
        figures, counts, elapsed = beside("flood", address)
        runs["flooded"].append(figures)
        floods.append({**counts, "seconds": elapsed})

    def median(phase: str, key: str, digits: int = 1) -> float:
        return round(float(statistics.median(r[key] for r in runs[phase])), digits)

    result: dict[str, Any] = {"bystanders": args.bystanders}
    for phase in runs:
        prefix = "bystander" if phase == "normal" else f"bystander_{phase}"
        result[f"{prefix}_p50_us"] = median(phase, "p50_us")
        result[f"{prefix}_p99_us"] = median(phase, "p99_us")
    result["bystander_errors"] = sum(r["errors"] for phase in runs.values() for r in phase)
    result["abuse_packets_per_s"] = round(statistics.median(sent))
    for key in ("abused", "flooded"):
        result[f"bystander_{key}_vs_normal_p99"] = round(
            result[f"bystander_{key}_p99_us"] / result["bystander_p99_us"], 2
        )
    # What the abuse costs beyond taking a core of this 2-core machine (the hog's cost).
    result["bystander_abused_vs_hogged_p99"] = round(
        result["bystander_abused_p99_us"] / result["bystander_hogged_p99_us"], 2
    )
    for phase in runs:
        result[f"broker_cpu_cores_{phase}"] = median(phase, "broker_cores", 3)
    # Each round's flood against the same round's bystanders alone: the broker's CPU the flood took.
    costs = [f["broker_cores"] - n["broker_cores"] for f, n in zip(runs["flooded"], runs["normal"], strict=True)]
    result["broker_flood_cost_cores"] = round(float(statistics.median(costs)), 3)
    result["flood_pings_per_s"] = round(statistics.median(f["pings"] / f["seconds"] for f in floods))
    result["flood_answers_per_s"] = round(
        statistics.median((f["pongs"] + f["refusals"]) / f["seconds"] for f in floods)
    )
    result["flood_cut_off_per_s"] = round(statistics.median(f["cut_off"] / f["seconds"] for f in floods), 2)
    return result


def main() -> None:
    parser = load_arguments(__doc__)
    parser.add_argument("--bystanders", type=int, default=20, help="players timed, normal and under abuse")
    readme_argument(parser)
    args = parser.parse_args()

    with backends() as to, broker(to, 20_000, "production") as guarded:
        figures = _bystander_under_abuse(guarded["endpoints"]["client"], guarded["pid"], args)
    result = {"payload_bytes": args.payload, "rounds": args.rounds, "seconds": args.seconds, **figures}
    result["targets_met"] = (
        result["bystander_abused_vs_normal_p99"] <= 2.0
        and result["bystander_abused_vs_hogged_p99"] <= 2.0
        and result["bystander_flooded_vs_normal_p99"] <= 2.0
        and result["broker_flood_cost_cores"] < 0.3
    )
    report(result, args.json)
    command = "./pants run bench/broker_abuse.py -- --json --readme README.md"
    write_figures(args, "broker-abuse", figures_table(result), command)


def figures_table(r: dict[str, Any]) -> str:
    """The README's figures block for a result of `main`."""

    def ms(key: str) -> str:
        return f"{r[key] / 1000:.1f} ms"

    def verdict(ok: bool) -> str:
        return "met" if ok else "missed"

    cost = r["broker_flood_cost_cores"]
    # A difference of two noisy CPU readings can come out below zero: say so rather than print a negative cost.
    flood_cost = (
        f"{cost} of a core"
        if cost > 0
        else f"nothing measurable (the rounds' difference, {cost} of a core, is within their noise)"
    )
    return f"""\
{r['bystanders']} logged-in players, each sending a {r['payload_bytes']} B echo 50 times a second, on one broker
with every production limit (median of {r['rounds']} alternating rounds of {r['seconds']:g} s).

| beside the players | their p50 | their p99 | p99 vs alone | p99 vs the core-burner | broker CPU |
|---|---|---|---|---|---|
| nothing (alone) | {ms('bystander_p50_us')} | {ms('bystander_p99_us')} | 1x | | {r['broker_cpu_cores_normal']} cores |
| a process burning a core (control) | {ms('bystander_hogged_p50_us')} | {ms('bystander_hogged_p99_us')} \
| {round(r['bystander_hogged_p99_us'] / r['bystander_p99_us'], 2)}x | 1x | {r['broker_cpu_cores_hogged']} cores |
| an abuser process ({r['abuse_packets_per_s']:,} packets/s: unauthenticated calls, malformed and oversized \
frames, a flood past the rate limit, 50 slowloris) | {ms('bystander_abused_p50_us')} | {ms('bystander_abused_p99_us')} \
| **{r['bystander_abused_vs_normal_p99']}x** | **{r['bystander_abused_vs_hogged_p99']}x** | {r['broker_cpu_cores_abused']} cores |
| one connection flooding pings ({r['flood_pings_per_s']:,}/s sent, {r['flood_answers_per_s']:,}/s answered, \
cut off {r['flood_cut_off_per_s']}/s) | {ms('bystander_flooded_p50_us')} | {ms('bystander_flooded_p99_us')} \
| **{r['bystander_flooded_vs_normal_p99']}x** | | {r['broker_cpu_cores_flooded']} cores |

Targets (p99 within 2x): abuse vs alone {verdict(r['bystander_abused_vs_normal_p99'] <= 2)}, abuse vs the \
same run's core-burning control {verdict(r['bystander_abused_vs_hogged_p99'] <= 2)}, flood vs alone \
{verdict(r['bystander_flooded_vs_normal_p99'] <= 2)}; the flood costs the broker {flood_cost} \
(target < 0.3 of a core): {verdict(r['broker_flood_cost_cores'] < 0.3)}. Errors seen by the players: {r['bystander_errors']}.
"""


if __name__ == "__main__":
    if not run_role(ROLES):
        main()
