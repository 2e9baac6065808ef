"""The server half of a service: ROUTER for requests, PULL for pushed work, PUB for events.

The talk's loop — read (session, request), look up `on_<method>`, spawn the handler — with the
hot path arranged for CPython: messages are read in batches from the hub (see `_pump`), and each
handler starts in a fresh greenlet entered directly from the loop, so a handler that never blocks
runs to completion and queues its reply without a single trip through the scheduler.

With a CURVE authority, every request comes with its caller's service identity (the ZAP User-Id
of its connection), and two rules apply before a handler runs: a session id (and client address)
in the envelope is kept only from callers granted "session" (brokers), and a method the service
lists in `required_grants` answers UNAUTHENTICATED to callers without that grant.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Sequence
from typing import Any

import gevent
import gevent.event
import zmq
from thrift.protocol.TProtocol import TProtocolException

from hn_codec import DecodeError, Method, decode, encode, load_idl, spec_of
from hn_runtime._authority import SESSION_GRANT, Authority
from hn_runtime._config import RuntimeConfig
from hn_runtime._context import Session, _current, new_trace_id
from hn_runtime._curve import AllowList, ZapHandler, configure_server_socket, zap_handler
from hn_runtime._errors import RemoteError, code_name
from hn_runtime._logging import get_logger
from hn_runtime._metrics import BUILD_INFO, EVENTS_PUBLISHED, UNAUTHORIZED_CALLS, ServerMetrics
from hn_runtime._pump import Pump, _send_frame, tune_context
from hn_runtime._service import Service
from hn_runtime._sodium import SYSTEM_LIBSODIUM
from hn_runtime._throttle import LogThrottle
from hn_runtime._tracing import TraceSampler
from hn_runtime._wire import (
    ERROR,
    REPLY,
    REQUEST,
    Envelope,
    ErrorCode,
    decode_envelope,
    encode_envelope,
    encode_event_envelope,
    encode_reply_envelope,
)
from hn_runtime._workers import Workers

__all__ = ["Server"]

_NOBLOCK = int(zmq.NOBLOCK)
_NOBLOCK_MORE = _NOBLOCK | int(zmq.SNDMORE)
#: Seconds a drained server keeps its connections open so callers read the last replies.
_REPLY_GRACE = 0.5

Handler = Callable[[Session, Any], Any]


def _socket(context: zmq.Context[Any], kind: int, config: RuntimeConfig) -> zmq.Socket[Any]:
    sock: zmq.Socket[Any] = context.socket(kind)
    sock.setsockopt(zmq.LINGER, 1000)
    sock.setsockopt(zmq.MAXMSGSIZE, config.max_message_bytes)
    sock.setsockopt(zmq.SNDHWM, 100_000)
    sock.setsockopt(zmq.RCVHWM, 100_000)
    if config.curve is not None:
        configure_server_socket(sock, config.curve.keys, _zap_domain(config))
    return sock


def _zap_domain(config: RuntimeConfig) -> str:
    return f"hn:{config.instance}"


def _bind(sock: zmq.Socket[Any], config: RuntimeConfig, port: int) -> str:
    sock.bind(f"tcp://{config.bind_host}:{port or '*'}")
    bound = sock.getsockopt_string(zmq.LAST_ENDPOINT)
    return f"tcp://{config.advertise_host}:{bound.rpartition(':')[2]}"


class Server:
    """Serves one `Service` instance. `start()` binds; `drain()` then `close()` stop it."""

    def __init__(
        self,
        service: Service,
        *,
        config: RuntimeConfig | None = None,
        context: zmq.Context[Any] | None = None,
    ) -> None:
        self.service = service
        self.config = config or RuntimeConfig(service=service.name)
        self.instance = self.config.instance
        self.pool_size = self.config.pool_size
        self.in_flight = 0
        self.draining = False
        self.endpoints: dict[str, str] = {}
        #: The Z85 CURVE public key clients need (registered in discovery), "" with CURVE off.
        self.curve_public_key = self.config.curve.keys.public if self.config.curve is not None else ""
        self._zap: ZapHandler | None = None
        curve = self.config.curve
        #: The CURVE authority: with it each request carries its caller's service identity.
        self._authority = Authority(curve.authority) if curve is not None and curve.authority else None
        self._context = tune_context(context or zmq.Context.instance())
        self._idl = load_idl(service.idl)
        self._handlers = self._bind_handlers()
        unknown = set(service.required_grants) - set(self._idl.methods)
        if unknown:
            raise TypeError(f"{type(service).__name__}.required_grants names no method of its IDL: {sorted(unknown)}")
        self._log = get_logger("hn.server").bind(service=service.name, instance=self.instance)
        self._sampler = TraceSampler(self.config.trace_sample)
        #: the sampler's truth read once: `bool()` on it is a Python call per request
        self._sampling = bool(self._sampler)
        self._throttle = LogThrottle()
        self._metrics = ServerMetrics(service.name, lambda: self.in_flight, self.pool_size)
        #: Set when the last handler finishes, for `drain` only: made when drain waits, so a
        #: request (which takes the server from idle to busy and back) does not pay for an Event.
        self._idle: gevent.event.Event | None = None
        self._hub = gevent.get_hub()
        self._workers = Workers()
        self._event_specs: dict[type, Sequence[Any]] = {}
        #: topic -> (its frame, its key in the published-events counter)
        self._topics: dict[str, tuple[bytes, tuple[str, str]]] = {}
        self._published = EVENTS_PUBLISHED.counts
        #: Events waiting to leave together (`Service.publish_delay`), and the timer that sends them.
        self._held: list[tuple[bytes, bytes, bytes]] = []
        delay = float(service.publish_delay)
        self._hold_timer: Any = self._hub.loop.timer(delay) if delay > 0 else None
        self._parked_push: tuple[Envelope, bytes, str | None] | None = None
        self._rep: Pump | None = None
        self._pull: Pump | None = None
        self._pub: zmq.Socket[Any] | None = None

    def _bind_handlers(self) -> dict[str, tuple[Method, Handler | None]]:
        methods = self._idl.methods
        handlers: dict[str, tuple[Method, Handler | None]] = {}
        for attr in dir(self.service):
            if attr.startswith("on_") and attr not in ("on_start", "on_drain", "on_stop"):
                if attr[3:] not in methods:
                    raise TypeError(
                        f"{type(self.service).__name__}.{attr}: {self._idl.thrift_name} declares no "
                        f"method {attr[3:]!r} (methods: {', '.join(sorted(methods))})"
                    )
        for name, method in methods.items():
            handlers[name] = (method, getattr(self.service, f"on_{name}", None))
        for old, new in self._idl.renamed.items():
            handlers[old] = handlers[new]  # callers of the old name (older clients) are served
        return handlers

    @property
    def knows_callers(self) -> bool:
        """True when every request carries its caller's service identity (CURVE with an authority)."""
        return self._authority is not None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        config = self.config
        if config.curve is not None:
            # Before the first socket: libzmq lets a CURVE client in unasked while no handler listens.
            self._zap = zap_handler(self._context)
            self._zap.register(_zap_domain(config), self.service.name, AllowList(config.curve, self._authority))
        rep = _socket(self._context, zmq.ROUTER, config)
        # Without it a ROUTER drops replies to vanished peers silently; with it we count them.
        rep.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.endpoints["rep"] = _bind(rep, config, config.rep_port)
        pull = _socket(self._context, zmq.PULL, config)
        self.endpoints["pull"] = _bind(pull, config, config.pull_port)
        pub = _socket(self._context, zmq.PUB, config)
        self.endpoints["pub"] = _bind(pub, config, config.pub_port)
        self._pub = pub
        self.service.server = self
        self.service.on_start()
        BUILD_INFO.info({"service": self.service.name, "instance": self.instance, "version": self.service.version})
        # Drained in worker greenlets, which run the handlers inline (see `_dispatch`).
        identify = self.knows_callers
        self._rep = Pump(
            rep, self._on_request, on_undeliverable=self._on_undeliverable, workers=self._workers, identify=identify
        )
        self._pull = Pump(pull, self._on_push, workers=self._workers, identify=identify)
        crypto = {"libsodium": SYSTEM_LIBSODIUM or "bundled with pyzmq"} if config.curve is not None else {}
        self._log.info(
            "serving",
            endpoints=self.endpoints,
            pool_size=self.pool_size,
            curve=self.curve_public_key or "off",
            **crypto,
        )

    def drain(self, timeout: float) -> bool:
        """Refuse new work (DRAINING: callers retry elsewhere) and wait for handlers to finish."""
        self.draining = True
        self._log.info("draining", in_flight=self.in_flight, timeout=timeout)
        deadline = time.monotonic() + timeout
        try:
            self.service.on_drain(timeout)
        except Exception as exc:  # noqa: BLE001 - a failed hand-over must not keep the process alive
            self._log.error("on_drain failed", exc_info=exc)
        replying = self.in_flight > 0
        idle = self._idle = gevent.event.Event()
        if not replying:
            idle.set()
        drained = idle.wait(max(0.0, deadline - time.monotonic()))
        if not drained:
            self._log.warning("drain timed out", in_flight=self.in_flight)
        elif replying:
            # The last replies are on the wire, but a caller that has not read its reply when the
            # connection closes never will: libzmq drops a vanished peer's unread messages on
            # IMMEDIATE sockets, which clients use. Give callers a moment before close().
            gevent.sleep(min(_REPLY_GRACE, timeout))
        return bool(drained)

    def close(self) -> None:
        self.draining = True
        try:
            self.service.on_stop()
        finally:
            for pump in (self._rep, self._pull):
                if pump is not None:
                    pump.close(linger_ms=1000)
            if self._pub is not None:
                if self._hold_timer is not None:
                    # Events held back leave now: the linger below gives them to subscribers.
                    self._hold_timer.stop()
                    self._send_held()
                self._pub.close(linger=1000)
            if self._zap is not None:
                self._zap.unregister(_zap_domain(self.config))
                self._zap = None
            self._log.info("stopped")

    # -- requests ----------------------------------------------------------------------------

    def _on_request(self, frames: list[bytes], peer: str | None = None) -> None:
        if len(frames) != 3:
            self._protocol_error("frame_count", f"{len(frames)} frames, expected identity+envelope+body")
            if len(frames) >= 2:
                self._refuse(frames[0], None, ErrorCode.BAD_REQUEST, "expected frames [envelope, body]")
            return
        ident, head, body = frames
        try:
            env = decode_envelope(head)
        except DecodeError as exc:
            self._protocol_error("bad_envelope", str(exc))
            self._refuse(ident, None, ErrorCode.BAD_REQUEST, f"undecodable envelope: {exc}")
            return
        if env.kind != REQUEST:
            self._protocol_error("unexpected_kind", f"kind {env.kind}")
            self._refuse(ident, env, ErrorCode.BAD_REQUEST, f"expected a request, got kind {env.kind}")
            return
        self._dispatch(ident, env, body, inline=True, peer=peer)

    def _on_push(self, frames: list[bytes], peer: str | None = None) -> None:
        if len(frames) != 2:
            self._protocol_error("frame_count", f"pushed work with {len(frames)} frames, expected 2")
            return
        try:
            env = decode_envelope(frames[0])
        except DecodeError as exc:
            self._protocol_error("bad_envelope", str(exc))
            return
        if self.in_flight >= self.pool_size:
            # Pushed work has no one to answer OVERLOADED to: stop reading instead, so the
            # backlog stays in zmq's queues and pushers feel the high-water mark.
            assert self._pull is not None
            self._parked_push = (env, frames[1], peer)
            self._pull.pause()
            return
        self._dispatch(None, env, frames[1], inline=True, peer=peer)

    def _dispatch(
        self, ident: bytes | None, env: Envelope, body: bytes, *, inline: bool = False, peer: str | None = None
    ) -> None:
        """Run the request's handler, or refuse the request.

        `inline`: we are in a pump's worker greenlet (`Pump(workers=...)`), which runs the handler
        itself: a switch into another greenlet and back costs more than most handlers. From the
        hub (a parked push), the handler gets a worker of its own. `peer`: the caller's service
        identity ("" for none) when the server knows callers, else None.
        """
        entry = self._handlers.get(env.method)
        if entry is None:
            self._refuse(ident, env, ErrorCode.UNKNOWN_METHOD, f"{self.service.name} has no method {env.method!r}")
            return
        if entry[1] is None:
            self._refuse(ident, env, ErrorCode.UNIMPLEMENTED, f"{self.service.name}.{env.method} has no handler")
            return
        if self.draining and env.method not in self.service.drain_exempt:
            self._refuse(ident, env, ErrorCode.DRAINING, f"instance {self.instance} is draining")
            return
        if env.deadline_ms is not None and env.deadline_ms <= time.time() * 1000.0:
            self._refuse(ident, env, ErrorCode.DEADLINE_EXCEEDED, "deadline passed before the request was read")
            return
        if self.in_flight >= self.pool_size:
            self._refuse(ident, env, ErrorCode.OVERLOADED, f"all {self.pool_size} handler slots busy")
            return
        if peer is not None and not self._admit(ident, env, peer):
            return
        self.in_flight += 1
        if inline:
            # A fresh context per request, as `Workers.spawn` gives each task.
            contextvars.Context().run(self._run, ident, env, body, entry, peer)  # type: ignore[arg-type]
        else:
            self._workers.spawn(self._run, ident, env, body, entry, peer)

    def _admit(self, ident: bytes | None, env: Envelope, peer: str) -> bool:
        """The identity rules: False (and the caller answered) when `peer` may not call this method.

        A session id, client address or client round trip from a caller without the session grant
        is dropped, not refused: services pass their own callers' sessions on in nested calls,
        which is no claim.
        """
        authority = self._authority
        assert authority is not None
        grant = self.service.required_grants.get(env.method)
        if grant is not None and not authority.granted(peer, grant):
            caller = peer or "unidentified"
            UNAUTHORIZED_CALLS.labels(self.service.name, env.method, caller).inc()
            self._refuse(
                ident,
                env,
                ErrorCode.UNAUTHENTICATED,
                f"{self.service.name}.{env.method} is for services granted {grant!r} in the CURVE authority; "
                f"this caller is {caller}",
            )
            return False
        stamped = env.session_id is not None or env.client is not None or env.client_rtt_us is not None
        if stamped and not authority.granted(peer, SESSION_GRANT):
            # What a broker stamps about the game client (who, from where, how far) is believed
            # from brokers only.
            env.session_id = None
            env.client = None
            env.client_rtt_us = None
        return True

    def _run(
        self, ident: bytes | None, env: Envelope, body: bytes, entry: tuple[Method, Handler], peer: str | None = None
    ) -> None:
        # Runs in a worker greenlet entered from the hub: nothing may escape from here.
        started = time.perf_counter()
        method, handler = entry
        outcome = "ok"
        reply: bytes | None = None
        try:
            session = Session(
                env.session_id,
                env.trace_id or new_trace_id(),
                env.method,
                env.deadline_ms / 1000.0 if env.deadline_ms is not None else None,
                env.sender,
                env.client,
                client_rtt_us=env.client_rtt_us,
                peer_service=peer or None,
            )
            _current.set(session)
            try:
                args = decode(body, method.args_spec)
                args.validate()
            except (DecodeError, TProtocolException) as exc:
                outcome = "bad_request"
                self._refuse(
                    ident, env, ErrorCode.BAD_REQUEST, f"{method.name}: undecodable arguments: {exc}", counted=True
                )
                return
            try:
                value = handler(session, args)
            except RemoteError as exc:
                # A handler answering with a runtime code (Unauthenticated, BadRequest, ...).
                outcome = code_name(exc.code)
                self._refuse(ident, env, exc.code, exc.message, counted=True)
                return
            except Exception as exc:
                for field, cls in method.exceptions:
                    if isinstance(exc, cls):
                        outcome = "exception"
                        reply = encode(method.result_cls(**{field: exc}), method.result_spec)  # type: ignore[misc,arg-type]
                        break
                else:
                    raise
            else:
                if method.result_cls is not None:
                    # A void method's result struct has no `success` field, only its exceptions.
                    result = method.result_cls(success=value) if method.returns_value else method.result_cls()
                    reply = encode(result, method.result_spec)  # type: ignore[arg-type]
            if ident is not None and reply is not None:
                change = session.change
                if change is None and env.request_id is not None:
                    head = encode_reply_envelope(env.method, env.request_id, env.trace_id)
                else:
                    head = encode_envelope(
                        Envelope(REPLY, env.method, env.request_id, None, env.trace_id, session_change=change)
                    )
                assert self._rep is not None
                self._rep.send((ident, head, reply))
        except BaseException as exc:  # noqa: BLE001 - a handler greenlet must never die into the hub
            outcome = "internal"
            self._log.error(
                "handler failed",
                method=env.method,
                trace_id=env.trace_id,
                session_id=env.session_id,
                exc_info=exc,
            )
            self._refuse(
                ident,
                env,
                ErrorCode.INTERNAL,
                f"{self.service.name}.{env.method} failed ({type(exc).__name__})",
                counted=True,
            )
        finally:
            elapsed = time.perf_counter() - started
            self._metrics.requests.record(env.method, outcome, elapsed)
            if self._sampling and self._sampler.sampled(env.trace_id):
                self._log.info(
                    "handled",
                    method=env.method,
                    trace_id=env.trace_id,
                    session_id=env.session_id,
                    caller=env.sender,
                    duration_ms=round(elapsed * 1000, 3),
                    outcome=outcome,
                )
            self.in_flight -= 1
            if self.in_flight == 0 and self._idle is not None:
                self._idle.set()
            if self._parked_push is not None:
                self._hub.loop.run_callback(self._unpark)

    def _unpark(self) -> None:
        parked = self._parked_push
        if parked is None or self.in_flight >= self.pool_size:
            return
        self._parked_push = None
        assert self._pull is not None
        self._pull.resume()
        env, body, peer = parked
        self._dispatch(None, env, body, peer=peer)

    # -- replies and errors ------------------------------------------------------------------

    def _send(self, ident: bytes, env: Envelope, body: bytes) -> None:
        assert self._rep is not None
        self._rep.send((ident, encode_envelope(env), body))

    def _refuse(
        self, ident: bytes | None, env: Envelope | None, code: int, message: str, *, counted: bool = False
    ) -> None:
        """Answer `code` instead of a result (or, for pushed work, log and count it).

        `counted`: the caller (a handler's greenlet) counts and logs the outcome itself.
        """
        method = env.method if env is not None else "?"
        name = code_name(code)
        trace_id = (env.trace_id if env is not None else None) or new_trace_id()
        if not counted:
            # Garbage method names must not become unbounded label values.
            self._metrics.requests.record(method if method in self._handlers else "?", name, None)
            self._throttle.warning(
                self._log,
                name,
                "request refused",
                code=name,
                reason=message,
                method=method,
                trace_id=trace_id,
                pushed=ident is None,
            )
        if ident is None:
            return
        reply = Envelope(
            ERROR,
            method,
            env.request_id if env is not None else 0,
            None,
            trace_id,
            None,
            self.instance,
            code,
            message,
        )
        self._send(ident, reply, b"")

    def _protocol_error(self, reason: str, detail: str) -> None:
        self._metrics.protocol_errors.get(reason).inc()
        suppressed = self._throttle.allow(reason)
        if suppressed is not None:
            self._log.warning("malformed message", reason=reason, detail=detail, suppressed=suppressed)

    def _on_undeliverable(self, frames: Sequence[bytes], exc: Exception) -> None:
        self._protocol_error("reply_undeliverable", f"{type(exc).__name__}: {exc}")

    # -- events ------------------------------------------------------------------------------

    def publish(self, topic: str, event: Any) -> None:
        cls = type(event)
        spec = self._event_specs.get(cls)
        if spec is None:
            if self._idl.struct(cls.__name__) is not cls:
                raise TypeError(f"{cls.__name__} is not a struct of {self._idl.thrift_name}'s IDL")
            spec = self._event_specs[cls] = spec_of(cls)
        # The topic's frame and its counter's key, made once per topic.
        sent = self._topics.get(topic)
        if sent is None:
            sent = self._topics[topic] = (topic.encode(), (self.service.name, topic))
        session = _current.get()
        if session is None:
            head = encode_event_envelope(cls.__name__, None, new_trace_id(), self.instance)
        else:
            head = encode_event_envelope(cls.__name__, session.id, session.trace_id, self.instance)
        body = encode(event, spec)
        pub = self._pub
        assert pub is not None
        if pub.closed:
            raise zmq.ZMQError(zmq.ENOTSOCK, "publish() after the server closed")
        published = self._published
        key = sent[1]
        published[key] = published.get(key, 0) + 1
        if self._hold_timer is None:
            _send_event(pub, sent[0], head, body)
            return
        held = self._held
        held.append((sent[0], head, body))
        if len(held) == 1:
            self._hold_timer.start(self._send_held)

    def _send_held(self) -> None:
        """Send the events `publish` held (`Service.publish_delay`), back to back, in order."""
        held, self._held = self._held, []
        pub = self._pub
        if pub is None or pub.closed:
            return
        for topic, head, body in held:
            _send_event(pub, topic, head, body)


def _send_event(pub: zmq.Socket[Any], topic: bytes, head: bytes, body: bytes) -> None:
    # PUB never blocks: at a slow subscriber's high-water mark zmq drops for that subscriber
    # only, which is pub-sub's contract; work that must arrive uses PUSH. The frames go to
    # pyzmq's Cython send, below its Python `Socket.send` wrapper, as the pump's do. (No lost
    # wake-up to guard: nothing reads a PUB socket.)
    _send_frame(pub, topic, _NOBLOCK_MORE)
    _send_frame(pub, head, _NOBLOCK_MORE)
    # The last frame completes the message: zmq hands it to every subscriber's pipe here and,
    # for each pipe its I/O thread had gone idle on, wakes that thread: the costly step.
    _send_frame(pub, body, _NOBLOCK)
