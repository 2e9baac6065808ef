"""WebSocket under a client connection: the same `Packet`, one per binary message.

What a client (a browser, the TypeScript SDK) sees:

- `ws://host:port/` on the broker's WebSocket port (HN_BROKER_WS_PORT), `wss://` when the broker
  has a certificate; brokerlist's `GET /v2/brokers` lists both with each broker. Path `/` (a
  query string is ignored); any other path is answered 404.
- No subprotocol is needed. A client that offers some must include `hn-packet`, which the
  broker then selects (browsers fail a handshake whose answer names none of their offers).
  No extensions: permessage-deflate is declined (a compressed message could inflate past the
  packet size limit only after the work of inflating it).
- One binary message is one `Packet` of client.thrift (TBinaryProtocol), without the 4-byte
  length that frames packets on TCP; every answer and push is one binary message. A message may
  come in fragments. A text message is refused MALFORMED (binary only).
- The limits are TCP's, packet for packet: a message over `max_packet_bytes` (the fragments so
  far included) is refused TOO_LARGE and the connection closed (close code 1009) as soon as a
  frame header says so, before its payload is read; the token bucket, strikes, in-flight cap,
  malformed budget, idle cut (only whole packets are signs of life: send PING packets; a
  WebSocket ping is answered, costs a token, and keeps nothing alive), slow-reader cut and the
  per-address cap all apply. The HTTP upgrade must be complete within the broker's handshake
  timeout and 16 KiB, else the connection is closed; a bad upgrade is answered 400. A client
  turned away on arrival (broker full, too many connections from its address) gets an HTTP 503
  or 429 whose body names the ClientError code, instead of the handshake.
- Protocol errors (an unmasked frame, a continuation out of place, a control frame over 125
  bytes) are answered with a MALFORMED error packet and a close frame (1002).

The library: wsproto (python-hyper), with h11 for the HTTP upgrade. It is sans-IO: it is handed
bytes and gives back events and bytes to send, so it runs on the broker's own plain
non-blocking sockets, driven from gevent's hub like TCP connections, with no greenlet, thread
or event loop of its own per connection; python-hyper maintains it with h11, it is typed and
small. (The `websockets` package has a sans-IO layer too, but wants a `Request` object of its
own per handshake and a parser generator per connection; its asyncio and threading servers do
not fit the hub.)

Its frame parser is pure Python built on generators: about 25-50 µs per message here, as much as
the broker's whole work on a request. So the connection splits frames itself (a header is 2 to
14 bytes) and handles the shape a client sends nearly always, a whole, final, masked binary
frame outside a fragmented message, the way the TCP path handles a frame: unmask, token
bucket, packet header, dispatch. Every other frame goes whole to wsproto: fragments and their
reassembly, ping, pong, close, text, reserved bits, unmasked frames. Answers go out as single
unmasked binary frames (a 2- to 10-byte header before the packet). The figures are
bench/broker.py's ws and wss rows.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from wsproto import ConnectionType
from wsproto.connection import Connection, ConnectionState
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Message, Ping, Request
from wsproto.handshake import H11Handshake
from wsproto.utilities import RemoteProtocolError

from hn_broker._connection import ClientConnection
from hn_broker._packets import ClientError
from hn_broker._tls import TlsLayer

__all__ = ["SUBPROTOCOL", "PATH", "SecureWebSocketConnection", "WebSocketConnection", "refusal_response"]

#: the subprotocol the broker selects when a client offers it (none is needed)
SUBPROTOCOL = "hn-packet"
#: where the broker's WebSocket answers
PATH = "/"
#: the HTTP upgrade request may hold this many bytes (h11's own default)
MAX_HANDSHAKE_BYTES = 16 * 1024
_BINARY_FINAL = 0x82  # FIN, no reserved bits, opcode 2
_MASKED = 0x80
#: close codes (RFC 6455, 7.4.1) for the broker's reasons to close
_CLOSE_CODES = {
    "packet too large": 1009,
    "websocket protocol error": 1002,
    "broker shutting down": 1001,
    "broker draining": 1001,
    "flooding": 1008,
    "malformed packets": 1008,
    "slow reader": 1008,
    "idle": 1008,
}
#: the HTTP status a client turned away at arrival gets, by ClientError code
_TURNED_AWAY = {int(ClientError.TOO_MANY_CONNECTIONS): 429}


def refusal_response(code: int, message: str) -> bytes:
    """The HTTP answer to a WebSocket client turned away on arrival (before its upgrade is
    read): 503, or 429 for too many connections; the body names the ClientError code."""
    name = ClientError._VALUES_TO_NAMES.get(code, str(code))
    return _http_response(_TURNED_AWAY.get(code, 503), f"{name}: {message}")


def _http_response(status: int, text: str) -> bytes:
    body = (text + "\n").encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def _unmask(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    if not n:
        return b""
    key = (mask * ((n >> 2) + 1))[:n]
    # One XOR of two big integers: linear, in C, without a per-byte Python loop.
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


def _message(packet: bytes) -> bytes:
    """An encoded packet as one unmasked, final, binary frame (a server's frames are unmasked)."""
    size = len(packet)
    if size < 126:
        return bytes((_BINARY_FINAL, size)) + packet
    if size < 65536:
        return b"\x82\x7e" + size.to_bytes(2, "big") + packet
    return b"\x82\x7f" + size.to_bytes(8, "big") + packet


class WebSocketLayer(ClientConnection):
    """Packets in binary WebSocket messages; the bytes below go to the next class in the MRO
    (the socket itself, or TLS)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handshake: H11Handshake | None = H11Handshake(ConnectionType.SERVER)
        self._head = bytearray()
        #: the frame protocol once the upgrade is done (None before)
        self._proto: Connection | None = None
        #: within a fragmented message: its bytes so far, and whether it is text
        self._in_message = False
        self._message_bytes = 0
        self._pieces: list[bytes] = []
        self._text = False
        self._expect_handshake()

    # -- reading (in the hub) ----------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self._proto is None:
            self._upgrade(data)
            return
        buf = data if self._parts is None else self._gather(data)
        if not buf:
            return
        limit = self.limits.max_packet_bytes
        end = len(buf)
        if end > 6 and buf[0] == _BINARY_FINAL and not self._in_message:
            size = buf[1] - _MASKED
            if 0 <= size < 126 and end == 6 + size and size <= limit:
                # The common case: one whole, final, masked binary frame of a small packet.
                self._on_frame(_unmask(buf[6:], buf[2:6]))
                return
        offset = 0
        need = 2
        held = None
        try:
            while end - offset >= 2:
                need = 2
                first = buf[offset]
                second = buf[offset + 1]
                size = second & 0x7F
                head = 2
                if size >= 126:
                    head = 4 if size == 126 else 10
                    if end - offset < head:
                        need = head
                        break
                    size = int.from_bytes(buf[offset + 2 : offset + head], "big")
                if second & _MASKED:
                    head += 4
                opcode = first & 0x0F
                total = self._message_bytes + size
                if opcode >= 8:
                    if size > 125:
                        self._protocol_error(f"a control frame of {size} bytes (125 at most)")
                        return
                elif total > limit:
                    self.refuse(ClientError.TOO_LARGE, f"a packet may hold {limit} bytes, this message says {total}")
                    self.close("packet too large")
                    return
                if end - offset < head + size:
                    need = head + size
                    break
                start = offset + head
                offset = start + size
                if held is None and end - offset >= 2:
                    # More frames follow in this read: hold their answers, write them at once.
                    held = self._held = []
                if first == _BINARY_FINAL and second & _MASKED and not self._in_message:
                    self._on_frame(_unmask(buf[start:offset], buf[start - 4 : start]))
                else:
                    if opcode < 8:
                        final = bool(first & 0x80)
                        self._in_message = not final
                        self._message_bytes = 0 if final else total
                    self._by_the_library(buf[start - head : offset])
                if self._resume_timer is not None or self.closed:
                    break  # over its rate (see ClientConnection._rest), or closed
        finally:
            if held is not None:
                self._release()
        self._rest(buf, offset, need)

    def _by_the_library(self, frame: bytes) -> None:
        """A frame off the hot path, whole: wsproto checks it and says what it means."""
        proto = self._proto
        assert proto is not None
        proto.receive_data(frame)
        for event in proto.events():
            if isinstance(event, Message):
                if isinstance(event, BytesMessage):
                    self._pieces.append(event.data)
                else:
                    self._text = True
                if event.message_finished:
                    pieces, text = self._pieces, self._text
                    self._pieces, self._text = [], False
                    if text:
                        self._on_malformed("a text message: packets go in binary messages")
                    else:
                        self._on_frame(pieces[0] if len(pieces) == 1 else b"".join(pieces))
            elif isinstance(event, Ping):
                now = self.loop.now()
                if self._spend(now):
                    self._transmit(proto.send(event.response()))
                else:
                    self._over_rate(b"", now)
            elif isinstance(event, CloseConnection):
                if proto.state is ConnectionState.REMOTE_CLOSING:
                    self._transmit(proto.send(event.response()))
                    self.close("closed by client")
                else:  # wsproto's word for a frame it could not accept
                    self._protocol_error(event.reason or "bad frame")
            # A pong answers nothing the broker asked: ignored.
            if self.closed:
                return

    def _protocol_error(self, why: str) -> None:
        """The frames cannot be read on: say why in a packet, then close."""
        self.refuse(ClientError.MALFORMED, f"websocket protocol error: {why}")
        self.close("websocket protocol error")

    # -- the upgrade ---------------------------------------------------------------------------

    def _upgrade(self, data: bytes) -> None:
        head = self._head
        seen = len(head)
        head += data
        end = head.find(b"\r\n\r\n", max(0, seen - 3))
        if end < 0:
            if len(head) > MAX_HANDSHAKE_BYTES:
                self._refuse_upgrade(431, "the upgrade request is too large")
            return
        handshake = self._handshake
        assert handshake is not None
        request = None
        try:
            handshake.receive_data(bytes(head[: end + 4]))
            request = next(iter(handshake.events()), None)
        except RemoteProtocolError as exc:
            self._refuse_upgrade(400, f"not a WebSocket upgrade: {exc}")
            return
        if not isinstance(request, Request):
            self._refuse_upgrade(400, "not a WebSocket upgrade")
            return
        if request.target.partition("?")[0] != PATH:
            self._refuse_upgrade(404, f"the broker's WebSocket is at {PATH}")
            return
        if request.subprotocols and SUBPROTOCOL not in request.subprotocols:
            self._refuse_upgrade(400, f"subprotocols offered but not {SUBPROTOCOL!r}")
            return
        subprotocol = SUBPROTOCOL if request.subprotocols else None
        accept = handshake.send(AcceptConnection(subprotocol=subprotocol))
        rest = bytes(head[end + 4 :])
        self._proto = handshake.connection
        self._handshake = None
        self._head = bytearray()
        self._transmit(accept)
        self._handshake_done()
        if rest:  # frames sent before the answer (RFC 6455 says wait; taken all the same)
            self.feed(rest)

    def _refuse_upgrade(self, status: int, why: str) -> None:
        self._transmit(_http_response(status, why))
        self.close("websocket handshake refused")

    # -- writing -------------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        if self._kept(data):
            return
        if self._proto is None:
            return  # before the upgrade nothing but its answer goes out
        # `data` is one or more packets, each after its 4-byte length (as _packets frames them).
        end = len(data)
        size = int.from_bytes(data[:4], "big")
        if size == end - 4:
            self._transmit(_message(data[4:]))
            return
        frames = []
        offset = 0
        while offset < end:
            size = int.from_bytes(data[offset : offset + 4], "big")
            frames.append(_message(data[offset + 4 : offset + 4 + size]))
            offset += 4 + size
        self._transmit(b"".join(frames))

    # -- the end -------------------------------------------------------------------------------

    def close(self, reason: str) -> None:
        if self.closed:
            return
        if self._held:
            self._release()
        proto = self._proto
        if proto is not None and not self.closed and reason not in ("closed by client", "reset"):
            if proto.state is ConnectionState.OPEN:
                # The close frame: a browser reports its code and reason to the page.
                self._transmit(proto.send(CloseConnection(code=_CLOSE_CODES.get(reason, 1000), reason=reason)))
        super().close(reason)


class WebSocketConnection(WebSocketLayer):
    """A game client's packets in WebSocket messages (the "ws" scheme)."""


class SecureWebSocketConnection(WebSocketLayer, TlsLayer):
    """A game client's packets in WebSocket messages over TLS (the "wss" scheme)."""
