"""A connection to one broker: framed packets out, replies matched by seq, pushes to a callback."""

from __future__ import annotations

import itertools
import socket
import ssl
from collections.abc import Callable

import gevent
from gevent.event import AsyncResult

from hn_codec import DecodeError, decode, encode, spec_of
from hn_idl.client.constants import PACKET_VERSION
from hn_idl.client.ttypes import ClientError, Packet, PacketKind

__all__ = ["BrokerConnection", "ConnectionLost", "NotSent"]

_PACKET = spec_of(Packet)
#: connection-level errors after which the broker closes the connection
_GOING = frozenset(
    {
        ClientError.BROKER_UNAVAILABLE,
        ClientError.IDLE_TIMEOUT,
        ClientError.SESSION_ENDED,
        ClientError.LOGGED_IN_ELSEWHERE,
    }
)


class ConnectionLost(Exception):
    """The broker connection closed with the request in flight (it may or may not have run)."""


class NotSent(ConnectionLost):
    """The connection was gone before the request was written: it never ran (safe to resend)."""


class BrokerConnection:
    def __init__(
        self,
        address: str,
        *,
        on_push: Callable[[Packet], None],
        on_close: Callable[[BrokerConnection], None],
        connect_timeout: float = 5.0,
        ping_interval: float = 15.0,
        on_error: Callable[[BrokerConnection, Packet], None] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """`on_error(connection, packet)`: connection-level error packets (seq 0), which go to
        `on_push` when it is not given. `tls`: speak TLS, verifying the broker with this context
        (its certificate must name the address's host)."""
        host, _, port = address.rpartition(":")
        self.address = address
        sock = socket.create_connection((host, int(port)), timeout=connect_timeout)
        if tls is not None:
            try:
                sock = tls.wrap_socket(sock, server_hostname=host)  # the handshake, within connect_timeout
            except BaseException:
                sock.close()
                raise
        self._sock = sock
        self._sock.settimeout(None)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._seq = itertools.count(1)
        self._waiting: dict[int, AsyncResult] = {}
        self._on_push = on_push
        self._on_error = on_error
        self._on_close = on_close
        self.closed = False
        #: the broker said it is going away (shutting down): new requests go elsewhere
        self.leaving = False
        self._reader = gevent.spawn(self._read)
        self._pinger = gevent.spawn(self._ping, ping_interval)

    def request(self, type_: str, body: bytes, *, timeout: float, trace_id: str | None = None) -> Packet:
        """Send a request; return its REPLY or ERROR packet."""
        if self.closed:
            raise NotSent(f"connection to {self.address} is closed")
        seq = next(self._seq)
        result: AsyncResult = AsyncResult()
        self._waiting[seq] = result
        try:
            self._send(Packet(PACKET_VERSION, PacketKind.REQUEST, type_, seq, None, None, None, trace_id, body))
            return result.get(timeout=timeout)  # type: ignore[no-any-return]
        finally:
            self._waiting.pop(seq, None)

    def _send(self, packet: Packet) -> None:
        data = encode(packet, _PACKET)
        try:
            self._sock.sendall(len(data).to_bytes(4, "big") + data)
        except OSError as exc:
            self.close()
            # A broker acts on whole packets only: one that could not be written never ran.
            raise NotSent(f"send to {self.address} failed: {exc}") from None

    def _ping(self, interval: float) -> None:
        while not self.closed:
            gevent.sleep(interval)
            try:
                self._send(Packet(PACKET_VERSION, PacketKind.PING, "", 0, None, None, None, None, b""))
            except ConnectionLost:
                return

    def _read(self) -> None:
        buf = b""
        try:
            while True:
                data = self._sock.recv(65536)
                if not data:
                    break
                buf += data
                while len(buf) >= 4:
                    size = int.from_bytes(buf[:4], "big")
                    if len(buf) < 4 + size:
                        break
                    payload, buf = buf[4 : 4 + size], buf[4 + size :]
                    try:
                        self._on_packet(decode(payload, _PACKET))
                    except DecodeError:
                        continue
        except OSError:
            pass
        finally:
            self.close()

    def _on_packet(self, packet: Packet) -> None:
        if packet.kind in (PacketKind.REPLY, PacketKind.ERROR):
            waiter = self._waiting.get(packet.seq)
            if waiter is not None:
                waiter.set(packet)
            elif packet.kind == PacketKind.ERROR and not packet.seq:
                if packet.error_code in _GOING:
                    # Shutting down, full, cutting us off as idle, or this session is over.
                    self.leaving = True
                # A connection-level error: the owner decides.
                if self._on_error is not None:
                    self._on_error(self, packet)
                else:
                    self._on_push(packet)
        elif packet.kind == PacketKind.PUSH:
            self._on_push(packet)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._sock.close()
        except OSError:
            pass
        for waiter in list(self._waiting.values()):
            waiter.set_exception(ConnectionLost(f"connection to {self.address} lost"))
        self._pinger.kill(block=False)
        self._on_close(self)
