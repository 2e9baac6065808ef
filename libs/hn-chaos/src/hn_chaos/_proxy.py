"""A loopback TCP proxy on gevent that injects faults into one link, switchable at runtime.

    proxy = FaultProxy("127.0.0.1:6379").start()     # clients connect to proxy.address instead
    proxy.latency(0.2)                                # every byte arrives 200 ms late (both ways)
    proxy.stall("down")                               # replies are held back ...
    proxy.heal()                                      # ... and delivered now; all faults cleared
    proxy.blackhole()                                 # bytes vanish; new connections hang
    proxy.heal()                                      # connections that lost bytes are reset
    proxy.reset()                                     # RST every open connection, once
    proxy.stop()

Directions: "up" is client -> upstream (requests), "down" is upstream -> client (replies), "both"
is both. A fault on "down" only is the classic way to make an operation's outcome unknown: the
request arrives and runs, its answer never does.

What each fault looks like to the two ends:

- latency(s, jitter): each chunk is delivered `s` (+ up to `jitter`) seconds after it was read;
  order is kept, as TCP keeps it.
- stall: bytes are read and held (up to a bounded buffer, then the sender's own buffers fill, as
  with TCP under heavy loss) and delivered in order on heal. Nothing is lost.
- blackhole: bytes are read and discarded; new connections are accepted and then hear nothing.
  A stream that lost bytes cannot carry on (its framing is gone), so heal() resets those
  connections; the peers see ECONNRESET and reconnect.
- reset: every open connection is closed with RST (SO_LINGER 0) at once, both sides.
- refuse: new connections are reset as soon as they are accepted (a dead service's port).
"""

from __future__ import annotations

import contextlib
import itertools
import random
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.event
import gevent.queue
import gevent.server
import gevent.socket

__all__ = ["FaultProxy", "ProxyStats", "DIRECTIONS"]

DIRECTIONS = ("up", "down")
_CHUNK = 65536
#: chunks held per direction of a connection before the proxy stops reading (backpressure)
_BUFFERED_CHUNKS = 256
_EOF = b""


def _directions(direction: str) -> tuple[str, ...]:
    if direction == "both":
        return DIRECTIONS
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'up', 'down' or 'both', not {direction!r}")
    return (direction,)


def _parse(address: str | tuple[str, int]) -> tuple[str, int]:
    if isinstance(address, tuple):
        return address
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


