"""The broker's edge listeners: one listening socket per scheme, accepted from gevent's hub.

A scheme says how a game client's packets travel on a connection: "tcp" (4-byte length
prefix), "tls" (the same inside TLS), "ws" (one packet per binary WebSocket message) and "wss"
(that inside TLS). The broker listens on HN_BROKER_PORT with "tcp", or "tls" once it has a
certificate (HN_BROKER_TLS_CERT, HN_BROKER_TLS_KEY), and, when HN_BROKER_WS_PORT is set, on
that port with "ws" or "wss". Every connection, whatever its scheme, is held to the same limits
and goes through the same packet handling (ClientConnection._on_frame) and routing.
"""

from __future__ import annotations

import functools
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gevent.monkey import get_original

from hn_broker._config import BrokerConfig
from hn_broker._connection import ClientConnection
from hn_broker._packets import error_packet
from hn_broker._tls import TlsConnection, server_context
from hn_broker._websocket import SecureWebSocketConnection, WebSocketConnection, refusal_response
from hn_runtime import get_logger, new_trace_id
from hn_runtime.logs import LogThrottle

__all__ = ["Listener", "Scheme", "schemes"]

_log = get_logger("hn.broker")
_socket: type[socket.socket] = get_original("socket", "socket")
#: connections accepted per wakeup at most: others wait in the backlog for the next one
_ACCEPTS_PER_WAKEUP = 256


@dataclass(frozen=True)
class Scheme:
    """How clients of one listener speak, and what the broker needs to serve them."""

    #: "tcp", "tls", "ws" or "wss": the endpoint kind registered in yellow, listed by brokerlist
    name: str
    #: makes the connection of an accepted socket: (owner, limits, loop, sock, peer)
    connection: Callable[..., ClientConnection]

    @property
    def websocket(self) -> bool:
        return self.name in ("ws", "wss")

    def address(self, host: str, port: int) -> str:
        """What a client is told: host:port, or the WebSocket URL."""
        return f"{self.name}://{host}:{port}/" if self.websocket else f"{host}:{port}"

    def refusal(self, code: int, message: str) -> bytes:
        """What a client turned away on arrival gets before the close: an error packet on TCP, an
        HTTP answer on WebSocket, nothing under TLS (no handshake is spent on it)."""
        if self.name == "tcp":
            return error_packet(code, message, trace_id=new_trace_id())
        if self.name == "ws":
            return refusal_response(code, message)
        return b""


def schemes(config: BrokerConfig) -> list[tuple[Scheme, int]]:
    """The broker's listeners for `config`: (scheme, port to bind) each."""
    tls: ssl.SSLContext | None = None
    if config.tls_cert or config.tls_key:
        if not (config.tls_cert and config.tls_key):
            raise ValueError("TLS needs both HN_BROKER_TLS_CERT and HN_BROKER_TLS_KEY")
        tls = server_context(config.tls_cert, config.tls_key)
    shaking = {"handshake_timeout_s": config.handshake_timeout_s}
    if tls is None:
        listening = [(Scheme("tcp", ClientConnection), config.port)]
    else:
        listening = [(Scheme("tls", functools.partial(TlsConnection, tls=tls, **shaking)), config.port)]
    if config.ws_port is not None:
        if tls is None:
            websocket = Scheme("ws", functools.partial(WebSocketConnection, **shaking))
        else:
            websocket = Scheme("wss", functools.partial(SecureWebSocketConnection, tls=tls, **shaking))
        listening.append((websocket, config.ws_port))
    return listening


class Listener:
    """A listening socket watched by the hub: each wakeup accepts what waits (up to 256) and
    hands every socket, plain and non-blocking, to `admit(sock, address)`."""

    def __init__(
        self, loop: Any, scheme: Scheme, admit: Callable[[Listener, socket.socket, tuple[str, int]], None]
    ) -> None:
        self.loop = loop
        self.scheme = scheme
        self._admit = admit
        self._sock: socket.socket | None = None
        self._watcher: Any = None
        self._log_throttle = LogThrottle()
        self.port = 0

    def start(self, host: str, port: int) -> None:
        # Plain sockets, not gevent's: nothing ever blocks on them (the hub's watchers wait for
        # them), and gevent's wrappers would cost a Python call on every send and recv.
        sock = _socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(4096)
        sock.setblocking(False)
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._watcher = self.loop.io(sock.fileno(), 1)
        self._watcher.start(self._accept)

    def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher.close()
            self._watcher = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _accept(self) -> None:
        listener = self._sock
        assert listener is not None
        for _ in range(_ACCEPTS_PER_WAKEUP):
            try:
                # `accept()` would wrap the new socket in gevent's class: take the descriptor.
                fd, addr = listener._accept()  # type: ignore[attr-defined]
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # Out of descriptors (EMFILE) or memory: the listener stays readable, so pause
                # instead of spinning on it; clients wait in the backlog meanwhile.
                suppressed = self._log_throttle.allow("accept")
                if suppressed is not None:
                    _log.warning("accept failed, pausing", error=str(exc), suppressed=suppressed)
                self._pause(0.1)
                return
            sock = _socket(socket.AF_INET, socket.SOCK_STREAM, 0, fd)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._admit(self, sock, addr)

    def _pause(self, seconds: float) -> None:
        watcher = self._watcher
        if watcher is None or not watcher.active:
            return
        watcher.stop()
        timer = self.loop.timer(seconds)

        def resume() -> None:
            timer.close()
            if self._watcher is watcher:
                watcher.start(self._accept)

        timer.start(resume)
