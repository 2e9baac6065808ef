"""The broker's WebSocket listener on real sockets: the upgrade, frames, and what is WebSocket's own
among the limits (the limits shared with TCP run on both schemes in test_broker_limits.py).

The client is RawClient over "ws://" (wsproto as the client), or frames written by hand
(`masked_frame`) where a test sends what a library would refuse to.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace

import gevent
import pytest

from hn_broker import BrokerConfig, BrokerService, ClientLimits
from hn_client.testing import RawClient, masked_frame
from hn_datatier.local import DataTier
from hn_idl.client.ttypes import ClientError, PacketKind
from hn_runtime.testing import RunningService, running, time_factor, unreachable

from _metrics import delta, metrics

pytestmark = pytest.mark.integration

_LIMIT = 16 * 1024
_LIMITS = ClientLimits(max_packet_bytes=_LIMIT, rate=1e9, burst=1e9, max_malformed=3)
_BINARY, _TEXT, _CONTINUATION, _PING = 0x2, 0x1, 0x0, 0x9


def _config(tier: DataTier, **options: object) -> BrokerConfig:
    fields: dict[str, object] = {"limits": _LIMITS, "ws_port": 0, "handshake_timeout_s": 30.0, **options}
    return BrokerConfig(redis_url=tier.env["HN_REDIS_URL"], **fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def broker(data_tier: DataTier) -> Iterator[RunningService]:
    with running(BrokerService(_config(data_tier), directory=unreachable("sso")), metrics_port=0) as service:
        yield service


def _ws(service: RunningService) -> str:
    return service.endpoints["ws"]


def test_the_broker_registers_its_websocket_url(broker: RunningService) -> None:
    host, port = broker.endpoints["client"].rsplit(":", 1)
    assert broker.endpoints["tcp"] == broker.endpoints["client"]
    assert broker.endpoints["ws"].startswith(f"ws://{host}:") and broker.endpoints["ws"].endswith("/")
    assert broker.endpoints["ws"] != f"ws://{host}:{port}/", "a port of its own"
    assert "tls" not in broker.endpoints and "wss" not in broker.endpoints, "no certificate, no TLS"


def test_packets_travel_one_per_binary_message(broker: RunningService) -> None:
    client = RawClient(_ws(broker))
    assert client.subprotocol is None
    client.ping()
    # Several at once, answered in order; an unknown type is refused as on TCP.
    client.send(client.packet(kind=PacketKind.PING) + client.packet("nosuch.method") + client.packet("sso.logout"))
    answers = [client.read() for _ in range(3)]
    assert [(p.kind, p.error_code, p.seq) for p in answers if p is not None] == [
        (PacketKind.PONG, None, 2),
        (PacketKind.ERROR, ClientError.UNKNOWN_MESSAGE, 3),
        (PacketKind.ERROR, ClientError.UNAUTHENTICATED, 4),
    ]
    client.close()


def test_a_fragmented_message_is_one_packet(broker: RunningService) -> None:
    client = RawClient(_ws(broker))
    packet = client.packet(kind=PacketKind.PING)[4:]
    pieces = [packet[:3], packet[3:7], packet[7:]]
    client.send_raw(
        masked_frame(_BINARY, pieces[0], final=False)
        + masked_frame(_PING, b"between")  # control frames may come between fragments
        + masked_frame(_CONTINUATION, pieces[1], final=False)
        + masked_frame(_CONTINUATION, pieces[2])
    )
    pong = client.read()
    assert pong is not None and (pong.kind, pong.seq) == (PacketKind.PONG, client.seq)
    assert client.pongs == [b"between"], "a WebSocket ping is answered with its payload"
    client.ping()
    client.close()


def test_the_subprotocol_is_selected_when_offered(broker: RunningService) -> None:
    client = RawClient(_ws(broker), subprotocols=("other", "hn-packet"))
    assert client.subprotocol == "hn-packet"
    client.ping()
    client.close()
    refused = RawClient(_ws(broker), subprotocols=("other",))
    assert refused.rejection is not None and refused.rejection[0] == 400


def test_text_messages_are_refused_and_count_as_malformed(broker: RunningService) -> None:
    before = metrics(broker)
    client = RawClient(_ws(broker))
    client.send_raw(masked_frame(_TEXT, b'{"type": "sso.guest_login"}'))
    error = client.read()
    assert error is not None and error.error_code == ClientError.MALFORMED
    assert "binary" in (error.error_message or "")
    client.ping()  # one refusal does not cost the connection
    client.send_raw(masked_frame(_TEXT, b"again", final=False) + masked_frame(_CONTINUATION, b" and again"))
    client.send_raw(masked_frame(_TEXT, b"a third"))
    codes = [p.error_code for p in iter(client.read, None)]
    assert codes == [ClientError.MALFORMED] * 2, "the malformed budget (3) is spent: closed"
    assert client.close_code == 1008
    after = metrics(broker)
    assert delta(before, after, "hn_broker_refusals_total", code="malformed") == 3
    assert delta(before, after, "hn_broker_disconnects_total", reason="malformed packets") == 1


@pytest.mark.parametrize(
    "frames",
    [
        [masked_frame(_BINARY, b"\0" * (_LIMIT + 1))],
        # In fragments: the message's size so far counts.
        [masked_frame(_BINARY, b"\0" * 10_000, final=False), masked_frame(_CONTINUATION, b"\0" * 10_000)],
        # A header that says 2**63 - 1 bytes: refused before any payload is read.
        [bytes((0x82, 0x80 | 127)) + (2**63 - 1).to_bytes(8, "big") + b"mask"],
    ],
    ids=["one frame", "fragments", "2**63 bytes"],
)
def test_an_oversized_message_is_refused_and_the_connection_closed(broker: RunningService, frames: list[bytes]) -> None:
    before = metrics(broker)
    bystander = RawClient(_ws(broker))
    client = RawClient(_ws(broker))
    client.send_raw(b"".join(frames))
    error = client.read()
    assert error is not None and error.error_code == ClientError.TOO_LARGE, error
    assert client.closed() and client.close_code == 1009
    bystander.ping()
    after = metrics(broker)
    assert delta(before, after, "hn_broker_disconnects_total", reason="packet too large") == 1
    bystander.close()


@pytest.mark.parametrize(
    "frame",
    [
        masked_frame(_BINARY, b"unmasked", mask=b""),
        masked_frame(_CONTINUATION, b"no message to continue"),
        bytes((0x89, 0x80 | 126)) + (200).to_bytes(2, "big") + b"mask" + b"\0" * 200,  # a 200-byte ping
        masked_frame(0x3, b"reserved opcode"),
    ],
    ids=["unmasked", "stray continuation", "long control frame", "reserved opcode"],
)
def test_a_protocol_error_is_answered_and_closes(broker: RunningService, frame: bytes) -> None:
    before = metrics(broker)
    client = RawClient(_ws(broker))
    client.send_raw(frame)
    error = client.read()
    assert error is not None and error.error_code == ClientError.MALFORMED, error
    assert "protocol error" in (error.error_message or "")
    assert client.closed() and client.close_code == 1002
    assert delta(before, metrics(broker), "hn_broker_disconnects_total", reason="websocket protocol error") == 1


def test_a_close_frame_is_answered_and_the_connection_ends(broker: RunningService) -> None:
    before = metrics(broker)
    client = RawClient(_ws(broker))
    client.ping()
    client.send_raw(masked_frame(0x8, (1000).to_bytes(2, "big") + b"bye"))
    assert client.closed() and client.close_code == 1000, "the broker echoes the client's code"
    assert delta(before, metrics(broker), "hn_broker_disconnects_total", reason="closed by client") == 1


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost: broker\r\n\r\n", 400),  # plain HTTP: no upgrade
        (
            b"GET /elsewhere HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            404,
        ),
        (b"GET / HTTP/1.1\r\nHost: b\r\nX-Pad: " + b"x" * 20_000, 431),  # a header that never ends
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 100 + b"\r\n\r\n", 400),  # TLS on a ws port
    ],
    ids=["no upgrade", "wrong path", "too large", "tls hello"],
)
def test_a_bad_upgrade_is_answered_with_an_http_error(
    broker: RunningService, request_bytes: bytes, status: int
) -> None:
    client = RawClient(_ws(broker), upgrade=False)
    client.send_raw(request_bytes)
    head = b""
    while b"\r\n" not in head:
        data = client.sock.recv(65536)
        assert data, f"closed without an answer, {head!r}"
        head += data
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), head
    client.close()


def test_a_slow_upgrade_is_cut_at_the_handshake_timeout(data_tier: DataTier) -> None:
    config = _config(data_tier, handshake_timeout_s=1.0)
    with running(BrokerService(config, directory=unreachable("sso")), metrics_port=0) as strict:
        before = metrics(strict)
        upgraded = RawClient(_ws(strict))  # one that finished in time: the timeout is not for it
        loris = RawClient(_ws(strict), upgrade=False)
        request = loris.upgrade_request
        sent = 0

        def trickle() -> None:
            nonlocal sent
            try:
                for byte in request[:-1]:  # never the last byte
                    loris.send_raw(bytes([byte]))
                    sent += 1
                    gevent.sleep(0.05)
            except OSError:
                pass  # cut off

        trickling = gevent.spawn(trickle)
        silent = RawClient(_ws(strict), upgrade=False)  # connects and says nothing at all
        try:
            for client in (loris, silent):
                assert client.sock.recv(65536) == b"", "closed without a word"
            trickling.join(timeout=10 * time_factor())
        finally:
            trickling.kill()
        assert 0 < sent < len(request) - 1, "cut off within the timeout, not after the whole request"
        assert delta(before, metrics(strict), "hn_broker_disconnects_total", reason="handshake timeout") == 2
        upgraded.ping()  # connected before the two that were cut, and still served
        for client in (loris, silent, upgraded):
            client.close()


def test_websocket_pings_draw_on_the_packet_rate(data_tier: DataTier) -> None:
    limits = replace(_LIMITS, rate=0.001, burst=5.0)
    with running(BrokerService(_config(data_tier, limits=limits), directory=unreachable("sso")), metrics_port=0) as b:
        client = RawClient(_ws(b))
        client.send_raw(b"".join(masked_frame(_PING, bytes([i])) for i in range(8)))
        error = client.read()
        assert error is not None and error.error_code == ClientError.RATE_LIMITED, error
        assert client.pongs == [bytes([i]) for i in range(5)], "a token each: the burst, then the warning"
        client.close()


def test_a_newcomer_past_the_address_cap_gets_an_http_429(data_tier: DataTier) -> None:
    with running(
        BrokerService(_config(data_tier, max_connections_per_address=2), directory=unreachable("sso")),
        metrics_port=0,
    ) as small:
        before = metrics(small)
        kept = [RawClient(_ws(small)), RawClient(small.endpoints["tcp"])]  # every scheme counts
        for client in kept:
            client.ping()
        newcomer = RawClient(_ws(small))
        assert newcomer.rejection is not None
        status, body = newcomer.rejection
        assert status == 429 and body.startswith(b"TOO_MANY_CONNECTIONS: 2 connections from your address"), body
        for client in kept:
            client.ping()
        after = metrics(small)
        assert delta(before, after, "hn_broker_refusals_total", code="too_many_connections") == 1
        for client in [*kept, newcomer]:
            client.close()


def test_an_idle_websocket_is_told_and_closed(data_tier: DataTier) -> None:
    with running(
        BrokerService(_config(data_tier, idle_timeout_s=1.0), directory=unreachable("sso")), metrics_port=0
    ) as strict:
        idle = RawClient(_ws(strict))
        error = idle.read()
        assert error is not None and error.error_code == ClientError.IDLE_TIMEOUT
        assert "idle" in (error.error_message or "")
        assert idle.closed() and idle.close_code == 1008
        idle.close()


def test_the_tcp_port_still_speaks_framed_packets(broker: RunningService) -> None:
    client = RawClient(broker.endpoints["client"])
    client.ping()
    client.sock.shutdown(socket.SHUT_WR)
    assert client.closed()
    client.close()