def _hard_close(sock: socket.socket) -> None:
    """Close with RST instead of FIN: the peer sees ECONNRESET."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


@dataclass
class ProxyStats:
    accepted: int = 0
    #: connections the upstream refused (the client was reset)
    upstream_failures: int = 0
    #: connections closed with RST by reset(), refuse() or heal() after a blackhole
    resets: int = 0
    refused: int = 0
    #: bytes read from the sender / written to the receiver / thrown away, per direction
    read: dict[str, int] = field(default_factory=lambda: {d: 0 for d in DIRECTIONS})
    bytes: dict[str, int] = field(default_factory=lambda: {d: 0 for d in DIRECTIONS})
    dropped: dict[str, int] = field(default_factory=lambda: {d: 0 for d in DIRECTIONS})


@dataclass
class _Faults:
    latency: float = 0.0
    jitter: float = 0.0
    blackhole: bool = False


class _Link:
    """One proxied connection: the client's socket, the upstream socket and a pump each way."""

    def __init__(self, proxy: FaultProxy, number: int, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.number = number
        self.sockets = {"up": (client, upstream), "down": (upstream, client)}
        self.tainted = False  # lost bytes to a blackhole: the stream cannot carry on
        self.closed = False
        self.greenlets: list[gevent.Greenlet] = []
        self._finished = 0
        for direction in DIRECTIONS:
            queue: gevent.queue.Queue[tuple[float, bytes]] = gevent.queue.Queue(_BUFFERED_CHUNKS)
            self.greenlets.append(gevent.spawn(self._read, direction, queue))
            self.greenlets.append(gevent.spawn(self._write, direction, queue))

    def _read(self, direction: str, queue: gevent.queue.Queue[tuple[float, bytes]]) -> None:
        source, _ = self.sockets[direction]
        faults = self.proxy._faults[direction]
        last_due = 0.0
        try:
            while True:
                try:
                    data = source.recv(_CHUNK)
                except OSError:
                    data = _EOF
                if not data:
                    queue.put((0.0, _EOF))
                    return
                self.proxy.stats.read[direction] += len(data)
                if faults.blackhole:
                    self.proxy.stats.dropped[direction] += len(data)
                    self.tainted = True
                    continue
                delay = faults.latency + (random.uniform(0, faults.jitter) if faults.jitter else 0.0)
                last_due = max(last_due, time.monotonic() + delay)  # never overtakes an earlier chunk
                queue.put((last_due, data))
        except gevent.GreenletExit:
            pass

    def _write(self, direction: str, queue: gevent.queue.Queue[tuple[float, bytes]]) -> None:
        _, target = self.sockets[direction]
        flowing = self.proxy._flowing[direction]
        try:
            while True:
                due, data = queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    gevent.sleep(wait)  # the injected latency itself
                flowing.wait()  # stalled: hold the bytes until heal()
                if data is _EOF or not data:
                    with contextlib.suppress(OSError):
                        target.shutdown(socket.SHUT_WR)  # pass the half-close on
                    break
                try:
                    target.sendall(data)
                except OSError:
                    break
                self.proxy.stats.bytes[direction] += len(data)
        except gevent.GreenletExit:
            return
        self._finished += 1
        if self._finished == len(DIRECTIONS):
            self.close()

    def close(self, *, rst: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        self.proxy._links.pop(self.number, None)
        for sock in (self.sockets["up"][0], self.sockets["up"][1]):
            if rst:
                _hard_close(sock)
            else:
                with contextlib.suppress(OSError):
                    sock.close()
        current = gevent.getcurrent()
        for greenlet in self.greenlets:
            if greenlet is not current:
                greenlet.kill(block=False)


class FaultProxy:
    """Forwards TCP from `listen` (a free loopback port by default) to `upstream`; see the module."""

    def __init__(
        self,
        upstream: str | tuple[str, int],
        *,
        listen: str | tuple[str, int] = ("127.0.0.1", 0),
        name: str = "",
        connect_timeout: float = 5.0,
    ) -> None:
        self.upstream = _parse(upstream)
        self.name = name or f"proxy->{self.upstream[0]}:{self.upstream[1]}"
        self.connect_timeout = connect_timeout
        self.stats = ProxyStats()
        self._listen = _parse(listen)
        self._server: gevent.server.StreamServer | None = None
        self._links: dict[int, _Link] = {}
        self._numbers = itertools.count(1)
        self._faults = {d: _Faults() for d in DIRECTIONS}
        self._flowing = {d: gevent.event.Event() for d in DIRECTIONS}
        for event in self._flowing.values():
            event.set()
        self._refusing = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        if self._server is None:
            self._server = gevent.server.StreamServer(self._listen, self._accept)
            self._server.start()
        return self

    def stop(self) -> None:
        """Stop listening and close every connection (FIN, not RST)."""
        if self._server is not None:
            self._server.stop(timeout=1)
            self._server = None
        for link in list(self._links.values()):
            link.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the proxy first"
        return int(self._server.server_port)

    @property
    def address(self) -> str:
        """host:port that clients connect to instead of the upstream."""
        return f"{self._listen[0]}:{self.port}"

    @property
    def connections(self) -> int:
        """Connections open now."""
        return len(self._links)

    # -- faults ------------------------------------------------------------------------------

    def latency(self, seconds: float, *, jitter: float = 0.0, direction: str = "both") -> FaultProxy:
        for d in _directions(direction):
            self._faults[d].latency, self._faults[d].jitter = seconds, jitter
        return self

    def stall(self, direction: str = "both") -> FaultProxy:
        for d in _directions(direction):
            self._flowing[d].clear()
        return self

    def blackhole(self, direction: str = "both") -> FaultProxy:
        for d in _directions(direction):
            self._faults[d].blackhole = True
            self._flowing[d].set()  # nothing is held any more: it is thrown away
        return self

    def refuse(self, refusing: bool = True) -> FaultProxy:
        self._refusing = refusing
        return self

    def reset(self) -> int:
        """RST every open connection now; returns how many. New connections are not affected."""
        links = list(self._links.values())
        for link in links:
            link.close(rst=True)
        self.stats.resets += len(links)
        return len(links)

    def heal(self) -> FaultProxy:
        """Clear every fault: held bytes flow, connections that lost bytes are reset."""
        self._refusing = False
        for d in DIRECTIONS:
            # In place: the pumps hold these objects and read them on every chunk.
            self._faults[d].latency = self._faults[d].jitter = 0.0
            self._faults[d].blackhole = False
            self._flowing[d].set()
        for link in list(self._links.values()):
            if link.tainted:
                link.close(rst=True)
                self.stats.resets += 1
        return self

    @property
    def faults(self) -> dict[str, Any]:
        """What is switched on now, for logs and reports."""
        return {
            d: {
                "latency": self._faults[d].latency,
                "jitter": self._faults[d].jitter,
                "stalled": not self._flowing[d].is_set(),
                "blackhole": self._faults[d].blackhole,
            }
            for d in DIRECTIONS
        } | {"refusing": self._refusing}

    @contextlib.contextmanager
    def fault(self, kind: str, *args: Any, **kwargs: Any) -> Iterator[FaultProxy]:
        """`with proxy.fault("latency", 0.2): ...` switches a fault on for the block, then heals."""
        getattr(self, kind)(*args, **kwargs)
        try:
            yield self
        finally:
            self.heal()

    # -- connections -------------------------------------------------------------------------

    def _accept(self, client: socket.socket, _address: Any) -> None:
        self.stats.accepted += 1
        if self._refusing:
            self.stats.refused += 1
            _hard_close(client)
            return
        try:
            upstream = gevent.socket.create_connection(self.upstream, timeout=self.connect_timeout)
        except OSError:
            self.stats.upstream_failures += 1
            _hard_close(client)
            return
        upstream.settimeout(None)
        client.settimeout(None)
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        number = next(self._numbers)
        link = self._links[number] = _Link(self, number, client, upstream)
        # The server's handler greenlet lives as long as the connection (stop() ends it).
        try:
            gevent.joinall(link.greenlets)
        finally:
            link.close()
