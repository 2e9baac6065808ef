"""Fuzzing the broker's client-packet decoder and framing with hypothesis.

- `parse()` (the decoder): any bytes give a Packet or a DecodeError, never another exception;
  what it accepts, Thrift's own pure-Python decoder reads alike (differential check); forged
  lengths allocate nothing big.
- `ClientConnection.feed()` (framing + the header rules): any byte stream, cut anywhere into
  reads, gets exactly the answers client.thrift specifies, in order, counted in
  hn_broker_refusals_total; the connection's buffer stays bounded.
- Over real TCP: a smaller number of generated streams against a listening broker, which keeps
  answering a well-behaved client all along.

More than 100,000 generated inputs reach the decoder in all: each test asserts its own share
(90,000 + 12,000 + a thousand or so through the connection's parser and over sockets). The
bulk runs in-process, straight into the decoder: hypothesis draws a packet and a seed, and the
seed drives a cheap generator of damaged copies of that packet's encoding (hypothesis' own
generation costs a millisecond or more per structured input; this keeps the file well under a
minute). A failure names the exact bytes.
"""

from __future__ import annotations

import random
import socket
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import gevent
import pytest
from gevent.event import AsyncResult
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.transport.TTransport import TMemoryBuffer

from hn_broker._broker import REFUSALS, Broker
from hn_broker._config import BrokerConfig, ClientLimits
from hn_broker._connection import ClientConnection
from hn_broker._packets import MAX_TRACE_ID, DecodeError, parse, reply
from hn_idl.client.constants import PACKET_VERSION
from hn_idl.client.ttypes import ClientError, Packet, PacketKind
from hn_runtime.discovery import StaticDirectory
from hn_runtime.testing import capture_logs, time_factor, wait_for
from hn_runtime.wire import encode, load_idl, spec_of

T = TypeVar("T")
_SPEC = spec_of(Packet)
_LIMIT = 512  # max_packet_bytes of the fuzzed brokers: small, so that TOO_LARGE comes up often
_MAX_MALFORMED = 3
_RESUME = load_idl("broker").methods["resume"]
_TYPES = ["sso.login", "sso.register", "sso.guest_login", "sso.logout", "broker.resume", "sso.validate", "x", ""]


def _fuzz(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )


# -- what to generate ----------------------------------------------------------------------

_i32 = st.integers(-(2**31), 2**31 - 1)
_text = st.text(max_size=24)


def _packets(*, wellformed: bool = False) -> st.SearchStrategy[Packet]:
    """Packets with any field values; `wellformed`: mostly version 1 requests and pings."""
    if wellformed:
        version: st.SearchStrategy[Any] = st.one_of(st.just(PACKET_VERSION), st.just(PACKET_VERSION), st.just(7))
        kind: st.SearchStrategy[Any] = st.sampled_from([1, 1, 1, 5, 5, 2, 4, 99])
    else:
        version = st.one_of(st.none(), st.just(PACKET_VERSION), st.integers(-(2**15), 2**15 - 1))
        kind = st.one_of(st.none(), st.sampled_from(sorted(PacketKind._VALUES_TO_NAMES)), _i32)
    return st.builds(
        Packet,
        version=version,
        kind=kind,
        type=st.one_of(st.sampled_from(_TYPES), _text, st.none()),
        seq=st.one_of(st.integers(0, 1000), _i32, st.none() if not wellformed else st.integers(0, 9)),
        flags=st.one_of(st.none(), _i32),
        error_code=st.one_of(st.none(), _i32),
        error_message=st.one_of(st.none(), _text),
        trace_id=st.one_of(st.none(), st.text(min_size=1, max_size=80)),
        body=st.one_of(
            st.none(),
            st.binary(max_size=48),
            st.builds(lambda t: encode(_RESUME.args_cls(token=t), _RESUME.args_spec), st.one_of(st.none(), _text)),
        ),
    )


_FORGED = (2**31 - 1, 2**32 - 1, 2**31, 65536, 0x7FFF, 1)


def _mutants(data: bytes, rng: random.Random, n: int) -> Iterator[bytes]:
    """`n` damaged copies of `data`: bytes flipped, cut short, inserted, lengths forged, tails
    replaced by noise; now and then noise alone."""
    for _ in range(n):
        if rng.random() < 0.05:
            yield rng.randbytes(rng.randint(0, 160))
            continue
        out = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            op = rng.random()
            at = rng.randint(0, len(out))
            if op < 0.35 and at < len(out):
                out[at] = rng.randrange(256)
            elif op < 0.5:
                del out[at:]
            elif op < 0.65:
                out[at:at] = rng.randbytes(rng.randint(1, 6))
            elif op < 0.85:
                # A string/binary length or a field header claiming far more than there is.
                out[at : at + 4] = rng.choice(_FORGED).to_bytes(4, "big")
            else:
                out[at:] = rng.randbytes(rng.randint(0, 16))
        yield bytes(out)


