"""Service clients: `get_service(name, "REP")` proxies, `"PUSH"` proxies, and `subscribe`.

A proxy's methods are its IDL's: `sso.login(user=..., passwd=...)` blocks the calling greenlet
only. Each instance gets one socket; calls are multiplexed over it by request id and balanced by
least outstanding requests. A call whose connection dies is retried on another instance when
the IDL marks the method idempotent, and fails at once with ServiceUnavailable otherwise; errors
that guarantee the handler did not run (OVERLOADED, DRAINING) are retried for any method.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import zmq

from hn_runtime._connection import DOWN, LOST, TIMED_OUT, UP, Connection
from hn_runtime._context import current_session, new_trace_id
from hn_runtime._curve import CurveKeys, configure_client_socket
from hn_runtime._directory import Directory, Instance, StaticDirectory, default_directory
from hn_runtime._errors import CallTimeout, HNError, ServiceUnavailable, error_for
from hn_runtime._idl import Method, ServiceIdl, load_idl
from hn_runtime._logging import get_logger
from hn_runtime._metrics import EVENTS_RECEIVED, PROTOCOL_ERRORS, ClientMetrics
from hn_runtime._pump import Pump, tune_context
from hn_runtime._wire import (
    ERROR,
    EVENT,
    REPLY,
    REQUEST,
    DecodeError,
    Envelope,
    ErrorCode,
    decode,
    decode_envelope,
    encode,
    encode_envelope,
    spec_of,
)
from hn_runtime._workers import Workers

__all__ = ["get_service", "subscribe", "ServiceProxy", "PushProxy", "Subscription", "set_identity"]

_request_ids = itertools.count(1)
_RETRY_ANY = (ErrorCode.OVERLOADED, ErrorCode.DRAINING)
_identity = f"client-{os.getpid()}"
_log = get_logger("hn.client")


def set_identity(name: str) -> None:
    """The `sender` this process puts on its requests (the instance id, for a service)."""
    global _identity
    _identity = name


def _live(instances: Sequence[Instance], endpoint: str) -> dict[str, Instance]:
    return {i.instance_id: i for i in instances if i.state == "up" and endpoint in i.endpoints}


class _Pool:
    """The connections to one service's live instances, following the directory."""

    def __init__(
        self,
        service: str,
        directory: Directory,
        context: zmq.Context[Any],
        kind: int,
        curve_keys: CurveKeys | None = None,
    ) -> None:
        self.service = service
        self._context = context
        self._kind = kind
        self._curve_keys = curve_keys
        self._endpoint = "rep" if kind == zmq.DEALER else "pull"
        self._conns: dict[str, Connection] = {}
        self._retiring: list[Connection] = []
        self._turn = 0
        protocol_errors = PROTOCOL_ERRORS
        self._on_protocol_error: Callable[[str], None] = lambda reason: protocol_errors.labels(service, reason).inc()
        self._unwatch = directory.watch(service, self._update)

    def _update(self, instances: Sequence[Instance]) -> None:
        live = _live(instances, self._endpoint)
        for iid, conn in list(self._conns.items()):
            instance = live.get(iid)
            if (
                instance is None
                or instance.endpoints != conn.instance.endpoints
                or instance.curve_key != conn.instance.curve_key
            ):
                # Gone or draining: no new calls; calls in flight finish (or fail) on their own.
                del self._conns[iid]
                conn.retired = True
                self._retiring.append(conn)
        for iid, instance in live.items():
            if iid not in self._conns:
                self._conns[iid] = Connection(
                    self._context,
                    instance,
                    kind=self._kind,
                    on_protocol_error=self._on_protocol_error,
                    curve_keys=self._curve_keys,
                )
        self._reap()

    def _reap(self) -> None:
        keep = []
        for conn in self._retiring:
            if conn.pending:
                keep.append(conn)
            else:
                conn.close()
        self._retiring = keep

    def pick(self, exclude: set[str], only: str | None = None) -> Connection | None:
        """Least outstanding requests among connected instances; a connecting one if none is.

        `only`: that instance or nothing (dynamic routing to the one holding a session's state).
        """
        if only is not None:
            pinned = self._conns.get(only)
            return pinned if pinned is not None and only not in exclude else None
        if self._retiring:
            self._reap()
        best: Connection | None = None
        connecting: Connection | None = None
        down: Connection | None = None
        conns = list(self._conns.values())
        n = len(conns)
        if n == 0:
            return None
        self._turn = (self._turn + 1) % n
        # Start the scan at a rotating offset so ties spread instead of piling on the first.
        for k in range(n):
            conn = conns[(self._turn + k) % n]
            if conn.instance.instance_id in exclude:
                continue
            if conn.state == UP:
                if best is None or len(conn.pending) < len(best.pending):
                    best = conn
            elif conn.state == DOWN:
                down = down or conn
            else:
                connecting = connecting or conn
        return best or connecting or down

    @property
    def size(self) -> int:
        return len(self._conns)

    def close(self) -> None:
        self._unwatch()
        for conn in list(self._conns.values()) + self._retiring:
            conn.close()
        self._conns.clear()
        self._retiring.clear()


