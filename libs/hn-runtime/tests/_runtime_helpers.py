"""Helpers for hn-runtime's own tests: a gated Echo, raw wire clients, metric readers."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import gevent
import gevent.event
import zmq
from prometheus_client import REGISTRY

from hn_idl.echo import Echo  # pants: no-infer-dep (generated service module)
from hn_runtime._stats import server_stats
from hn_runtime.testing import RunningService, running, time_factor, wait_for
from hn_runtime.testing.echo import EchoService
from hn_runtime.wire import REQUEST, Envelope, decode_envelope, encode, encode_envelope


class GatedEcho(EchoService):
    """Echo whose `slow` waits for `gate` instead of a clock: calls stay in flight on demand."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = gevent.event.Event()

    def on_slow(self, session: Any, request: Any) -> int:
        self.gate.wait()
        return request.ms or 0


class DeadlineEcho(EchoService):
    """Echo whose `whoami` answers the seconds its caller gave the call (from the deadline)."""

    def on_whoami(self, session: Any, request: Any) -> str:
        remaining = session.remaining()
        return "" if remaining is None else f"{remaining:.3f}"


@contextlib.contextmanager
def gated(**config: Any) -> Iterator[RunningService]:
    """A running GatedEcho; the gate opens before the server drains, so teardown never waits."""
    service = GatedEcho()
    with running(service, **config) as svc:
        try:
            yield svc
        finally:
            service.gate.set()


def scaled(seconds: float) -> float:
    return seconds * time_factor()


# -- metrics ---------------------------------------------------------------------------------


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def protocol_errors(reason: str, service: str = "echo") -> float:
    return metric("hn_protocol_errors_total", service=service, reason=reason)


def client_retries(method: str, reason: str, service: str = "echo") -> float:
    return metric("hn_client_retries_total", service=service, method=method, reason=reason)


def served(method: str, outcome: str, service: str = "echo") -> int:
    """How many requests the in-process servers of `service` ended with `outcome`."""
    return server_stats(service).count(method, outcome)


# -- raw wire clients ------------------------------------------------------------------------


def request_head(
    method: str, *, request_id: int = 7, trace_id: str | None = "0123456789abcdef", **fields: Any
) -> bytes:
    return encode_envelope(Envelope(kind=REQUEST, method=method, request_id=request_id, trace_id=trace_id, **fields))


def args_body(method: str, **kwargs: Any) -> bytes:
    args_cls = getattr(Echo, f"{method}_args")
    return encode(args_cls(**kwargs), [args_cls, args_cls.thrift_spec])


class RawDealer:
    """A plain DEALER speaking frames directly to a server's ROUTER, polled without blocking."""

    def __init__(self, endpoint: str, kind: int = zmq.DEALER) -> None:
        self.sock = zmq.Context.instance().socket(kind)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)

    def send(self, *frames: bytes) -> None:
        self.sock.send_multipart(list(frames), flags=zmq.NOBLOCK)

    def recv(self, timeout: float = 10.0) -> list[bytes]:
        def poll() -> list[bytes] | None:
            try:
                return self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return None

        return wait_for(poll, timeout=timeout, interval=0.005, message="a reply on the raw socket")

    def request(self, *frames: bytes) -> tuple[Envelope, bytes]:
        """Send `frames`, return the reply's (envelope, body)."""
        self.send(*frames)
        reply = self.recv()
        assert len(reply) == 2, reply
        return decode_envelope(reply[0]), reply[1]

    def close(self) -> None:
        self.sock.close()


@contextlib.contextmanager
def raw_dealer(endpoint: str, kind: int = zmq.DEALER) -> Iterator[RawDealer]:
    raw = RawDealer(endpoint, kind)
    try:
        yield raw
    finally:
        raw.close()


def now_ms() -> int:
    return int(time.time() * 1000)


def assert_still_serving(svc: RunningService) -> None:
    assert svc.proxy().echo(payload=b"still serving") == b"still serving"


def pending_calls(proxy: Any) -> dict[str, int]:
    """Calls waiting for a reply, per instance id, on a proxy's connections."""
    return {iid: len(conn.pending) for iid, conn in proxy._pool._conns.items()}


def all_connected(proxy: Any) -> bool:
    conns = list(proxy._pool._conns.values())
    return bool(conns) and all(conn.state == "up" for conn in conns)


def join_all(greenlets: list[gevent.Greenlet], timeout: float = 30.0) -> None:
    """Join, failing (not hanging) when any greenlet outlives the scaled timeout; re-raise errors."""
    done = gevent.joinall(greenlets, timeout=scaled(timeout))
    assert len(done) == len(greenlets), f"{len(greenlets) - len(done)} greenlets still running"
    for g in greenlets:
        if g.exception is not None:
            raise g.exception
