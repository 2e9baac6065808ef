"""`RawClient`: a game client written against the wire protocol itself (client.thrift), not the SDK.

Tests and benchmarks of the broker use it to send what an attacker sends (any bytes, any field, any packet kind
or protocol version), and to drive a reconnect step by step (connect, resume, read what comes)
without the SDK's own recovery. It speaks every scheme of the edge: packets after their 4-byte
length on TCP, one per binary message on WebSocket (wsproto as the client), either one inside TLS.
"""

from __future__ import annotations

import collections
import itertools
import os
import socket
import ssl
from typing import Any

import gevent

from hn_codec import decode, encode, load_idl, spec_of
from hn_idl.client.constants import PACKET_VERSION
from hn_idl.client.ttypes import Packet, PacketKind
from hn_runtime.testing import time_factor

__all__ = ["RawClient", "fresh_name"]

_SPEC = spec_of(Packet)
_names = itertools.count()


def fresh_name(prefix: str = "raw") -> str:
    return f"{prefix}{os.getpid()}x{next(_names)}"


def masked_frame(opcode: int, payload: bytes, *, final: bool = True, mask: bytes = b"\x1f\x2e\x3d\x4c") -> bytes:
    """A client's WebSocket frame as it goes on the wire (any opcode, fragment or mask), for
    tests that send what a library client would refuse to; an empty `mask` sends it unmasked."""
    size = len(payload)
    first = (0x80 if final else 0) | opcode
    masked = 0x80 if mask else 0
    if size < 126:
        head = bytes((first, masked | size))
    elif size < 65536:
        head = bytes((first, masked | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((first, masked | 127)) + size.to_bytes(8, "big")
    if not mask:
        return head + payload
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body


class RawClient:
    """One connection to a broker: framed packets out, packets in.

    `address` is "host:port" (packets after their 4-byte length) or a WebSocket URL
    ("ws://host:port/", "wss://host:port/": one packet per binary message); with `tls` (a client
    context) or a wss URL, the connection speaks TLS. `call` answers a request's reply; pushes
    read meanwhile are kept in `pushes`. Over WebSocket, `rejection` holds the HTTP status and
    body of a refused upgrade and `close_code` the code of the broker's close frame.
    """

    def __init__(
        self,
        address: str,
        *,
        rcvbuf: int | None = None,
        tls: ssl.SSLContext | None = None,
        subprotocols: tuple[str, ...] = (),
        upgrade: bool = True,
        source: str | None = None,
    ) -> None:
        """`upgrade=False`: a WebSocket connection that has not sent its upgrade request yet
        (send it, or bytes of it, yourself). `source`: the local IP address to connect from (any
        of 127.0.0.0/8 reaches a loopback broker, which then sees a client of that address)."""
        scheme, _, rest = address.rpartition("://")
        location = rest.split("/", 1)
        host, _, port = location[0].rpartition(":")
        self.websocket = scheme in ("ws", "wss")
        if scheme == "wss" and tls is None:
            tls = ssl.create_default_context()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connecting: sets the window
        if source is not None:
            sock.bind((source, 0))
        sock.connect((host, int(port)))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(15 * time_factor())
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname=host)
        self.address = address
        self.sock = sock
        self._buf = b""
        self._ws: Any = None
        self._messages: collections.deque[bytes] = collections.deque()
        self._pieces: list[bytes] = []
        self.rejection: tuple[int, bytes] | None = None
        self.close_code: int | None = None
        #: payloads of the WebSocket pongs read so far
        self.pongs: list[bytes] = []
        self._ended = False
        if self.websocket:
            from wsproto import ConnectionType, WSConnection
            from wsproto.events import Request

            self._ws = WSConnection(ConnectionType.CLIENT)
            self.upgrade_request = self._ws.send(
                Request(
                    host=location[0],
                    target="/" + (location[1] if len(location) > 1 else ""),
                    subprotocols=list(subprotocols),
                )
            )
            if upgrade:
                self.sock.sendall(self.upgrade_request)
                self._read_upgrade()
        self._seqs = itertools.count(1)
        #: the sequence number of the last packet made
        self.seq = 0
        self.account: Any = None
        self.token: str | None = None
        self.pushes: list[Packet] = []

    def packet(
        self,
        type_: str = "",
        body: bytes = b"",
        *,
        kind: int = PacketKind.REQUEST,
        version: int = PACKET_VERSION,
        extra: bytes = b"",
        trace_id: str | None = None,
    ) -> bytes:
        """A framed packet; `extra` is spliced in before the struct's end (unknown fields)."""
        self.seq = next(self._seqs)
        data = encode(Packet(version, kind, type_, self.seq, None, None, None, trace_id, body), _SPEC)
        if extra:
            data = data[:-1] + extra + data[-1:]
        return len(data).to_bytes(4, "big") + data

    def request(self, type_: str, **arguments: Any) -> bytes:
        service, _, name = type_.partition(".")
        method = load_idl(service).method(name)
        return self.packet(type_, encode(method.args_cls(**arguments), method.args_spec))

    def _read_upgrade(self) -> None:
        from wsproto.events import AcceptConnection, RejectConnection, RejectData

        status, body = 0, b""
        while True:
            data = self._recv()
            self._ws.receive_data(data or None)
            for event in self._ws.events():
                if isinstance(event, AcceptConnection):
                    self.subprotocol = event.subprotocol
                    return
                if isinstance(event, RejectConnection):
                    status = event.status_code
                    if not event.has_body:
                        data = b""
                elif isinstance(event, RejectData):
                    body += event.data
                    if event.body_finished:
                        data = b""
            if not data:
                self.rejection = (status, body)
                self._ended = True
                return

    def _recv(self) -> bytes:
        try:
            return self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            return b""

    def send(self, data: bytes) -> None:
        """Send framed packets (as `packet` makes them); over WebSocket each becomes a message."""
        if self.websocket:
            from wsproto.events import BytesMessage

            messages = []
            while data:
                size = int.from_bytes(data[:4], "big")
                messages.append(self._ws.send(BytesMessage(data=data[4 : 4 + size])))
                data = data[4 + size :]
            data = b"".join(messages)
        self.sock.sendall(data)

    def send_raw(self, data: bytes) -> None:
        """Bytes as they are: WebSocket frames of your own (`masked_frame`), a partial packet..."""
        self.sock.sendall(data)

    def read(self) -> Packet | None:
        """The next packet, or None once the broker has closed the connection."""
        if self.websocket:
            message = self._read_message()
            return None if message is None else decode(message, _SPEC)  # type: ignore[no-any-return]
        while len(self._buf) < 4 or len(self._buf) < 4 + int.from_bytes(self._buf[:4], "big"):
            data = self._recv()
            if not data:
                return None
            self._buf += data
        size = int.from_bytes(self._buf[:4], "big")
        packet = decode(self._buf[4 : 4 + size], _SPEC)
        self._buf = self._buf[4 + size :]
        return packet  # type: ignore[no-any-return]

    def _read_message(self) -> bytes | None:
        from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage

        while not self._messages:
            if self._ended:
                return None
            data = self._recv()
            self._ws.receive_data(data or None)
            for event in self._ws.events():
                if isinstance(event, (BytesMessage, TextMessage)):
                    piece = event.data
                    self._pieces.append(piece.encode() if isinstance(piece, str) else bytes(piece))
                    if event.message_finished:
                        self._messages.append(b"".join(self._pieces))
                        self._pieces = []
                elif isinstance(event, Ping):
                    self.sock.sendall(self._ws.send(event.response()))
                elif isinstance(event, Pong):
                    self.pongs.append(bytes(event.payload))
                elif isinstance(event, CloseConnection):
                    self.close_code = self.close_code or event.code
                    self._ended = True
            if not data:
                self._ended = True
        return self._messages.popleft()

    def read_answer(self) -> Packet:
        """The next reply or error, keeping the pushes that come before it."""
        while True:
            packet = self.read()
            assert packet is not None, "the broker closed the connection"
            if packet.kind == PacketKind.PUSH:
                self.pushes.append(packet)
                continue
            return packet

    def ping(self) -> None:
        """A round trip: the broker still serves this connection."""
        self.send(self.packet(kind=PacketKind.PING))
        pong = self.read()
        assert pong is not None and (pong.kind, pong.seq) == (PacketKind.PONG, self.seq), pong

    def call(self, type_: str, **arguments: Any) -> Any:
        """One request: its result, its declared exception (the struct), or the error packet."""
        self.send(self.request(type_, **arguments))
        answer = self.read_answer()
        if answer.kind == PacketKind.ERROR:
            return answer
        service, _, name = type_.partition(".")
        result = decode(answer.body, load_idl(service).method(name).result_spec)  # type: ignore[arg-type]
        success = getattr(result, "success", None)  # a void method's result has none
        if success is not None:
            return success
        return next((getattr(result, f) for f in result.__slots__ if getattr(result, f) is not None), None)

    def flood_pings(self, *, rounds: int = 1000, per_round: int = 1000) -> tuple[list[Packet], int]:
        """Pings as fast as the socket takes them (`rounds` writes of `per_round` each, from a
        greenlet) while every answer is read, until the broker hangs up: (the answers read, the
        rounds written). A flood that reads its answers, which the broker must cut off."""
        pings = b"".join(self.packet(kind=PacketKind.PING) for _ in range(per_round))
        sent = [0]

        def flood() -> None:
            try:
                while sent[0] < rounds:
                    self.send(pings)
                    sent[0] += 1
            except OSError:
                pass  # cut off

        flooding = gevent.spawn(flood)
        try:
            answers = list(iter(self.read, None))
            flooding.join(timeout=10 * time_factor())
        finally:
            flooding.kill()
        return answers, sent[0]

    def guest_login(self, device_id: str | None = None) -> Any:
        login = self.call("sso.guest_login", device_id=device_id or f"device-{fresh_name()}")
        if not hasattr(login, "token"):
            raise AssertionError(f"guest login failed: {login}")
        self.account, self.token = login.account, login.token
        return self.account

    def closed(self) -> bool:
        """True once everything before the broker's close has been read."""
        while self.read() is not None:
            pass
        return True

    def close(self) -> None:
        self.sock.close()