class _BoundMethod:
    __slots__ = ("_proxy", "_method")

    def __init__(self, proxy: ServiceProxy, method: Method) -> None:
        self._proxy = proxy
        self._method = method

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._proxy._call(self._method, args, kwargs)

    def __repr__(self) -> str:
        return f"<{self._proxy.service}.{self._method.name}>"


class ServiceProxy:
    """Request-reply client of one service; methods are the IDL's.

    `with_options(timeout=..., session_id=...)` gives a proxy with other per-call settings.
    """

    def __init__(
        self,
        service: str,
        idl: ServiceIdl,
        pool: _Pool,
        *,
        timeout: float = 5.0,
        session_id: str | None = None,
    ) -> None:
        self.service = service
        self.idl = idl
        self._pool = pool
        self._timeout = timeout
        self._session_id = session_id
        self._metrics = ClientMetrics(service)

    def with_options(self, *, timeout: float | None = None, session_id: str | None = None) -> ServiceProxy:
        return ServiceProxy(
            self.service,
            self.idl,
            self._pool,
            timeout=self._timeout if timeout is None else timeout,
            session_id=self._session_id if session_id is None else session_id,
        )

    def __getattr__(self, name: str) -> _BoundMethod:
        method = self.idl.methods.get(name)
        if method is None:
            raise AttributeError(f"{self.idl.thrift_name} has no method {name!r}")
        bound = _BoundMethod(self, method)
        setattr(self, name, bound)  # later lookups skip __getattr__
        return bound

    def _call(self, method: Method, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if method.oneway:
            raise TypeError(f"{self.service}.{method.name} is oneway: call it through a PUSH proxy")
        body = encode(method.args_cls(*args, **kwargs), method.args_spec)
        started = time.perf_counter()
        outcome = "ok"
        try:
            reply = self.call_raw(method, body)
            result = decode(reply, method.result_spec)  # type: ignore[arg-type]
            if method.returns_value and result.success is not None:
                return result.success
            for field, _cls in method.exceptions:
                exc = getattr(result, field)
                if exc is not None:
                    outcome = "exception"
                    raise exc
            if method.returns_value:
                outcome = "bad_reply"
                raise HNError(f"{self.service}.{method.name}: reply carried no result", service=self.service)
            return None
        except HNError as exc:
            outcome = type(exc).__name__
            raise
        except DecodeError as exc:
            outcome = "bad_reply"
            raise HNError(f"{self.service}.{method.name}: undecodable reply: {exc}", service=self.service) from None
        finally:
            self._metrics.requests.record(method.name, outcome, time.perf_counter() - started)

    def call_raw(
        self,
        method: Method,
        body: bytes,
        *,
        session_id: str | None = None,
        trace_id: str | None = None,
        timeout: float | None = None,
        client: str | None = None,
        instance_id: str | None = None,
    ) -> bytes:
        """Send an encoded `<method>_args` body, return the encoded `<method>_result` body.

        The broker's path: it forwards client bodies without decoding them, stamping the
        session and the client's address. `instance_id` pins the call to that one instance;
        if it is gone, ServiceUnavailable (no other instance holds what it held).
        """
        session = current_session()
        now = time.time()
        deadline = now + (self._timeout if timeout is None else timeout)
        if session is not None:
            if session.deadline is not None and session.deadline < deadline:
                deadline = session.deadline
            trace_id = trace_id or session.trace_id
            if session_id is None:
                session_id = session.id
            if client is None:
                client = session.client
        trace_id = trace_id or new_trace_id()
        if session_id is None:
            session_id = self._session_id
        deadline_ms = int(deadline * 1000)
        tried: set[str] = set()
        last_error: Exception | None = None
        pool = self._pool
        while True:
            remaining = deadline - time.time()
            if remaining <= 0:
                raise CallTimeout(
                    f"no reply within the deadline{f' (after {last_error})' if last_error else ''}",
                    service=self.service,
                    method=method.name,
                    trace_id=trace_id,
                )
            conn = pool.pick(tried, instance_id)
            if conn is None:
                if last_error is not None:
                    raise last_error
                raise ServiceUnavailable(
                    (
                        f"instance {instance_id} of {self.service!r} is gone"
                        if instance_id is not None
                        else (
                            f"no live instance of {self.service!r}"
                            if pool.size == 0
                            else "no instance could take the call"
                        )
                    ),
                    service=self.service,
                    method=method.name,
                    trace_id=trace_id,
                )
            iid = conn.instance.instance_id
            # A connection still (re)connecting gets a moment; zmq retries at least every second.
            if conn.state != UP and not conn.wait_up(min(remaining, 1.5)):
                tried.add(iid)
                last_error = ServiceUnavailable(
                    _refused(conn) if conn.refused else f"cannot connect to {iid} at {conn.endpoint}",
                    service=self.service,
                    method=method.name,
                    trace_id=trace_id,
                )
                continue
            rid = next(_request_ids)
            head = encode_envelope(
                Envelope(REQUEST, method.name, rid, session_id, trace_id, deadline_ms, _identity, None, None, client)
            )
            result = conn.request(rid, head, body, deadline - time.time())
            if result is TIMED_OUT:
                raise CallTimeout(
                    f"no reply from {iid} within the deadline",
                    service=self.service,
                    method=method.name,
                    trace_id=trace_id,
                )
            if result is LOST:
                tried.add(iid)
                last_error = ServiceUnavailable(
                    f"connection to {iid} lost with the call in flight; it may or may not have run",
                    service=self.service,
                    method=method.name,
                    trace_id=trace_id,
                )
                if method.idempotent:
                    self._metrics.retries.get(method.name, "connection_lost").inc()
                    continue
                raise last_error
            env, reply = result
            if env.kind == REPLY:
                return reply  # type: ignore[no-any-return]
            if env.kind != ERROR:
                raise HNError(
                    f"unexpected reply kind {env.kind}", service=self.service, method=method.name, trace_id=trace_id
                )
            error = error_for(
                env.error_code,
                env.error_message,
                service=self.service,
                method=method.name,
                trace_id=env.trace_id or trace_id,
            )
            if env.error_code in _RETRY_ANY:
                # Not executed: any method may go to another instance.
                tried.add(iid)
                last_error = error
                self._metrics.retries.get(method.name, error.__class__.__name__.lower()).inc()
                continue
            raise error

    def __repr__(self) -> str:
        return f"<ServiceProxy {self.service} ({self._pool.size} instances)>"


def _refused(conn: Connection) -> str:
    return (
        f"{conn.instance.instance_id} at {conn.endpoint} refused this client's CURVE key "
        f"(not on its allow-list): cannot connect"
    )


class PushProxy:
    """Fire-and-forget work for one service (PUSH -> the instances' PULL). Round-robin.

    "Fire and forget" means no reply, not no error: with no connected instance the push raises
    ServiceUnavailable rather than vanish.
    """

    def __init__(self, service: str, idl: ServiceIdl, pool: _Pool, *, connect_timeout: float = 5.0) -> None:
        self.service = service
        self.idl = idl
        self._pool = pool
        self._connect_timeout = connect_timeout

    def __getattr__(self, name: str) -> Callable[..., None]:
        method = self.idl.methods.get(name)
        if method is None:
            raise AttributeError(f"{self.idl.thrift_name} has no method {name!r}")

        def push(*args: Any, **kwargs: Any) -> None:
            self.push_raw(method, encode(method.args_cls(*args, **kwargs), method.args_spec))

        setattr(self, name, push)
        return push

    def push_raw(self, method: Method, body: bytes, *, instance_id: str | None = None) -> None:
        """Push an encoded `<method>_args` body; `instance_id` pins it to that instance."""
        session = current_session()
        trace_id = session.trace_id if session is not None else new_trace_id()
        tried: set[str] = set()
        deadline = time.time() + self._connect_timeout
        while True:
            conn = self._pool.pick(tried, instance_id)
            if conn is None:
                where = (
                    f"instance {instance_id} of {self.service!r}" if instance_id else f"instance of {self.service!r}"
                )
                raise ServiceUnavailable(f"no connected {where} to push to", service=self.service, method=method.name)
            if conn.state != UP and not conn.wait_up(max(0.0, min(deadline - time.time(), 1.0))):
                tried.add(conn.instance.instance_id)
                continue
            head = Envelope(REQUEST, method.name, 0, session.id if session else None, trace_id, None, _identity)
            conn.push(encode_envelope(head), body)
            return


class Subscription:
    """Events of one service on one topic prefix, from all its instances, to `handler(topic, event)`.

    Each event runs its handler in a fresh greenlet; handlers that do not block see events in
    publication order per publisher.
    """

    def __init__(
        self,
        service: str,
        idl: ServiceIdl,
        topic: str,
        handler: Callable[[str, Any], None],
        directory: Directory,
        context: zmq.Context[Any],
        curve_keys: CurveKeys | None = None,
    ) -> None:
        self.service = service
        self._idl = idl
        self._handler = handler
        self._specs: dict[str, Sequence[Any]] = {}
        self._workers = Workers()
        self._context = context
        self._topic = topic.encode()
        self._curve_keys = curve_keys
        self._pump = self._subscriber()
        #: Publishers with CURVE get a socket of their own: a socket's security mechanism is per
        #: socket, and a service part-way through turning CURVE on has publishers of both kinds.
        self._curve_pump: Pump | None = None
        #: instance id -> (endpoint, CURVE key) it is connected to
        self._connected: dict[str, tuple[str, str]] = {}
        self._received = EVENTS_RECEIVED
        self._unwatch = directory.watch(service, self._update)

    def _subscriber(self) -> Pump:
        sock = self._context.socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, 100_000)
        sock.setsockopt(zmq.SUBSCRIBE, self._topic)
        return Pump(sock, self._on_event)

    def _update(self, instances: Sequence[Instance]) -> None:
        wanted = {
            i.instance_id: (i.endpoints["pub"], i.curve_key)
            for i in instances
            if i.state != "down" and "pub" in i.endpoints
        }
        for iid, (endpoint, key) in list(self._connected.items()):
            if wanted.get(iid) != (endpoint, key):
                pump = self._curve_pump if key else self._pump
                assert pump is not None
                pump.sock.disconnect(endpoint)
                del self._connected[iid]
        for iid, (endpoint, key) in wanted.items():
            if iid not in self._connected:
                if key:
                    if self._curve_pump is None:
                        self._curve_pump = self._subscriber()
                    # Options are taken at connect(): each publisher's own server key.
                    configure_client_socket(self._curve_pump.sock, key, self._curve_keys)
                    self._curve_pump.sock.connect(endpoint)
                else:
                    self._pump.sock.connect(endpoint)
                self._connected[iid] = (endpoint, key)

    def _on_event(self, frames: list[bytes]) -> None:
        if len(frames) != 3:
            self._received.labels(self.service, "malformed").inc()
            return
        try:
            env = decode_envelope(frames[1])
            if env.kind != EVENT:
                raise DecodeError(f"kind {env.kind}")
            spec = self._specs.get(env.method)
            if spec is None:
                cls = self._idl.struct(env.method)
                if cls is None:
                    raise DecodeError(f"{self._idl.thrift_name} declares no struct {env.method!r}")
                spec = self._specs[env.method] = spec_of(cls)
            event = decode(frames[2], spec)
            topic = frames[0].decode()
        except (DecodeError, UnicodeDecodeError) as exc:
            self._received.labels(self.service, "malformed").inc()
            _log.warning("malformed event", service=self.service, error=str(exc))
            return
        self._workers.spawn(self._deliver, topic, event)

    def _deliver(self, topic: str, event: Any) -> None:
        try:
            self._handler(topic, event)
            self._received.labels(self.service, "ok").inc()
        except BaseException as exc:  # noqa: BLE001 - must not escape into the hub
            self._received.labels(self.service, "handler_error").inc()
            _log.error("event handler failed", service=self.service, topic=topic, exc_info=exc)

    def close(self) -> None:
        self._unwatch()
        self._pump.close()
        if self._curve_pump is not None:
            self._curve_pump.close()