_seeds = st.integers(0, 2**64 - 1)

# -- the decoder ---------------------------------------------------------------------------


class _ReferenceProtocol(TBinaryProtocol):
    """Thrift's pure-Python binary protocol, reading bad UTF-8 as fastbinary does (replaced)."""

    def readString(self) -> str:
        return self.readBinary().decode("utf-8", "replace")  # type: ignore[no-any-return]


def _reference(data: bytes) -> Packet | None:
    """Thrift's own pure-Python decoding of `data`: a Packet, or None if it refuses it."""
    packet = Packet()
    try:
        packet.read(_ReferenceProtocol(TMemoryBuffer(data)))
    except Exception:  # noqa: BLE001 - any rejection will do
        return None
    return packet


def _check_parse(data: bytes, *, reference: bool = True) -> Packet | None:
    """parse() returns a Packet with kind and seq, or raises DecodeError; and agrees with Thrift."""
    try:
        packet = parse(data)
    except DecodeError:
        if not reference:
            return None
        ref = _reference(data)
        # fastbinary may refuse what the reference reads only where the broker's rules do.
        assert ref is None or ref.kind is None or ref.seq is None, (data, ref)
        return None
    assert isinstance(packet, Packet)
    assert isinstance(packet.kind, int) and isinstance(packet.seq, int)
    assert packet.trace_id is None or len(packet.trace_id) <= MAX_TRACE_ID
    if not reference:
        return packet
    ref = _reference(data)
    assert ref is not None, f"fastbinary accepted what Thrift's reference decoder refuses: {data!r}"
    if ref.trace_id is not None and len(ref.trace_id) > MAX_TRACE_ID:
        ref.trace_id = None
    assert ref == packet, (data, ref, packet)
    return packet


_counts: dict[str, int] = {}


def _count(name: str, n: int) -> None:
    _counts[name] = _counts.get(name, 0) + n


@_fuzz(max_examples=900)
@given(packet=_packets(), seed=_seeds)
def _decode_any_bytes(packet: Packet, seed: int) -> None:
    # hypothesis draws a packet and a seed; the seed drives 99 damaged copies of its encoding.
    data = encode(packet, _SPEC)
    _check_parse(data)
    for n, mutant in enumerate(_mutants(data, random.Random(seed), 99)):
        # Every input goes through the decoder; every other one is also checked against
        # Thrift's pure-Python decoder (20 times slower than fastbinary).
        _check_parse(mutant, reference=n % 2 == 0)
    _count("decoder", 100)


def test_the_decoder_takes_any_bytes() -> None:
    _decode_any_bytes()
    assert _counts["decoder"] >= 90_000, _counts


@_fuzz(max_examples=300)
@given(packet=_packets(), seed=_seeds)
def _decode_forged_lengths(packet: Packet, seed: int) -> None:
    inputs = list(_mutants(encode(packet, _SPEC), random.Random(seed), 40))
    tracemalloc.start()
    try:
        for data in inputs:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            try:
                parse(data)
            except DecodeError:
                pass
            peak = tracemalloc.get_traced_memory()[1] - before
            # The packet object, its strings and the body copy: a few times the input, never what
            # a forged length claims (up to 4 GiB).
            assert peak <= 8 * len(data) + 16_384, (peak, data)
    finally:
        tracemalloc.stop()
    _count("memory", len(inputs))


def test_forged_lengths_allocate_nothing_big() -> None:
    _decode_forged_lengths()
    assert _counts["memory"] >= 12_000, _counts


# -- the connection: framing and the header rules ------------------------------------------


@dataclass(frozen=True)
class Answer:
    kind: int
    code: int | None
    seq: int


def _expected(stream: bytes, routes: dict[str, Any]) -> tuple[list[Answer], bool, int]:
    """What client.thrift says a broker answers to `stream` (no sso reachable, no rate limit):
    the answers in order, whether it disconnects, and how many whole frames it read."""
    answers: list[Answer] = []
    malformed = frames = 0
    offset = 0
    while len(stream) - offset >= 4:
        size = int.from_bytes(stream[offset : offset + 4], "big")
        if size > _LIMIT:
            answers.append(Answer(PacketKind.ERROR, ClientError.TOO_LARGE, 0))
            return answers, True, frames
        if len(stream) - offset - 4 < size:
            break
        payload = stream[offset + 4 : offset + 4 + size]
        offset += 4 + size
        frames += 1
        try:
            packet = parse(payload)
        except DecodeError:
            packet = None
        if packet is not None and packet.version != PACKET_VERSION:
            answers.append(Answer(PacketKind.ERROR, ClientError.UNSUPPORTED_VERSION, packet.seq))
        elif packet is not None and packet.kind == PacketKind.PING:
            answers.append(Answer(PacketKind.PONG, None, packet.seq))
        elif packet is not None and packet.kind == PacketKind.REQUEST:
            route = routes.get(packet.type)  # type: ignore[arg-type]
            if route is None:
                code = ClientError.UNKNOWN_MESSAGE
            elif not route.open:
                code = ClientError.UNAUTHENTICATED
            elif route.type == "broker.resume" and not _resume_token(packet.body):
                code = ClientError.BAD_REQUEST
            else:
                code = ClientError.UNAVAILABLE  # open, and forwarded: no sso instance here
            answers.append(Answer(PacketKind.ERROR, code, packet.seq))
        else:  # undecodable, or a kind clients do not send
            malformed += 1
            answers.append(Answer(PacketKind.ERROR, ClientError.MALFORMED, 0))
            if malformed >= _MAX_MALFORMED:
                return answers, True, frames
    return answers, False, frames


