"""Request-reply and push proxies: a service's IDL methods as Python calls over a `Pool`.

A proxy's methods are its IDL's: `sso.login(user=..., passwd=...)` blocks the calling greenlet
only. Calls are multiplexed over each instance's one socket by request id. A call whose
connection dies is retried on another instance when the IDL marks the method idempotent, and
fails at once with ServiceUnavailable otherwise; errors that guarantee the handler did not run
(OVERLOADED, DRAINING) are retried for any method.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from hn_codec import DecodeError, Method, ServiceIdl, decode, encode
from hn_idl.runtime.ttypes import SessionChange
from hn_runtime._connection import LOST, TIMED_OUT, UP, Connection
from hn_runtime._context import current_session, new_trace_id
from hn_runtime._errors import CallTimeout, HNError, ServiceUnavailable, error_for
from hn_runtime._metrics import ClientMetrics
from hn_runtime._pool import Pool
from hn_runtime._wire import (
    ERROR,
    REPLY,
    REQUEST,
    Envelope,
    ErrorCode,
    encode_envelope,
    encode_request_envelope,
)

__all__ = ["MethodRef", "Forwarded", "ServiceProxy", "PushProxy", "set_identity", "set_default_timeout"]

_request_ids = itertools.count(1)
_RETRY_ANY = (ErrorCode.OVERLOADED, ErrorCode.DRAINING)
_identity = f"client-{os.getpid()}"
#: Seconds a call waits for its reply when its proxy was given no timeout.
_default_timeout = 5.0


def set_identity(name: str) -> None:
    """The `sender` this process puts on its requests (the instance id, for a service)."""
    global _identity
    _identity = name


def set_default_timeout(seconds: float) -> None:
    """The timeout of calls through proxies given none (a service process: HN_CALL_TIMEOUT).

    Read at each call, so proxies made before it was set (in a service's `__init__`) follow it.
    """
    global _default_timeout
    _default_timeout = seconds


class MethodRef(Protocol):
    """What a raw call needs to know of a method: its name, and whether a lost call may be sent
    again to another instance (an IDL `Method`, or a route a broker learned at run time)."""

    @property
    def name(self) -> str: ...

    @property
    def idempotent(self) -> bool: ...


class Forwarded(NamedTuple):
    """A raw call's encoded `<method>_result` body, and what the handler did to the game
    client's session (None: nothing)."""

    body: bytes
    session_change: SessionChange | None


def _methods_of(idl: ServiceIdl | None, service: str) -> ServiceIdl:
    if idl is None:
        raise AttributeError(f"a raw proxy of {service!r} forwards encoded bodies only: it has no IDL methods")
    return idl


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
        idl: ServiceIdl | None,
        pool: Pool,
        *,
        timeout: float | None = None,
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
        idl = _methods_of(self.idl, self.service)
        method = idl.methods.get(idl.renamed.get(name, name))
        if method is None:
            raise AttributeError(f"{idl.thrift_name} has no method {name!r}")
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
            reply = self.forward(method, body).body
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

    def forward(
        self,
        method: MethodRef,
        body: bytes,
        *,
        session_id: str | None = None,
        trace_id: str | None = None,
        timeout: float | None = None,
        client: str | None = None,
        client_rtt_us: int | None = None,
        instance_id: str | None = None,
    ) -> Forwarded:
        """Send an encoded `<method>_args` body; the encoded `<method>_result` body comes back
        with what the handler did to the game client's session.

        The broker's path: it forwards client bodies without decoding them, stamping the
        session, the client's address and its round trip, and opens or ends the client's
        session as the reply says. `instance_id` pins the call to that one instance; if it is gone,
        ServiceUnavailable (no other instance holds what it held).
        """
        session = current_session()
        now = time.time()
        if timeout is None:
            timeout = _default_timeout if self._timeout is None else self._timeout
        deadline = now + timeout
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
            head = encode_request_envelope(
                method.name, rid, session_id, trace_id, deadline_ms, _identity, client, client_rtt_us
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
                return Forwarded(reply, env.session_change)
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

    def __init__(self, service: str, idl: ServiceIdl | None, pool: Pool, *, connect_timeout: float = 5.0) -> None:
        self.service = service
        self.idl = idl
        self._pool = pool
        self._connect_timeout = connect_timeout

    def __getattr__(self, name: str) -> Callable[..., None]:
        idl = _methods_of(self.idl, self.service)
        method = idl.methods.get(idl.renamed.get(name, name))
        if method is None:
            raise AttributeError(f"{idl.thrift_name} has no method {name!r}")

        def push(*args: Any, **kwargs: Any) -> None:
            self.push_raw(method, encode(method.args_cls(*args, **kwargs), method.args_spec))

        setattr(self, name, push)
        return push

    def push_raw(self, method: MethodRef, body: bytes, *, instance_id: str | None = None) -> None:
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
