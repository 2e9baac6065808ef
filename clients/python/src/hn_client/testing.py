"""`RawClient`: a game client written against the wire protocol itself (client.thrift), not the SDK.

Tests and benchmarks of the broker use it to send what an attacker sends (any bytes, any field, any packet kind
or protocol version), and to drive a reconnect step by step (connect, resume, read what comes)
without the SDK's own recovery.
"""

from __future__ import annotations

import itertools
import os
import socket
from typing import Any

from hn_codec import decode, encode, load_idl, spec_of
from hn_idl.client.constants import PACKET_VERSION
from hn_idl.client.ttypes import Packet, PacketKind
from hn_runtime.testing import time_factor

__all__ = ["RawClient", "fresh_name"]

_SPEC = spec_of(Packet)
_names = itertools.count()


def fresh_name(prefix: str = "raw") -> str:
    return f"{prefix}{os.getpid()}x{next(_names)}"


class RawClient:
    """One TCP connection to a broker ("host:port"): framed packets out, packets in.

    `call` answers a request's reply; pushes read meanwhile are kept in `pushes`.
    """

    def __init__(self, address: str, *, rcvbuf: int | None = None) -> None:
        host, _, port = address.rpartition(":")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connecting: sets the window
        sock.connect((host, int(port)))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(15 * time_factor())
        self.address = address
        self.sock = sock
        self._buf = b""
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

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self) -> Packet | None:
        """The next packet, or None once the broker has closed the connection."""
        while len(self._buf) < 4 or len(self._buf) < 4 + int.from_bytes(self._buf[:4], "big"):
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                return None
            self._buf += data
        size = int.from_bytes(self._buf[:4], "big")
        packet = decode(self._buf[4 : 4 + size], _SPEC)
        self._buf = self._buf[4 + size :]
        return packet  # type: ignore[no-any-return]

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
