"""A connection's round trip, as the broker stamps it on forwarded requests (Envelope.client_rtt_us):
read from the kernel's view of a real TCP connection."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import gevent
import pytest

from hn_broker._config import ClientLimits
from hn_broker._connection import ClientConnection
from hn_idl.client.ttypes import Packet

pytestmark = pytest.mark.integration


class _Owner:
    def dispatch(self, conn: ClientConnection, packet: Packet) -> None: ...

    def closed(self, conn: ClientConnection, reason: str) -> None: ...

    def count_refusal(self, code: int) -> None: ...


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    try:
        yield client, server
    finally:
        client.close()
        server.close()


def test_a_tcp_connection_reports_its_round_trip(tcp_pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = tcp_pair
    server.setblocking(False)
    conn = ClientConnection(_Owner(), ClientLimits(), gevent.get_hub().loop, server, "127.0.0.1:1")
    try:
        for _ in range(5):  # a few exchanges: the kernel's samples come from acknowledged data
            conn.send(b"ping")
            assert client.recv(16) == b"ping"
            client.sendall(b"pong")
        rtt = conn.round_trip_us()
        assert rtt is not None and 0 < rtt < 1_000_000, rtt  # loopback: well under a second
    finally:
        conn.close("test over")


def test_no_round_trip_where_the_kernel_has_none() -> None:
    ours, theirs = socket.socketpair()  # not TCP: no TCP_INFO
    ours.setblocking(False)
    conn = ClientConnection(_Owner(), ClientLimits(), gevent.get_hub().loop, ours, "local")
    try:
        assert conn.round_trip_us() is None
    finally:
        conn.close("test over")
        theirs.close()
