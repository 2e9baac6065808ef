"""One game client's connection, driven from gevent's hub: packets after their 4-byte length on
plain TCP here; the TLS and WebSocket layers (_tls.py, _websocket.py) subclass it and change only
how bytes become packets and back, so every scheme shares the packet handling and its limits.

No greenlet exists for a connection while it is idle: the hub watches its socket, reads and
parses packets in the watcher callback and hands requests to reusable worker greenlets. Writes go
straight to the socket when it takes them and otherwise wait in a bounded queue, written when
the socket becomes writable; a client that does not read is cut off when that queue is full.
This keeps an idle connection to a socket, a watcher and this object (see bench/connections.py).

A client over its packet rate costs little: the packet that finds its token bucket empty is
refused (the first time, that is the warning), and the connection is not read again until the
bucket is half full; what the client sends meanwhile waits in its own socket buffers, then in
TCP's flow control. A client that runs its bucket dry `max_rate_strikes` times within
`strike_window_s` is closed.
"""

from __future__ import annotations

import socket
import struct
from collections import deque
from typing import Any, Protocol

from hn_broker._config import ClientLimits
from hn_broker._packets import MAX_ECHOED, ClientError, DecodeError, PacketKind, error_packet, frame, parse
from hn_edge import Binding
from hn_idl.client.constants import PACKET_VERSION
from hn_idl.client.ttypes import Packet
from hn_runtime import new_trace_id

__all__ = ["ClientConnection", "ConnectionOwner"]

_READ = 1
_WRITE = 2
_REQUEST = PacketKind.REQUEST
_PING = PacketKind.PING
_PONG = PacketKind.PONG
#: Linux's struct tcp_info, up to tcpi_rtt and tcpi_rttvar (microseconds, at bytes 68 and 72)
_TCP_INFO = getattr(socket, "TCP_INFO", None)
_TCP_INFO_RTT = struct.Struct("=II")
_TCP_INFO_LENGTH = 76
#: seconds a connection's round trip, read from the kernel, is stamped on requests before it is read again
_RTT_FRESH_S = 1.0


class ConnectionOwner(Protocol):
    """What a connection needs of the broker that holds it."""

    def dispatch(self, conn: ClientConnection, packet: Packet) -> None:
        """A request packet arrived: route it (called in the hub)."""

    def closed(self, conn: ClientConnection, reason: str) -> None:
        """The connection closed, for `reason`."""

    def count_refusal(self, code: int) -> None:
        """An error packet with `code` went to the client."""


