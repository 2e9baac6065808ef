"""The fault proxy against a real echo server over loopback TCP: every fault, each direction."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import gevent
import gevent.server
import pytest

from hn_chaos import FaultProxy
from hn_runtime.testing import wait_for


@dataclass
class Echo:
    """Echoes what it reads, and remembers how much it was sent."""

    received: int = 0
    connections: int = 0
    server: gevent.server.StreamServer | None = field(default=None, repr=False)

    def handle(self, sock: socket.socket, _address: object) -> None:
        self.connections += 1
        with contextlib.suppress(OSError):
            while data := sock.recv(65536):
                self.received += len(data)
                sock.sendall(data)
        sock.close()

    @property
    def address(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.server_port}"


@pytest.fixture
def echo() -> Iterator[Echo]:
    e = Echo()
    e.server = gevent.server.StreamServer(("127.0.0.1", 0), e.handle)
    e.server.start()
    yield e
    e.server.stop(timeout=1)


@pytest.fixture
def proxy(echo: Echo) -> Iterator[FaultProxy]:
    with FaultProxy(echo.address) as p:
        yield p


def connect(proxy: FaultProxy) -> socket.socket:
    host, _, port = proxy.address.rpartition(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    return sock


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def nothing_to_read(sock: socket.socket) -> bool:
    """True when no byte is waiting on `sock` right now (it is not closed either)."""
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    finally:
        sock.setblocking(True)
    return False


def test_forwards_both_ways_and_passes_the_half_close_on(proxy: FaultProxy, echo: Echo) -> None:
    with connect(proxy) as sock:
        payload = bytes(range(256)) * 1000
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
        sock.shutdown(socket.SHUT_WR)  # the echo server sees end-of-file, closes, and so do we
        assert sock.recv(1) == b""
    assert proxy.stats.bytes == {"up": len(payload), "down": len(payload)}
    wait_for(lambda: proxy.connections == 0, message="the proxied connection closed")


def test_latency_delays_every_byte_and_keeps_order(proxy: FaultProxy) -> None:
    proxy.latency(0.15, jitter=0.05, direction="up")
    with connect(proxy) as sock:
        started = time.monotonic()
        for i in range(20):
            sock.sendall(f"{i:03d}".encode())
        got = recv_exactly(sock, 60)
        assert time.monotonic() - started >= 0.15  # a lower bound: the delay is never shorter
        assert got == b"".join(f"{i:03d}".encode() for i in range(20))
        proxy.heal()
        sock.sendall(b"x")
        assert recv_exactly(sock, 1) == b"x"


def test_stall_holds_bytes_until_heal_and_loses_none(proxy: FaultProxy, echo: Echo) -> None:
    with connect(proxy) as sock:
        proxy.stall("up")
        sock.sendall(b"held back")
        wait_for(lambda: proxy.stats.read["up"] == 9, message="the proxy to read the request")
        assert echo.received == 0
        proxy.heal()
        assert recv_exactly(sock, 9) == b"held back"
        assert echo.received == 9


def test_stalled_replies_arrive_after_the_request_ran(proxy: FaultProxy, echo: Echo) -> None:
    with connect(proxy) as sock:
        proxy.stall("down")
        sock.sendall(b"ping")
        wait_for(lambda: echo.received == 4 and proxy.stats.read["down"] == 4, message="the echo, held by the proxy")
        assert nothing_to_read(sock)
        proxy.heal()
        assert recv_exactly(sock, 4) == b"ping"


def test_blackhole_drops_bytes_and_heal_resets_the_streams_that_lost_some(proxy: FaultProxy, echo: Echo) -> None:
    with connect(proxy) as lossy, connect(proxy) as idle:
        wait_for(lambda: proxy.connections == 2, message="two connections through the proxy")
        proxy.blackhole()
        lossy.sendall(b"into the void")
        wait_for(lambda: proxy.stats.dropped["up"] == 13, message="the bytes dropped")
        assert echo.received == 0
        proxy.heal()
        with pytest.raises(ConnectionResetError):
            lossy.recv(1)
        idle.sendall(b"still fine")  # it lost nothing: it carries on
        assert recv_exactly(idle, 10) == b"still fine"


def test_blackhole_of_replies_only_lets_requests_run(proxy: FaultProxy, echo: Echo) -> None:
    with connect(proxy) as sock:
        proxy.blackhole("down")
        sock.sendall(b"done but never confirmed")
        wait_for(lambda: echo.received == 24 and proxy.stats.dropped["down"] == 24, message="request ran, reply lost")
        assert nothing_to_read(sock)


def test_new_connections_into_a_blackhole_hear_nothing(proxy: FaultProxy, echo: Echo) -> None:
    proxy.blackhole()
    with connect(proxy) as sock:
        sock.sendall(b"hello?")
        wait_for(lambda: proxy.stats.dropped["up"] == 6, message="the greeting dropped")
        assert nothing_to_read(sock) and echo.received == 0


def test_reset_sends_rst_to_every_open_connection(proxy: FaultProxy) -> None:
    socks = [connect(proxy) for _ in range(3)]
    try:
        wait_for(lambda: proxy.connections == 3, message="three connections through the proxy")
        assert proxy.reset() == 3
        for sock in socks:
            with pytest.raises(ConnectionResetError):
                sock.recv(1)
        with connect(proxy) as fresh:  # the port still works
            fresh.sendall(b"again")
            assert recv_exactly(fresh, 5) == b"again"
    finally:
        for sock in socks:
            sock.close()


def test_refuse_resets_new_connections_until_healed(proxy: FaultProxy) -> None:
    proxy.refuse()
    with connect(proxy) as sock, pytest.raises(ConnectionResetError):
        sock.sendall(b"x")
        sock.recv(1)
    assert proxy.stats.refused == 1
    proxy.heal()
    with connect(proxy) as sock:
        sock.sendall(b"y")
        assert recv_exactly(sock, 1) == b"y"


def test_a_dead_upstream_resets_the_client() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"  # bound, not listening: connections are refused
        with FaultProxy(dead) as proxy, connect(proxy) as sock, pytest.raises((ConnectionResetError, EOFError)):
            if not sock.recv(1):
                raise EOFError
        assert proxy.stats.upstream_failures == 1


def test_fault_context_heals_on_exit(proxy: FaultProxy) -> None:
    with proxy.fault("latency", 0.05, direction="down"):
        assert proxy.faults["down"]["latency"] == 0.05
    assert proxy.faults["down"]["latency"] == 0.0
    with pytest.raises(ValueError):
        proxy.stall("sideways")


def test_stop_closes_everything(echo: Echo) -> None:
    proxy = FaultProxy(echo.address).start()
    sock = connect(proxy)
    wait_for(lambda: proxy.connections == 1, message="one connection")
    proxy.stop()
    with sock:
        assert sock.recv(1) == b""
    assert proxy.connections == 0