def _resume_token(body: bytes | None) -> str | None:
    try:
        from hn_runtime.wire import decode

        return decode(body or b"", _RESUME.args_spec).token  # type: ignore[no-any-return]
    except DecodeError:
        return None


def _framed(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


_wellformed = st.builds(lambda p: _framed(encode(p, _SPEC)), _packets(wellformed=True))
_frames = st.one_of(
    # one_of picks its branches alike: the well-formed ones come several times, so that streams
    # run long before a malformed packet or a bad length ends them
    _wellformed,
    _wellformed,
    _wellformed,
    _wellformed,
    st.builds(lambda p: _framed(encode(p, _SPEC)), _packets()),
    st.builds(
        lambda p, seed: _framed(next(_mutants(encode(p, _SPEC), random.Random(seed), 1))),
        _packets(wellformed=True),
        _seeds,
    ),
    st.builds(_framed, st.binary(max_size=40)),
)
#: How a stream may end: cleanly, with a length over the limit, or with a frame's first half
#: (the rest never comes, or comes in the next read).
_tails = st.one_of(
    st.just(b""),
    st.builds(lambda n, rest: n.to_bytes(4, "big") + rest, st.integers(_LIMIT + 1, 2**32 - 1), st.binary(max_size=8)),
    st.builds(lambda p: _framed(encode(p, _SPEC))[: len(encode(p, _SPEC)) // 2], _packets(wellformed=True)),
)


@_fuzz(max_examples=150)
@given(
    frames=st.lists(_frames, min_size=5, max_size=30),
    tail=_tails,
    cuts=st.lists(st.integers(0, 10_000), max_size=8),
)
def _feed_streams(fuzz_broker: Broker, frames: list[bytes], tail: bytes, cuts: list[int]) -> None:
    stream = b"".join(frames) + tail
    expected, disconnects, whole = _expected(stream, fuzz_broker.routes)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    chunks = [stream[a:b] for a, b in zip(points, points[1:], strict=False) if b > a]
    refusals = _refusals()
    ours, theirs = socket.socketpair()
    ours.setblocking(False)  # as the broker's accepted sockets are
    conn = ClientConnection(fuzz_broker, fuzz_broker.limits, fuzz_broker.loop, ours, "fuzz:1")
    fuzz_broker.connections.add(conn)
    try:
        for chunk in chunks:
            if conn.closed:
                break
            _in_hub(conn.feed, chunk)
            # Never more than a packet's worth waits in the connection's buffer.
            assert conn.buffered() <= _LIMIT + 3
        answers, eof = _read_answers(theirs, len(expected))
        assert [Answer(p.kind, p.error_code, p.seq) for p in answers] == expected
        assert all(p.trace_id for p in answers if p.kind == PacketKind.ERROR), "every error carries a trace id"
        assert conn.closed == disconnects and eof == disconnects
        errors = sum(1 for a in expected if a.kind == PacketKind.ERROR)
        assert _refusals() - refusals == errors, "each error packet is counted"
    finally:
        conn.close("test over")
        theirs.close()
    _count("stream", whole)


def test_any_stream_gets_the_answers_the_protocol_specifies(fuzz_broker: Broker) -> None:
    with capture_logs() as logs:
        _feed_streams(fuzz_broker)
    assert _counts["stream"] >= 500, _counts
    assert not [e for e in logs if e["log_level"] in ("error", "critical")], "nothing crashed"
    assert not fuzz_broker.connections


# -- over real sockets ---------------------------------------------------------------------


@_fuzz(max_examples=80)
@given(frames=st.lists(_frames, min_size=5, max_size=30), tail=_tails)
def _streams_over_tcp(tcp_broker: Broker, frames: list[bytes], tail: bytes) -> None:
    stream = b"".join(frames) + tail
    expected, disconnects, whole = _expected(stream, tcp_broker.routes)
    with socket.create_connection(("127.0.0.1", tcp_broker.port)) as sock:
        sock.sendall(stream)
        answers, eof = _read_answers(sock, len(expected), wait_eof=disconnects)
    assert [Answer(p.kind, p.error_code, p.seq) for p in answers] == expected
    assert eof == disconnects
    _count("tcp", whole)


def test_the_broker_serves_others_while_fuzzed_over_tcp(tcp_broker: Broker) -> None:
    bystander = socket.create_connection(("127.0.0.1", tcp_broker.port))
    stop = False
    pongs = [0]

    def keep_pinging() -> None:
        seq = 0
        while not stop:
            seq += 1
            bystander.sendall(_framed(encode(Packet(PACKET_VERSION, PacketKind.PING, "", seq), _SPEC)))
            (pong,), _ = _read_answers(bystander, 1)
            assert (pong.kind, pong.seq) == (PacketKind.PONG, seq)
            pongs[0] += 1
            gevent.sleep(0.005)

    pinger = gevent.spawn(keep_pinging)
    try:
        with capture_logs() as logs:
            _streams_over_tcp(tcp_broker)
        stop = True
        pinger.get(timeout=10 * time_factor())
    finally:
        pinger.kill()
        bystander.close()
    assert pongs[0] > 0
    assert _counts["tcp"] >= 250, _counts
    assert not [e for e in logs if e["log_level"] in ("error", "critical")], "nothing crashed"
    wait_for(lambda: not tcp_broker.connections, message="every fuzzing connection closed")


# -- helpers -------------------------------------------------------------------------------


def _broker(**overrides: Any) -> Broker:
    config = BrokerConfig(
        services=("sso",),
        limits=ClientLimits(max_packet_bytes=_LIMIT, rate=1e9, burst=1e9, max_malformed=_MAX_MALFORMED),
        **overrides,
    )
    # No sso instance: open requests are forwarded and answered UNAVAILABLE; no session ever opens,
    # so the shared session state (Redis) is never touched.
    return Broker(config, instance_id="broker-fuzz", redis=None, directory=StaticDirectory())


@pytest.fixture(scope="module")
def fuzz_broker() -> Broker:
    return _broker()


@pytest.fixture(scope="module")
def tcp_broker() -> Iterator[Broker]:
    broker = _broker()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def _refusals() -> float:
    """hn_broker_refusals_total, all codes."""
    return sum(s.value for m in REFUSALS.collect() for s in m.samples if s.name == "hn_broker_refusals_total")


def _in_hub(fn: Callable[..., T], *args: Any) -> T:
    """Run `fn` in the hub's greenlet, as the broker's socket watchers do, and wait for it."""
    result: AsyncResult = AsyncResult()

    def run() -> None:
        try:
            result.set(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - raised again in the test
            result.set_exception(exc)

    gevent.get_hub().loop.run_callback(run)
    return result.get(timeout=10 * time_factor())  # type: ignore[no-any-return]


def _read_answers(sock: socket.socket, count: int, *, wait_eof: bool = False) -> tuple[list[Packet], bool]:
    """Read `count` packets (then EOF too, if `wait_eof`); returns them and whether EOF came."""
    sock.settimeout(10 * time_factor())
    buf = b""
    packets: list[Packet] = []
    eof = False
    while len(packets) < count or (wait_eof and not eof):
        data = sock.recv(65536)
        if not data:
            eof = True
            break
        buf += data
        while len(buf) >= 4 and len(buf) - 4 >= int.from_bytes(buf[:4], "big"):
            size = int.from_bytes(buf[:4], "big")
            packets.append(parse(buf[4 : 4 + size]))
            buf = buf[4 + size :]
    if not eof and not wait_eof:
        # Nothing more than expected: whatever else is there now would be an extra answer.
        sock.setblocking(False)
        try:
            extra = sock.recv(65536)
            eof = extra == b""
            buf += extra
        except BlockingIOError:
            pass
        finally:
            sock.setblocking(True)
    assert not buf or eof, f"unexpected bytes after the answers: {buf[:64]!r}"
    return packets, eof


@_fuzz(max_examples=300)
@given(packet=_packets(wellformed=True), body=st.binary(max_size=200), trace_id=st.one_of(st.none(), _text))
def test_replies_encode_as_thrift_does(packet: Packet, body: bytes, trace_id: str | None) -> None:
    """reply() writes its bytes by hand: they must be exactly what fastbinary writes."""
    packet.type = packet.type or "x.y"
    expected = Packet(PACKET_VERSION, PacketKind.REPLY, packet.type, packet.seq, None, None, None, trace_id, body)
    data = encode(expected, _SPEC)
    assert reply(packet, body, trace_id) == len(data).to_bytes(4, "big") + data