_pools: dict[tuple[Any, ...], _Pool] = {}


def _resolve(
    service: str | ModuleType,
    endpoints: Sequence[str] | None,
    directory: Directory | None,
    kind: str,
    curve_server_key: str | None,
) -> tuple[str, ServiceIdl, Directory]:
    idl = load_idl(service)
    name = service if isinstance(service, str) else idl.module.__name__.split(".")[-2]
    if endpoints is not None:
        directory = StaticDirectory.of(name, **{kind: list(endpoints)}, curve_key=curve_server_key or "")
    elif curve_server_key:
        raise ValueError("curve_server_key goes with endpoints=: a directory carries each instance's key")
    return name, idl, directory or default_directory()


def get_service(
    service: str | ModuleType,
    kind: str = "REP",
    *,
    endpoints: Sequence[str] | None = None,
    directory: Directory | None = None,
    timeout: float = 5.0,
    context: zmq.Context[Any] | None = None,
    curve_server_key: str | None = None,
    curve_keys: CurveKeys | None = None,
) -> Any:
    """A client of `service` ("sso", or its generated IDL module).

    kind "REP": request-reply (`ServiceProxy`); "PUSH": fire-and-forget work (`PushProxy`).
    Instances come from `directory` (default: the process's, i.e. yellow) or fixed `endpoints`.
    Proxies share one connection per instance for the life of the process.

    CURVE: instances that have a CURVE key (from the directory, or `curve_server_key` with
    `endpoints`) are reached encrypted, presenting `curve_keys` (default: this process's key
    pair, see `hn_runtime.curve.set_client_keys`).
    """
    kind = kind.upper()
    if kind not in ("REP", "PUSH"):
        raise ValueError(f"kind must be 'REP' or 'PUSH', not {kind!r}")
    name, idl, directory = _resolve(service, endpoints, directory, "rep" if kind == "REP" else "pull", curve_server_key)
    key = (
        name,
        kind,
        (tuple(endpoints), curve_server_key) if endpoints is not None else id(directory),
        curve_keys.public if curve_keys is not None else None,
    )
    pool = _pools.get(key)
    if pool is None:
        zmq_kind = zmq.DEALER if kind == "REP" else zmq.PUSH
        pool = _pools[key] = _Pool(
            name, directory, tune_context(context or zmq.Context.instance()), zmq_kind, curve_keys
        )
    if kind == "REP":
        return ServiceProxy(name, idl, pool, timeout=timeout)
    return PushProxy(name, idl, pool)


def subscribe(
    service: str | ModuleType,
    topic: str,
    handler: Callable[[str, Any], None],
    *,
    endpoints: Sequence[str] | None = None,
    directory: Directory | None = None,
    context: zmq.Context[Any] | None = None,
    curve_server_key: str | None = None,
    curve_keys: CurveKeys | None = None,
) -> Subscription:
    """Deliver `service`'s events whose topic starts with `topic` to `handler(topic, event)`.

    CURVE as for `get_service`.
    """
    name, idl, directory = _resolve(service, endpoints, directory, "pub", curve_server_key)
    return Subscription(
        name, idl, topic, handler, directory, tune_context(context or zmq.Context.instance()), curve_keys
    )


def close_all() -> None:
    """Close every pooled connection (tests, and process exit)."""
    for pool in _pools.values():
        pool.close()
    _pools.clear()
