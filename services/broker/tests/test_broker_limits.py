"""The broker's connection limits against abusive clients, on real sockets.

A real broker (BrokerService under hn_runtime.testing.running, its shared state on the real data
tier) faces clients that flood, send oversized, truncated or malformed frames, trickle bytes
(slowloris), go idle, never read their answers, call without logging in, send huge message types
to have them echoed, arrive when the broker is full or open too many connections from one
address. Each is refused as client.thrift specifies, counted in the broker's Prometheus
counters (read from its /metrics page, as Prometheus would), and a well-behaved client on the
same broker is served throughout. What needs a logged-in session (session stamping, forged and
replayed tokens, limits on requests in flight) is in e2e/test_broker_abuse.py, with sso.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace

import gevent
import pytest

from hn_broker import BrokerService
from hn_broker._config import BrokerConfig, ClientLimits
from hn_client.testing import RawClient
from hn_datatier.local import DataTier
from hn_idl.client.constants import PACKET_VERSION
from hn_idl.client.ttypes import ClientError, Packet, PacketKind
from hn_runtime.testing import RunningService, running, time_factor, unreachable, wait_for
from hn_runtime.wire import spec_of

from _metrics import delta as _delta
from _metrics import metrics as _metrics

pytestmark = pytest.mark.integration

_SPEC = spec_of(Packet)
_LIMIT = 16 * 1024
_LIMITS = ClientLimits(max_packet_bytes=_LIMIT, rate=1e9, burst=1e9, max_malformed=3, max_outgoing_bytes=64 * 1024)
_CONFIG = {
    "limits": _LIMITS,
    "idle_timeout_s": 60.0,
    # Every broker here also listens for WebSocket clients: the tests that take `scheme` run
    # once with 4-byte framed packets on TCP and once with a packet per WebSocket message.
    "ws_port": 0,
}


@pytest.fixture(scope="module")
def broker(data_tier: DataTier) -> Iterator[RunningService]:
    config = BrokerConfig(redis_url=data_tier.env["HN_REDIS_URL"], **_CONFIG)  # type: ignore[arg-type]
    with running(BrokerService(config, directory=unreachable("sso")), metrics_port=0) as service:
        yield service


@pytest.fixture(params=["tcp", "ws"])
def scheme(request: pytest.FixtureRequest) -> str:
    """How the abusive client of a test speaks: the limits are the same on every scheme."""
    return str(request.param)


@pytest.fixture
def bystander(broker: RunningService) -> Iterator[RawClient]:
    """A well-behaved client: served before, during and after every abuse."""
    client = RawClient(_address(broker))
    client.ping()
    yield client
    client.ping()
    client.close()


def test_an_oversized_frame_is_refused_and_the_connection_closed(broker: RunningService, bystander: RawClient) -> None:
    before = _metrics(broker)
    abuser = RawClient(_address(broker))
    abuser.send((_LIMIT + 1).to_bytes(4, "big") + b"\0" * 64)
    error = abuser.read()
    assert error is not None and (error.kind, error.error_code) == (PacketKind.ERROR, ClientError.TOO_LARGE)
    assert error.trace_id
    assert abuser.closed()
    bystander.ping()
    after = _metrics(broker)
    assert _delta(before, after, "hn_broker_refusals_total", code="too_large") == 1
    assert _delta(before, after, "hn_broker_disconnects_total", reason="packet too large") == 1


def test_a_frame_that_says_4_gib_allocates_nothing(broker: RunningService, bystander: RawClient) -> None:
    abuser = RawClient(_address(broker))
    abuser.send(b"\xff\xff\xff\xff")
    error = abuser.read()
    assert error is not None and error.error_code == ClientError.TOO_LARGE
    assert abuser.closed()
    bystander.ping()


def test_truncated_frames_are_dropped_with_their_connection(broker: RunningService, bystander: RawClient) -> None:
    before = _metrics(broker)
    for cut in (1, 3, 4, 10):
        abuser = RawClient(_address(broker))
        whole = abuser.packet(kind=PacketKind.PING)
        abuser.send(whole[:cut])
        abuser.sock.shutdown(socket.SHUT_WR)  # the rest never comes
        assert abuser.closed(), "no answer to half a packet, and no hang either"
        abuser.close()
    bystander.ping()
    assert _delta(before, _metrics(broker), "hn_broker_disconnects_total", reason="closed by client") == 4


def test_malformed_packets_are_answered_then_the_connection_closed(
    broker: RunningService, bystander: RawClient, scheme: str
) -> None:
    before = _metrics(broker)
    abuser = RawClient(_address(broker, scheme))
    garbage = b"\x0b\xff\xff" * 3
    for _ in range(3):
        abuser.send(len(garbage).to_bytes(4, "big") + garbage)
    codes = [p.error_code for p in iter(abuser.read, None)]
    assert codes == [ClientError.MALFORMED] * 3
    if scheme == "ws":
        assert abuser.close_code == 1008, "a close frame says why (policy violation)"
    bystander.ping()
    after = _metrics(broker)
    assert _delta(before, after, "hn_broker_refusals_total", code="malformed") == 3
    assert _delta(before, after, "hn_broker_disconnects_total", reason="malformed packets") == 1


def test_other_protocol_errors_are_answered_and_counted(
    broker: RunningService, bystander: RawClient, scheme: str
) -> None:
    before = _metrics(broker)
    client = RawClient(_address(broker, scheme))
    client.send(client.packet(kind=PacketKind.PING, version=PACKET_VERSION + 1))
    client.send(client.packet("nosuch.method"))
    client.send(client.packet("broker.deliver"))  # services' method, not clients'
    client.send(client.packet("sso.logout"))  # needs a session
    client.send(client.packet("broker.resume", b"\xff"))  # undecodable body
    answers = [client.read() for _ in range(5)]
    assert [(p.error_code, p.seq) for p in answers if p is not None] == [
        (ClientError.UNSUPPORTED_VERSION, 1),
        (ClientError.UNKNOWN_MESSAGE, 2),
        (ClientError.UNKNOWN_MESSAGE, 3),
        (ClientError.UNAUTHENTICATED, 4),
        (ClientError.BAD_REQUEST, 5),
    ]
    client.ping()  # none of these costs the connection
    after = _metrics(broker)
    for code in ("unsupported_version", "unauthenticated", "bad_request"):
        assert _delta(before, after, "hn_broker_refusals_total", code=code) == 1, code
    assert _delta(before, after, "hn_broker_refusals_total", code="unknown_message") == 2
    client.close()


def test_a_flood_gets_one_warning_and_the_rest_is_left_unread(data_tier: DataTier, scheme: str) -> None:
    # 5 packets at once, then one per 1000 s: whatever the machine's speed, a burst of 50 pings
    # gets exactly 5 pongs and one refusal, the warning; the broker then stops reading the
    # connection (for 2,500 s here: until the bucket is half full), so the other 44 cost nothing.
    config = BrokerConfig(
        redis_url=data_tier.env["HN_REDIS_URL"], **{**_CONFIG, "limits": replace(_LIMITS, rate=0.001, burst=5.0)}  # type: ignore[arg-type]
    )
    with running(BrokerService(config, directory=unreachable("sso")), metrics_port=0) as limited:
        bystander = RawClient(_address(limited))
        before = _metrics(limited)
        flooder = RawClient(_address(limited, scheme))
        flooder.send(b"".join(flooder.packet(kind=PacketKind.PING) for _ in range(49)) + b"\x00\x00\x00\x03abc")
        answers = [flooder.read() for _ in range(6)]
        kinds = [(p.kind, p.error_code, p.seq) for p in answers if p is not None]
        # The refusal names the request it refuses (its seq): the client's call fails at once.
        assert kinds == [(PacketKind.PONG, None, seq) for seq in range(1, 6)] + [
            (PacketKind.ERROR, ClientError.RATE_LIMITED, 6)
        ]
        warning = answers[-1].error_message or ""  # type: ignore[union-attr]
        assert "slow down" in warning and "2 more times" in warning, warning
        bystander.ping()  # its own bucket, served while the flooder is not read
        assert _nothing_more(flooder), "the answers stop at the warning: the rest is not read"
        after = _metrics(limited)
        assert _delta(before, after, "hn_broker_refusals_total", code="rate_limited") == 1
        assert _delta(before, after, "hn_broker_refusals_total", code="malformed") == 0
        flooder.close()
        bystander.close()


def test_a_connection_back_under_its_rate_is_read_again(data_tier: DataTier, scheme: str) -> None:
    """Over the rate once: the warning, then what was sent meanwhile is read once the bucket has
    refilled (nothing is dropped) and the connection lives on."""
    limits = replace(_LIMITS, rate=50.0, burst=10.0, max_rate_strikes=3)  # a pause of about 0.1 s
    config = BrokerConfig(redis_url=data_tier.env["HN_REDIS_URL"], **{**_CONFIG, "limits": limits})  # type: ignore[arg-type]
    with running(BrokerService(config, directory=unreachable("sso")), metrics_port=0) as limited:
        before = _metrics(limited)
        client = RawClient(_address(limited, scheme))
        client.send(b"".join(client.packet(kind=PacketKind.PING) for _ in range(14)))
        answers = [client.read() for _ in range(14)]
        kinds = [(p.kind, p.seq) for p in answers if p is not None]
        assert kinds == [(PacketKind.PONG, seq) for seq in range(1, 11)] + [(PacketKind.ERROR, 11)] + [
            (PacketKind.PONG, seq) for seq in range(12, 15)
        ]
        client.ping()  # served again
        after = _metrics(limited)
        assert _delta(before, after, "hn_broker_refusals_total", code="rate_limited") == 1
        assert _delta(before, after, "hn_broker_disconnects_total", reason="flooding") == 0
        client.close()


def test_a_connection_that_keeps_flooding_after_the_warning_is_closed(data_tier: DataTier, scheme: str) -> None:
    """A flood that reads its answers: a few pongs each time the bucket refills, one refusal each
    time it runs dry, and at the third time within the window the broker hangs up."""
    limits = replace(_LIMITS, rate=50.0, burst=10.0, max_rate_strikes=3, strike_window_s=60.0)
    config = BrokerConfig(redis_url=data_tier.env["HN_REDIS_URL"], **{**_CONFIG, "limits": limits})  # type: ignore[arg-type]
    with running(BrokerService(config, directory=unreachable("sso")), metrics_port=0) as limited:
        bystander = RawClient(_address(limited))
        before = _metrics(limited)
        flooder = RawClient(_address(limited, scheme))
        answers, sent = flooder.flood_pings(rounds=1000)  # 1,000,000 pings at most: cut off long before
        refusals = [p for p in answers if p.kind == PacketKind.ERROR]
        assert [p.error_code for p in refusals] == [ClientError.RATE_LIMITED] * 3
        assert "disconnected" in (refusals[-1].error_message or "")
        pongs = len(answers) - 3
        # 10 at once, then half the burst after each of the two pauses (and what trickles in
        # meanwhile at 50 a second): far fewer than the flood's thousands.
        assert 10 <= pongs <= 60, pongs
        assert sent < 1000, "cut off long before the flood ended"
        bystander.ping()
        after = _metrics(limited)
        assert _delta(before, after, "hn_broker_refusals_total", code="rate_limited") == 3
        assert _delta(before, after, "hn_broker_disconnects_total", reason="flooding") == 1
        flooder.close()
        bystander.close()


def test_error_packets_echo_a_bounded_prefix_of_the_clients_type(
    broker: RunningService, bystander: RawClient, scheme: str
) -> None:
    client = RawClient(_address(broker, scheme))
    huge = "t" * (_LIMIT - 200)  # 16 KB of message type: unknown, so refused
    client.send(client.packet(huge))
    sent = len(client.packet(huge))
    answer = client.read()
    assert answer is not None and answer.error_code == ClientError.UNKNOWN_MESSAGE
    assert answer.type == huge[:64], "a prefix of what it answers, at most"
    assert len(answer.error_message or "") < 200
    assert len(_encoded(answer)) < 400 < sent
    client.ping()
    client.close()


def test_a_slow_reader_is_cut_off(broker: RunningService, bystander: RawClient, scheme: str) -> None:
    """A client that sends requests but never reads their answers: once more than
    max_outgoing_bytes wait for it, the broker drops it rather than grow."""
    before = _metrics(broker)
    reader = RawClient(_address(broker, scheme), rcvbuf=4096)
    # Pings in batches of 1,000: each answered by a pong about as large as itself.
    pings = b"".join(reader.packet(kind=PacketKind.PING) for _ in range(1000))
    sent = 0

    def flood() -> None:
        nonlocal sent
        try:
            while sent < 4096:  # 80 MiB: far beyond any socket buffer
                reader.send(pings)
                sent += 1
        except OSError:
            pass  # cut off

    flooding = gevent.spawn(flood)
    wait_for(
        lambda: _delta(before, _metrics(broker), "hn_broker_disconnects_total", reason="slow reader") == 1,
        timeout=30,
        message="the slow reader cut off",
    )
    flooding.join(timeout=10 * time_factor())
    assert sent < 4096, "cut off long before the flood ended"
    bystander.ping()
    reader.close()


def test_an_idle_connection_is_closed_and_slowloris_is_idle(data_tier: DataTier) -> None:
    config = BrokerConfig(
        redis_url=data_tier.env["HN_REDIS_URL"], **{**_CONFIG, "idle_timeout_s": 1.0}  # type: ignore[arg-type]
    )
    with running(BrokerService(config, directory=unreachable("sso")), metrics_port=0) as strict:
        before = _metrics(strict)
        idle = RawClient(_address(strict))
        # Slowloris: the bytes of one large packet, one every 50 ms (the packet would take
        # minutes to complete). Trickled bytes are not signs of life: only whole packets are.
        loris = RawClient(_address(strict))
        loris.send((_LIMIT - 1).to_bytes(4, "big"))
        trickled = 0

        def trickle() -> None:
            nonlocal trickled
            try:
                while True:
                    loris.send(b"\0")
                    trickled += 1
                    gevent.sleep(0.05)
            except OSError:
                pass

        trickling = gevent.spawn(trickle)
        # A client that pings more often than the idle timeout stays.
        alive = RawClient(_address(strict))
        pinger_ok = [0]

        def keep_alive() -> None:
            while True:
                alive.ping()
                pinger_ok[0] += 1
                gevent.sleep(0.1)

        pinging = gevent.spawn(keep_alive)
        try:
            for client in (idle, loris):
                error = client.read()
                assert error is not None and error.error_code == ClientError.IDLE_TIMEOUT, error
                assert "idle" in (error.error_message or "")
                assert client.closed()
            trickling.join(timeout=10 * time_factor())
            assert trickled > 0
            count = pinger_ok[0]
            wait_for(lambda: pinger_ok[0] > count + 3, message="the pinging client still served")
            assert not pinging.dead, pinging.exception
        finally:
            pinging.kill()
            trickling.kill()
        assert _delta(before, _metrics(strict), "hn_broker_disconnects_total", reason="idle") == 2
        for client in (idle, loris, alive):
            client.close()


@pytest.mark.parametrize(
    ("limit", "code", "says", "reason"),
    [
        ({"capacity": 3}, ClientError.BROKER_UNAVAILABLE, "broker full", "broker full"),
        (
            # All the test's clients come from 127.0.0.1: one address.
            {"max_connections_per_address": 3},
            ClientError.TOO_MANY_CONNECTIONS,
            "3 connections from your address",
            "too many connections from address",
        ),
    ],
    ids=["capacity", "per address"],
)
def test_a_newcomer_past_a_connection_limit_is_turned_away_and_the_others_kept(
    data_tier: DataTier, limit: dict[str, int], code: int, says: str, reason: str
) -> None:
    config = BrokerConfig(redis_url=data_tier.env["HN_REDIS_URL"], **{**_CONFIG, **limit})  # type: ignore[arg-type]
    with running(BrokerService(config, directory=unreachable("sso")), metrics_port=0) as small:
        before = _metrics(small)
        clients = [RawClient(_address(small)) for _ in range(3)]
        for client in clients:
            client.ping()
        newcomer = RawClient(_address(small))
        error = newcomer.read()
        assert error is not None and error.error_code == code, error
        assert says in (error.error_message or "") and error.trace_id
        assert newcomer.closed()
        for client in clients:
            client.ping()
        after = _metrics(small)
        refusal = str(ClientError._VALUES_TO_NAMES[code]).lower()
        assert _delta(before, after, "hn_broker_refusals_total", code=refusal) == 1
        assert _delta(before, after, "hn_broker_disconnects_total", reason=reason) == 1
        assert after[("hn_broker_connections", ())] == 3
        # One leaves: its place is free again.
        clients.pop().close()
        wait_for(lambda: _metrics(small)[("hn_broker_connections", ())] == 2, message="the close noticed")
        again = RawClient(_address(small))
        again.ping()
        for client in [*clients, newcomer, again]:
            client.close()


# -- helpers -------------------------------------------------------------------------------


def _address(service: RunningService, scheme: str = "tcp") -> str:
    """Where a client of `scheme` connects: host:port, or the WebSocket URL."""
    return service.endpoints[scheme]


def _encoded(packet: Packet) -> bytes:
    from hn_runtime.wire import encode

    return encode(packet, _SPEC)  # type: ignore[no-any-return]


def _nothing_more(client: RawClient) -> bool:
    """Nothing waits to be read on `client`'s connection (and it is not closed)."""
    client.sock.setblocking(False)
    try:
        client.sock.recv(65536)  # anything at all, even the close, is something
        return False
    except BlockingIOError:
        return True
    finally:
        client.sock.settimeout(15 * time_factor())
