"""Hosts, links and faults of one shared network (each test heals what it broke)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hn_netns import Link, Network
from hn_netns._addresses import machine_networks
from hn_process import child_env, wait_until

from _probes import UdpListener, connect_times, connects, tcp_listener, udp_sender

# A connect that gets no answer in this long was dropped (an answered one takes milliseconds).
CUT_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def network() -> Iterator[Network]:
    with Network(["a", "b", "c"]) as net:
        yield net


@pytest.fixture
def net(network: Network) -> Iterator[Network]:
    yield network
    network.heal()
    for host in network.hosts:
        network.set_link(host, **vars(Link()))
        for process in host.processes:
            process.kill()


def test_a_process_in_a_host_listens_on_its_address_and_other_hosts_reach_it(net: Network) -> None:
    a, b, c = net.hosts
    assert len({a.address, b.address, c.address}) == 3
    assert not any(net.subnet.overlaps(network) for network in machine_networks())
    port = tcp_listener(b)
    assert connects(a, b.address, port, timeout=5)
    assert connects(c, b.address, port, timeout=5)
    # The hosts have a route to their subnet and no other: no way out of the harness.
    assert [route.split()[0] for route in a.run(["ip", "-4", "route"]).splitlines()] == [str(net.subnet)]
    (outcome,) = connect_times(a, "192.0.2.1", 80, timeout=CUT_TIMEOUT)
    assert outcome == "error 101"  # ENETUNREACH


def test_the_links_delay_is_felt(net: Network) -> None:
    a, b, _ = net.hosts
    port = tcp_listener(b)
    # A connect is one round trip: out through a's link and b's, and back through both. Each
    # crossing waits at least delay - jitter, so these are lower bounds, whatever the machine's load.
    default = Link()
    at_least = 4 * (default.delay_ms - default.jitter_ms) / 1000
    assert min(float(t) for t in connect_times(a, b.address, port, count=5)) >= at_least
    net.set_link(a, delay_ms=30, jitter_ms=0, loss=0)
    assert net.link(a) == Link(30, 0, 0)
    assert min(float(t) for t in connect_times(a, b.address, port, count=3)) >= 2 * 0.030


def test_a_cut_stops_traffic_both_ways_and_a_heal_restores_it(net: Network) -> None:
    a, b, c = net.hosts
    port_a, port_b = tcp_listener(a), tcp_listener(b)
    net.cut(a, b)
    assert net.blocked() == {("a", "b"), ("b", "a")}
    assert not connects(a, b.address, port_b, timeout=CUT_TIMEOUT)
    assert not connects(b, a.address, port_a, timeout=CUT_TIMEOUT)
    assert connects(c, b.address, port_b, timeout=5)  # only the pair is cut
    assert connects(c, a.address, port_a, timeout=5)
    assert net.dropped_by_cuts(b) >= 1
    net.heal()
    assert net.blocked() == frozenset()
    wait_until(lambda: connects(a, b.address, port_b, timeout=1), timeout=10, scaled=True)
    wait_until(lambda: connects(b, a.address, port_a, timeout=1), timeout=10, scaled=True)


def test_a_one_way_cut_a_hears_b_and_b_does_not_hear_a(net: Network, tmp_path: Path) -> None:
    a, b, _ = net.hosts
    at_a, at_b = UdpListener(a, tmp_path / "a.log"), UdpListener(b, tmp_path / "b.log")
    net.cut(a, b, one_way=True)
    assert net.blocked() == {("a", "b")}
    # B's datagrams reach A...
    udp_sender(b, at_a, "from-b", interval=0.01, count=1000)
    at_a.wait_for("from-b-5")
    # ...A's do not reach B: B drops them on arrival (proof they were sent), and logs none.
    before = net.dropped_by_cuts(b)
    blocked = udp_sender(a, at_b, "lost", interval=0.01)
    wait_until(lambda: net.dropped_by_cuts(b) >= before + 5, timeout=10, scaled=True)
    blocked.kill()
    blocked.wait()
    net.heal()
    udp_sender(a, at_b, "after-heal", interval=0.01, count=1000)
    at_b.wait_for("after-heal-5")
    assert not [line for line in at_b.received() if line.startswith("lost")]


def test_a_partition_splits_the_network_into_sides(net: Network) -> None:
    a, b, c = net.hosts
    port_a, port_c = tcp_listener(a), tcp_listener(c)
    net.partition([a], [b, c])
    assert net.blocked() == {("a", "b"), ("b", "a"), ("a", "c"), ("c", "a")}
    assert connects(b, c.address, port_c, timeout=5)
    assert not connects(c, a.address, port_a, timeout=CUT_TIMEOUT)
    net.heal(a, c)
    assert net.blocked() == {("a", "b"), ("b", "a")}
    wait_until(lambda: connects(c, a.address, port_a, timeout=1), timeout=10, scaled=True)
    net.heal()
    net.isolate(c)
    assert net.blocked() == {("c", "a"), ("a", "c"), ("c", "b"), ("b", "c")}


def test_a_flapping_link_goes_down_and_up_until_stopped(net: Network, tmp_path: Path) -> None:
    a, b, _ = net.hosts
    net.set_link(a, loss=0)
    net.set_link(b, loss=0)
    at_b = UdpListener(b, tmp_path / "b.log")
    sender = udp_sender(a, at_b, "n", interval=0.005)
    at_b.wait_for("n-0")
    with net.flap(a, down_s=0.2, up_s=0.2) as flap:
        wait_until(lambda: flap.downs >= 2, timeout=10, scaled=True)
    assert net.blocked() == frozenset()
    # Everything since the flap stopped arrives again; while it was down, a run of datagrams did not.
    last_sent = wait_until(lambda: _numbers(at_b)[-1], timeout=10, scaled=True)
    at_b.wait_for(f"n-{last_sent + 10}")
    sender.kill()
    received = _numbers(at_b)
    gaps = [later - earlier - 1 for earlier, later in zip(received, received[1:], strict=False)]
    assert max(gaps) >= 5, gaps
    assert net.dropped_by_cuts(b) >= 5


def _numbers(listener: UdpListener) -> list[int]:
    return [int(line.rpartition("-")[2]) for line in listener.received()]


_REP = """
import sys, zmq
rep = zmq.Context().socket(zmq.REP)
port = rep.bind_to_random_port(f"tcp://{sys.argv[1]}")
print(port, flush=True)
while True:
    rep.send_string(f"{rep.recv_string()} from {sys.argv[1]}")
"""

_REQ = """
import sys, zmq
req = zmq.Context().socket(zmq.REQ)
req.setsockopt(zmq.RCVTIMEO, 10000)
req.connect(sys.argv[1])
for n in range(3):
    req.send_string(f"ping {n}")
    print(req.recv_string(), flush=True)
"""


def test_zeromq_request_reply_across_two_hosts(net: Network) -> None:
    _, b, c = net.hosts
    server = b.popen([sys.executable, "-c", _REP, b.address], env=child_env(), stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    port = int(server.stdout.readline())
    replies = c.run([sys.executable, "-c", _REQ, f"tcp://{b.address}:{port}"], timeout=60)
    assert replies.splitlines() == [f"ping {n} from {b.address}" for n in range(3)]