class ClientConnection:
    __slots__ = (
        "owner",
        "limits",
        "loop",
        "sock",
        "peer",
        "session_id",
        "display_name",
        "bindings",
        "in_flight",
        "last_seen",
        "closed",
        "_reader",
        "_writer",
        "_parts",
        "_have",
        "_need",
        "_held",
        "_out",
        "_out_bytes",
        "_tokens",
        "_stamp",
        "_malformed",
        "_strikes",
        "_strikes_since",
        "_resume_timer",
        "_backlog",
        "_handshakes",
        "_handshake_timer",
        "_rtt",
        "_rtt_at",
    )

    def __init__(
        self,
        owner: ConnectionOwner,
        limits: ClientLimits,
        loop: Any,
        sock: socket.socket,
        peer: str,
        *,
        handshake_timeout_s: float = 0.0,
    ) -> None:
        """`handshake_timeout_s`: how long the handshakes of the layers under the packets (TLS,
        WebSocket: the subclasses) may take before the connection is closed; 0: no limit."""
        self.owner = owner
        self.limits = limits
        #: gevent's event loop, whose watchers drive the socket
        self.loop = loop
        #: a plain (not gevent) non-blocking socket: only the hub's watchers wait on it
        self.sock = sock
        self.peer = peer
        self.session_id: str | None = None
        self.display_name = ""
        #: message family -> the instance holding this session's state for it
        self.bindings: dict[str, Binding] = {}
        self.in_flight = 0
        self.closed = False
        self.last_seen = loop.now()
        #: the pieces of an incomplete packet, None when there is none
        self._parts: list[bytes] | None = None
        self._have = 0
        self._need = 0
        #: answers held while one read's packets are handled, written together (None: not holding)
        self._held: list[bytes] | None = None
        #: bytes the socket did not take yet (None while there are none: most of the time)
        self._out: deque[bytes] | None = None
        self._out_bytes = 0
        self._tokens = limits.burst
        self._stamp = self.last_seen
        self._malformed = 0
        #: times the bucket ran dry since `_strikes_since` (see ClientLimits.max_rate_strikes)
        self._strikes = 0
        self._strikes_since = 0.0
        #: while reading is paused for the rate: the timer that resumes it, and the bytes read
        #: but not yet handled
        self._resume_timer: Any = None
        self._backlog = b""
        #: handshakes not yet complete (see _expect_handshake), and the timer that ends their time
        self._handshakes = 0
        self._handshake_timer: Any = None
        if handshake_timeout_s > 0:
            self._handshake_timer = loop.timer(handshake_timeout_s)
        #: the last round trip read from the kernel, and when (loop time; see round_trip_us)
        self._rtt: int | None = None
        self._rtt_at = -_RTT_FRESH_S
        self._writer: Any = None
        self._reader = loop.io(sock.fileno(), _READ)
        self._reader.start(self._on_readable)

    # -- reading (in the hub) ----------------------------------------------------------------

    def _on_readable(self) -> None:
        data = self._receive()
        if data:
            self.feed(data)

    def _receive(self) -> bytes:
        """What the socket holds (b"" if nothing yet); a reset or the client's close closes."""
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return b""
        except OSError:
            self.close("reset")
            return b""
        if not data:
            self.close("closed by client")
        return data

    def feed(self, data: bytes) -> None:
        """Take bytes read from the client: split them into frames and handle each packet.

        Call it from the hub (requests are dispatched to worker greenlets from here).
        """
        buf = data if self._parts is None else self._gather(data)
        if not buf:
            return
        limit = self.limits.max_packet_bytes
        end = len(buf)
        if end >= 4:
            size = int.from_bytes(buf[:4], "big")
            if size <= limit and end == 4 + size:
                # The common case: one whole packet.
                self._on_frame(buf[4:])
                return
        offset = 0
        need = 4
        held = None
        try:
            while end - offset >= 4:
                size = int.from_bytes(buf[offset : offset + 4], "big")
                if size > limit:
                    self.refuse(ClientError.TOO_LARGE, f"a packet may hold {limit} bytes, this one says {size}")
                    self.close("packet too large")
                    return
                if end - offset - 4 < size:
                    need = 4 + size
                    break
                if held is None and end - offset - 4 - size >= 4:
                    # More packets follow in this read: hold their answers, write them at once.
                    held = self._held = []
                self._on_frame(buf[offset + 4 : offset + 4 + size])
                offset += 4 + size
                if self.closed or self._resume_timer is not None:
                    break
        finally:
            if held is not None:
                self._release()
        self._rest(buf, offset, need)

    def _gather(self, data: bytes) -> bytes:
        """`data` added to the pieces of an incomplete frame: the whole buffer once it holds the
        `_need` bytes the frame needs, else b"" (nothing to handle yet).

        The pieces are joined once, when the frame is whole; joining at every read would cost a
        client trickling a large packet one byte at a time quadratic work (a slowloris that
        burns CPU)."""
        parts = self._parts
        assert parts is not None
        parts.append(data)
        self._have += len(data)
        if self._have < self._need:
            return b""
        self._parts = None
        return b"".join(parts)

    def _rest(self, buf: bytes, offset: int, need: int) -> None:
        """What follows `offset` in `buf` once a read's frames are handled: nothing to keep if the
        connection closed; if it went over its rate, the rest waits, unread, until the bucket
        has refilled (_resume); else it is the start of a frame that needs `need` bytes."""
        end = len(buf)
        if self.closed or offset >= end:
            return
        if self._resume_timer is not None:
            self._backlog = buf[offset:]
            return
        self._parts = [buf[offset:] if offset else buf]
        self._have = end - offset
        self._need = need

    def _kept(self, data: bytes) -> bool:
        """For a framing's `send`: True if `data` goes no further now (the connection is closed,
        or answers are held while a read's packets are handled: `data` joins them)."""
        if self.closed:
            return True
        held = self._held
        if held is not None:
            held.append(data)
            return True
        return False

    def buffered(self) -> int:
        """Bytes received of a packet not yet complete (at most max_packet_bytes + 3)."""
        return self._have if self._parts is not None else 0

    def _on_frame(self, data: bytes) -> None:
        # Only whole packets count as signs of life: a client trickling the bytes of a packet it
        # never finishes (slowloris) is idle, and the sweeper closes it.
        now = self.loop.now()
        self.last_seen = now
        if not self._spend(now):
            self._over_rate(data, now)
            return
        try:
            packet = parse(data)
        except DecodeError as exc:
            self._on_malformed(f"undecodable packet: {exc}")
            return
        if packet.version != PACKET_VERSION:
            self.refuse(
                ClientError.UNSUPPORTED_VERSION,
                f"packet version {packet.version}, this broker speaks {PACKET_VERSION}",
                packet,
            )
            return
        kind = packet.kind
        if kind == _REQUEST:
            self.owner.dispatch(self, packet)
        elif kind == _PING:
            self.send(frame(Packet(PACKET_VERSION, _PONG, "", packet.seq, None, None, None, None, b"")))
        else:
            self._on_malformed(f"clients send requests and pings, not kind {kind}")

    def _spend(self, now: float) -> bool:
        """Take a token for one packet (or one WebSocket ping); False when the bucket is empty.

        Token bucket: `rate` packets a second, `burst` at once."""
        limits = self.limits
        tokens = self._tokens + (now - self._stamp) * limits.rate
        if tokens > limits.burst:
            tokens = limits.burst
        self._stamp = now
        if tokens < 1.0:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1.0
        return True

    def _over_rate(self, data: bytes, now: float) -> None:
        """The bucket is empty: refuse this packet, then stop reading until the bucket is half
        full again, or close the connection if this keeps happening."""
        limits = self.limits
        if now - self._strikes_since > limits.strike_window_s:
            self._strikes = 0
            self._strikes_since = now
        self._strikes += 1
        # Refused with the request's seq, so that the client's call fails at once instead of
        # waiting out its timeout (an error with seq 0 answers no request).
        try:
            packet: Packet | None = parse(data)
        except DecodeError:
            packet = None
        left = limits.max_rate_strikes - self._strikes
        if left <= 0:
            self.refuse(
                ClientError.RATE_LIMITED,
                f"kept sending more than {limits.rate:g} packets a second after a warning: disconnected",
                packet,
            )
            self.close("flooding")
            return
        self.refuse(
            ClientError.RATE_LIMITED,
            f"too many packets: slow down (at most {limits.rate:g} a second; {left} more times within "
            f"{limits.strike_window_s:g} s and the connection is closed)",
            packet,
        )
        refill = limits.burst / 2 - self._tokens
        self._pause(refill / limits.rate if limits.rate > 0 else limits.strike_window_s)

    def _pause(self, seconds: float) -> None:
        self._reader.stop()
        timer = self._resume_timer = self.loop.timer(max(seconds, 0.001))
        timer.start(self._resume)

    def _resume(self) -> None:
        timer = self._resume_timer
        self._resume_timer = None
        if timer is not None:
            timer.close()
        if self.closed:
            return
        backlog = self._backlog
        self._backlog = b""
        if backlog:
            self.feed(backlog)
        if not self.closed and self._resume_timer is None:
            self._reader.start(self._on_readable)

    def round_trip_us(self) -> int | None:
        """A bound on this client's network round trip, in microseconds, as the kernel measures
        its TCP connection: the smoothed RTT plus twice its mean deviation (Linux TCP_INFO);
        None where the kernel does not say.

        The kernel times every segment the broker sends until the client's TCP acknowledges it,
        so this needs no cooperation from the client's code, unlike timing pings the client
        would answer (and could answer late on purpose to widen its bound).

        Read again at most every `_RTT_FRESH_S` seconds: the kernel's figure is itself smoothed
        over many segments, and asking it is a system call, which cost every forwarded request
        more than a microsecond.
        """
        now = self.loop.now()
        if now - self._rtt_at < _RTT_FRESH_S:
            return self._rtt
        rtt = self._read_round_trip_us()
        if rtt is not None:
            self._rtt, self._rtt_at = rtt, now
        return rtt

    def _read_round_trip_us(self) -> int | None:
        if _TCP_INFO is None:
            return None
        try:
            info = self.sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _TCP_INFO_LENGTH)
        except OSError:
            return None
        if len(info) < _TCP_INFO_LENGTH:
            return None
        rtt, deviation = _TCP_INFO_RTT.unpack_from(info, 68)
        return rtt + 2 * deviation if rtt else None

    def _on_malformed(self, why: str) -> None:
        self._malformed += 1
        self.refuse(ClientError.MALFORMED, why)
        if self._malformed >= self.limits.max_malformed:
            self.close("malformed packets")

    @property
    def pending_output(self) -> bool:
        """Bytes the client has not been able to take yet."""
        return bool(self._out) or bool(self._held)

    def refuse(self, code: int, message: str, packet: Packet | None = None, trace_id: str | None = None) -> None:
        """Answer `packet` (or the connection) with an error packet, counted."""
        self.owner.count_refusal(code)
        seq, type_ = (packet.seq, packet.type or "") if packet is not None else (0, "")
        if len(type_) > MAX_ECHOED:
            # An answer is never larger than what it answers: the client's type, cut short.
            type_ = type_[:MAX_ECHOED]
        # Every error carries a trace id: the client quotes it, the logs have it.
        trace_id = trace_id or (packet.trace_id if packet is not None else None) or new_trace_id()
        self.send(error_packet(code, message, seq=seq, type=type_, trace_id=trace_id))

    # -- writing (any greenlet) --------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Send framed packets (each with its 4-byte length, as _packets makes them); the
        framings and layers that subclasses add turn them into what their client reads."""
        if self.closed:
            return
        held = self._held
        if held is not None:
            held.append(data)
            return
        self._write(data)

    def _transmit(self, data: bytes) -> None:
        """Bytes of a layer's own (a WebSocket frame, a handshake's answer) to the layer below it:
        never held, never framed again. Here, the socket; TLS encrypts them first."""
        self._write(data)

    def _write(self, data: bytes) -> None:
        """Bytes to the socket as they are: written now if the socket takes them, else queued."""
        if self._out is None:
            try:
                sent = self.sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                self.close("reset")
                return
            if sent == len(data):
                return
            data = data[sent:]
            self._out = deque()
        self._out.append(data)
        self._out_bytes += len(data)
        if self._out_bytes > self.limits.max_outgoing_bytes:
            self.close("slow reader")
            return
        if self._writer is None:
            self._writer = self.loop.io(self.sock.fileno(), _WRITE)
            self._writer.start(self._on_writable)

    def _release(self) -> None:
        """Write the answers held during a read, as one."""
        held = self._held
        self._held = None
        if held:
            self.send(held[0] if len(held) == 1 else b"".join(held))

    def _on_writable(self) -> None:
        out = self._out
        try:
            while out:
                chunk = out[0]
                sent = self.sock.send(chunk)
                self._out_bytes -= sent
                if sent < len(chunk):
                    out[0] = chunk[sent:]
                    return
                out.popleft()
        except BlockingIOError:
            return
        except OSError:
            self.close("reset")
            return
        self._out = None
        self._out_bytes = 0
        if self._writer is not None:
            self._writer.stop()
            self._writer.close()
            self._writer = None

    # -- handshakes (of the TLS and WebSocket layers) ----------------------------------------

    def _expect_handshake(self) -> None:
        """A layer's handshake has begun: the connection carries packets once every begun one is
        done (_handshake_done), and is closed if they are not done in `handshake_timeout_s`."""
        self._handshakes += 1
        timer = self._handshake_timer
        if timer is not None and not timer.active:
            timer.start(self._handshake_late)

    def _handshake_done(self) -> None:
        self._handshakes -= 1
        if self._handshakes == 0:
            self._stop_handshake_timer()

    def _stop_handshake_timer(self) -> None:
        timer = self._handshake_timer
        if timer is not None:
            self._handshake_timer = None
            timer.stop()
            timer.close()

    def _handshake_late(self) -> None:
        # A slowloris on the handshake: nothing it sent yet is a packet, so the idle sweep would
        # hold it for the whole idle timeout.
        self.close("handshake timeout")

    # -- the end -----------------------------------------------------------------------------

    def close(self, reason: str) -> None:
        if self.closed:
            return
        if self._held:
            # Answers to the packets before the one that ends the connection (best effort).
            self._release()
            if self.closed:
                return
        self.closed = True
        self._reader.stop()
        self._reader.close()
        if self._resume_timer is not None:
            self._resume_timer.stop()
            self._resume_timer.close()
            self._resume_timer = None
        self._backlog = b""
        self._stop_handshake_timer()
        if self._writer is not None:
            self._writer.stop()
            self._writer.close()
            self._writer = None
        self._out = None
        try:
            self.sock.close()
        except OSError:
            pass
        self.owner.closed(self, reason)
