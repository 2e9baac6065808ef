"""The broker's core: accept game clients, route their packets, open sessions, deliver pushes."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

import gevent
from prometheus_client import Counter, Gauge

from hn_broker._bindings import BindingWatch
from hn_broker._config import BrokerConfig
from hn_broker._connection import ClientConnection
from hn_broker._fence import MOVED, Fence, HearsYellow
from hn_broker._listener import Listener, Scheme, schemes
from hn_broker._packets import code_name, prefixed, reply, shown
from hn_broker._routes import RouteTable
from hn_edge import BOUND, LOGIN, LOGOUT, RESUME, Edge, Route, SessionState
from hn_idl.broker.ttypes import BrokerError, Resumed
from hn_idl.client.ttypes import ClientError, Packet
from hn_runtime import (
    BadRequest,
    CallTimeout,
    Draining,
    HNError,
    InternalError,
    Overloaded,
    RemoteError,
    ServiceUnavailable,
    Unauthenticated,
    UnknownMethod,
    get_logger,
    get_service,
    new_trace_id,
)
from hn_runtime.client import Forwarded
from hn_runtime.discovery import Directory, Instance, default_directory
from hn_runtime.logs import LogThrottle, TraceSampler
from hn_runtime.metrics import stats_family
from hn_runtime.wire import DecodeError, decode, encode, load_idl
from hn_runtime.workers import Workers

__all__ = ["Broker"]

_log = get_logger("hn.broker")
CONNECTIONS = Gauge("hn_broker_connections", "Game-client connections open.")
CAPACITY = Gauge("hn_broker_capacity", "Game-client connections this broker accepts at most.")
SESSIONS = Gauge("hn_broker_sessions", "Logged-in sessions held by this broker.")
CLOSES = Counter("hn_broker_disconnects_total", "Game-client connections closed, by reason.", ["reason"])
REFUSALS = Counter("hn_broker_refusals_total", "Error packets sent to game clients, by code.", ["code"])
PUSHES = Counter("hn_broker_pushes_total", "Pushes for sessions, by outcome.", ["outcome"])
RESUMES = Counter("hn_broker_resumes_total", "broker.resume requests, by outcome (ok, refused).", ["outcome"])
ENDED = Counter(
    "hn_broker_sessions_ended_total",
    "Connections told their session ended (a login elsewhere, a logout or password change), by code.",
    ["code"],
)
PACKETS = stats_family("hn_broker_", "Client requests a broker forwarded")
#: how long after a resume another broker may still stash a push it believed was its own
_LATE_PUSHES_S = 2.0
#: how long a fenced broker lets the answers to requests in flight reach its players (they were
#: told to move at once, and reconnect meanwhile) before it closes their connections
_MOVE_GRACE_S = 1.0
_FENCED = "broker cut off from the platform: reconnect through brokerlist and resume"
_ELSEWHERE = "this account logged in elsewhere"


def _remote_code(exc: HNError) -> int:
    if isinstance(exc, CallTimeout):
        return int(ClientError.TIMEOUT)
    if isinstance(exc, Overloaded):
        return int(ClientError.OVERLOADED)
    if isinstance(exc, (ServiceUnavailable, Draining)):
        return int(ClientError.UNAVAILABLE)
    if isinstance(exc, BadRequest):
        return int(ClientError.BAD_REQUEST)
    if isinstance(exc, UnknownMethod):
        return int(ClientError.UNKNOWN_MESSAGE)
    return int(ClientError.INTERNAL)


def _settle(connections: Collection[ClientConnection], deadline: float, *, answers: bool = True) -> None:
    """Until `deadline`, let the requests in flight be answered (`answers`) and every byte queued
    for `connections` go out (a live collection: it is read again each round)."""
    while time.monotonic() < deadline and any((answers and c.in_flight) or c.pending_output for c in connections):
        gevent.sleep(0.02)


def _turn_away(scheme: Scheme, sock: socket.socket, code: int, message: str, reason: str) -> None:
    """Refuse a connection just accepted: what its scheme can say at once (best effort), then
    close, counted."""
    REFUSALS.labels(code_name(code)).inc()
    refusal = scheme.refusal(code, message)
    if refusal:
        try:
            sock.send(refusal)
        except OSError:
            pass
    sock.close()
    CLOSES.labels(reason).inc()


class Broker:
    def __init__(
        self,
        config: BrokerConfig,
        *,
        instance_id: str,
        redis: Any,
        directory: Directory | None = None,
        tracing: TraceSampler | None = None,
    ) -> None:
        self.config = config
        self.limits = config.limits
        self.instance_id = instance_id
        self.loop = gevent.get_hub().loop
        self.workers = Workers()
        #: what clients may send, learned from the services' registrations
        self.routes = RouteTable()
        self.state = SessionState(redis)
        #: tells the broker holding an older connection of a session to end it
        self.edge = Edge(redis, instance_id=instance_id, state=self.state, directory=directory)
        self.connections: set[ClientConnection] = set()
        #: IP address -> connections open from it (addresses with none are removed)
        self.per_address: dict[str, int] = {}
        self.sessions: dict[str, ClientConnection] = {}
        #: service -> a proxy that forwards bodies as they are (made on first use)
        self._proxies: dict[str, Any] = {}
        self._own_methods = load_idl("broker").methods
        #: what the fence's probes send: every service answers `health` (hn_runtime.thrift)
        self._health = self._own_methods["health"]
        self._health_body = encode(self._health.args_cls(), self._health.args_spec)
        self._brokers: Any = None  # the other brokers, for pushes whose session moved (made on first use)
        self._directory = directory
        self._stats = PACKETS.for_service("broker")
        self._log_throttle = LogThrottle()
        self._bindings = BindingWatch(self.state, self.routes.values, self.sessions)
        #: True while fenced off (see _fence.py): no new connections, requests refused
        self.fenced = False
        found = directory or default_directory()
        self.fence = Fence(
            after_s=config.fence_after_s,
            hold_s=config.fence_hold_s,
            instance_id=instance_id,
            probe=self._probe,
            on_fence=self.fence_up,
            on_lift=self.fence_down,
            yellow=found if isinstance(found, HearsYellow) else None,
        )
        #: the request path's note that a service answered (the fence's passive evidence)
        self._answered = self.fence.heard.add
        # Routes and bindings follow discovery from the start: a client's first packet may come
        # before the listener's first accept returns to this greenlet.
        self._unwatch: Callable[[], None] | None = found.watch_all(self._instances_changed)
        #: scheme name ("tcp" or "tls", "ws" or "wss") -> its listener, once started
        self.listeners: dict[str, Listener] = {}
        self._sweeper: gevent.Greenlet | None = None
        #: the client port (TCP, or TLS), once started
        self.port = 0
        self.draining = False
        self._tracing = tracing or TraceSampler(0.0)
        #: the sampler's truth read once: `bool()` on it is a Python call per packet
        self._sampling = bool(self._tracing)
        CAPACITY.set(config.capacity)
        CONNECTIONS.set_function(lambda: len(self.connections))
        SESSIONS.set_function(lambda: len(self.sessions))

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, *, sync_timeout: float = 10.0) -> None:
        """Accept game clients, once discovery gave a first view (the client routes): a broker
        that took clients before would answer their first messages UNKNOWN_MESSAGE."""
        if not (self._directory or default_directory()).wait_synced(sync_timeout):
            _log.warning("starting before discovery answered: no client routes yet", waited_s=sync_timeout)
        for scheme, port in schemes(self.config):
            listener = Listener(self.loop, scheme, self._admit)
            listener.start(self.config.bind_host, port)
            self.listeners[scheme.name] = listener
        self.port = next(iter(self.listeners.values())).port
        self._sweeper = gevent.spawn(self._sweep)
        self.fence.start()
        _log.info(
            "accepting game clients",
            port=self.port,
            listeners={name: listener.port for name, listener in self.listeners.items()},
            routes=self.routes.types(),
        )

    def _instances_changed(self, service: str, instances: Sequence[Instance]) -> None:
        self.routes.update(service, instances)
        self._bindings.instances_changed(service, instances)
        self.fence.instances_changed(service, instances)

    def _proxy(self, service: str) -> Any:
        proxy = self._proxies.get(service)
        if proxy is None:
            proxy = self._proxies[service] = get_service(
                service, directory=self._directory, timeout=self.config.call_timeout_s, raw=True
            )
        return proxy

    def stop_accepting(self) -> None:
        for listener in self.listeners.values():
            listener.stop()

    # -- the fence -------------------------------------------------------------------------

    def _probe(self, service: str, instance_id: str, timeout: float) -> bool:
        """The fence's probe: did that instance answer `health` within `timeout`? Any answer
        counts, an error too (DRAINING, OVERLOADED): it was reached."""
        try:
            self._proxy(service).forward(
                self._health, self._health_body, timeout=timeout, instance_id=instance_id, client="fence"
            )
        except (CallTimeout, ServiceUnavailable):
            return False
        except HNError:
            return True
        return True

    def fence_up(self, reason: str, unreachable: dict[str, float]) -> None:
        """Fenced off: take no one new, tell every player to move (BROKER_UNAVAILABLE, as for a
        drain: the SDKs reconnect through brokerlist and resume), close their connections once
        the answers in flight went out, or after a moment; yellow lists the broker "draining"
        (BrokerService.in_service) so brokerlist leaves it out."""
        self.fenced = True
        self.stop_accepting()
        told = [conn for conn in self.connections if not conn.closed]
        for conn in told:
            conn.refuse(ClientError.BROKER_UNAVAILABLE, _FENCED)
        MOVED.inc(len(told))
        _log.warning(
            "fenced: players told to move",
            reason=reason,
            unreachable_s=unreachable,
            connections=len(told),
            sessions=len(self.sessions),
        )
        gevent.spawn(self._close_moved, told)

    def _close_moved(self, told: list[ClientConnection]) -> None:
        _settle(told, time.monotonic() + _MOVE_GRACE_S)
        for conn in told:
            conn.close("fenced")

    def fence_down(self) -> bool:
        """The fence lifts: listen again on the same ports; False (still fenced) if a port cannot
        be bound yet, or the broker is draining."""
        if self.draining:
            return False
        started = []
        try:
            for listener in self.listeners.values():
                listener.start(self.config.bind_host, listener.port)
                started.append(listener)
        except OSError as exc:
            for listener in started:
                listener.stop()
            _log.error("fence cannot lift: client port not bound again", error=str(exc))
            return False
        self.fenced = False
        _log.info("taking players again", listeners={name: lst.port for name, lst in self.listeners.items()})
        return True

    def drain(self, timeout: float) -> None:
        """Leave without failing a player's call: accept no one new; refuse each new request
        BROKER_UNAVAILABLE with its sequence number (the SDK resends it once resumed on another
        broker); let the requests in flight finish and their answers go out; then tell every
        client, close, and detach the sessions so pushes wait in their mailboxes."""
        self.fence.stop()
        self.stop_accepting()
        self.draining = True
        deadline = time.monotonic() + max(0.0, timeout - 0.5)
        _settle(self.connections, deadline)
        for conn in list(self.connections):
            conn.refuse(ClientError.BROKER_UNAVAILABLE, "broker shutting down: reconnect through brokerlist")
        _settle(self.connections, deadline, answers=False)
        held = list(self.sessions)
        for conn in list(self.connections):
            conn.close("broker draining")
        for sid in held:  # now, not in greenlets the exit would not wait for
            self._forget_session(sid)
        _log.info("drained", deadline_left_s=round(deadline - time.monotonic(), 2))

    def stop(self) -> None:
        self.fence.stop()
        self.stop_accepting()
        if self._sweeper is not None:
            self._sweeper.kill()
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        for conn in list(self.connections):
            conn.refuse(ClientError.BROKER_UNAVAILABLE, "broker shutting down: reconnect through brokerlist")
            conn.close("broker shutting down")

    def load(self) -> float:
        return len(self.connections) / max(1, self.config.capacity)

    # -- accepting ---------------------------------------------------------------------------

    def _admit(self, listener: Listener, sock: socket.socket, addr: tuple[str, int]) -> None:
        """A client just accepted on `listener`: turned away if the broker is full or its address
        holds too many connections, else a connection of the listener's scheme."""
        scheme = listener.scheme
        if self.fenced:  # accepted just before the listeners closed
            _turn_away(scheme, sock, ClientError.BROKER_UNAVAILABLE, _FENCED, "fenced")
            return
        if len(self.connections) >= self.config.capacity:
            _turn_away(
                scheme, sock, ClientError.BROKER_UNAVAILABLE, "broker full: pick another from brokerlist", "broker full"
            )
            return
        address = addr[0]
        held = self.per_address.get(address, 0)
        cap = self.config.max_connections_per_address
        if cap and held >= cap:
            _turn_away(
                scheme,
                sock,
                ClientError.TOO_MANY_CONNECTIONS,
                f"{cap} connections from your address already: close one, or pick another broker",
                "too many connections from address",
            )
            return
        self.per_address[address] = held + 1
        self.connections.add(scheme.connection(self, self.limits, self.loop, sock, f"{address}:{addr[1]}"))

    def closed(self, conn: ClientConnection, reason: str) -> None:
        if conn in self.connections:
            self.connections.remove(conn)
            address = conn.peer.rpartition(":")[0]
            held = self.per_address.get(address, 0) - 1
            if held > 0:
                self.per_address[address] = held
            else:
                self.per_address.pop(address, None)
        CLOSES.labels(reason).inc()
        sid = conn.session_id
        if sid is not None and self.sessions.get(sid) is conn:
            del self.sessions[sid]
            gevent.spawn(self._forget_session, sid)

    def _forget_session(self, sid: str) -> None:
        try:
            self.state.detach(sid, self.instance_id)
        except Exception as exc:  # noqa: BLE001 - the key expires anyway
            _log.warning("could not detach session", session_id=sid, error=str(exc))

    def _sweep(self) -> None:
        """Close idle connections; keep the shared session records of live ones fresh."""
        refresh_every = max(5.0, self.state.session_ttl_s / 3)
        last_refresh = time.monotonic()
        while True:
            gevent.sleep(min(5.0, self.config.idle_timeout_s / 4))
            cutoff = self.loop.now() - self.config.idle_timeout_s
            for conn in [c for c in self.connections if c.last_seen < cutoff]:
                conn.refuse(ClientError.IDLE_TIMEOUT, "idle for too long: send pings to keep a connection")
                conn.close("idle")
            if time.monotonic() - last_refresh > refresh_every:
                last_refresh = time.monotonic()
                for sid in list(self.sessions):
                    try:
                        self.state.attach(sid, self.instance_id)
                    except Exception as exc:  # noqa: BLE001 - retried at the next sweep
                        _log.warning("could not refresh session", session_id=sid, error=str(exc))
                        break

    def count_refusal(self, code: int) -> None:
        REFUSALS.labels(code_name(code)).inc()

    # -- routing -----------------------------------------------------------------------------

    def dispatch(self, conn: ClientConnection, packet: Packet) -> None:
        """A request packet arrived (in the hub): gate it, then forward it from a worker."""
        route = self.routes.get(packet.type)
        if route is None:
            conn.refuse(ClientError.UNKNOWN_MESSAGE, f"no message type {shown(packet.type)} for clients", packet)
            return
        if self.draining or self.fenced:
            why = _FENCED if self.fenced else "broker shutting down: reconnect through brokerlist"
            conn.refuse(ClientError.BROKER_UNAVAILABLE, why, packet)
            return
        if conn.session_id is None and not route.open:
            conn.refuse(ClientError.UNAUTHENTICATED, f"{packet.type} needs a session: log in first", packet)
            return
        max_in_flight = self.limits.max_in_flight
        if conn.in_flight >= max_in_flight:
            conn.refuse(ClientError.RATE_LIMITED, f"{max_in_flight} requests already in flight", packet)
            return
        conn.in_flight += 1
        self.workers.spawn(self._forward, conn, packet, route)

    def _forward(self, conn: ClientConnection, packet: Packet, route: Route) -> None:
        started = time.perf_counter()
        trace_id = packet.trace_id or new_trace_id()
        outcome = "ok"
        try:
            if route.kind == RESUME:
                body = self._resume(conn, packet)
            else:
                # A bound route goes to the instance holding the session's state for its family.
                # Without one, the session has no such state (no duel yet, or it is over): any
                # instance answers that in the service's own terms (match: NOT_IN_MATCH), so
                # that SESSION_LOST means only that the state's holder is gone.
                binding = conn.bindings.get(route.family) if route.kind == BOUND else None
                try:
                    forwarded: Forwarded = self._proxy(route.service).forward(
                        route,
                        packet.body or b"",
                        session_id=conn.session_id,
                        trace_id=trace_id,
                        client=conn.peer,
                        client_rtt_us=conn.round_trip_us(),
                        instance_id=None if binding is None else binding.instance_id,
                    )
                except ServiceUnavailable as exc:
                    if binding is None:
                        raise
                    outcome = "session_lost"
                    if self._bindings.lost(conn, route.family, binding, str(exc)):
                        why = f"the {route.family} is gone: {exc.message}"
                    else:
                        why = f"the {route.family} is over: its outcome follows"
                    conn.refuse(ClientError.SESSION_LOST, why, packet, trace_id)
                    return
                self._answered(route.service)
                body = forwarded.body
                change = forwarded.session_change
                if change is not None and not conn.closed:
                    if route.kind == LOGIN and not change.ended:
                        self._open_session(conn, str(change.account_id), change.display_name)
                    elif route.kind == LOGOUT and change.ended:
                        self._close_session(conn)
            conn.send(reply(packet, body, trace_id))
        except HNError as exc:
            code = exc.code if isinstance(exc, RemoteError) else 0
            outcome = type(exc).__name__
            client_code = _remote_code(exc)
            suppressed = self._log_throttle.allow((packet.type, outcome))
            if suppressed is not None:
                _log.info(
                    "request failed",
                    type=packet.type,
                    trace_id=trace_id,
                    error=str(exc),
                    code=code,
                    suppressed=suppressed,
                )
            conn.refuse(client_code, exc.message, packet, trace_id)
        except Exception as exc:  # noqa: BLE001 - one bad request must not take the broker down
            outcome = "internal"
            _log.error("forwarding failed", type=packet.type, trace_id=trace_id, exc_info=exc)
            conn.refuse(ClientError.INTERNAL, "internal error", packet, trace_id)
        finally:
            conn.in_flight -= 1
            elapsed = time.perf_counter() - started
            self._stats.record(packet.type, outcome, elapsed)
            if self._sampling and self._tracing.sampled(trace_id):
                # The first hop of a sampled trace: `hn logs --trace` starts here.
                _log.info(
                    "packet",
                    type=packet.type,
                    trace_id=trace_id,
                    session_id=conn.session_id,
                    peer=conn.peer,
                    duration_ms=round(elapsed * 1000, 3),
                    outcome=outcome,
                )

    # -- sessions ----------------------------------------------------------------------------

    def _open_session(self, conn: ClientConnection, sid: str, name: str) -> int:
        # One session per account: an older connection of it, here or on another broker, ends.
        previous = self.sessions.get(sid)
        if previous is not None and previous is not conn:
            self._end_connection(previous, ClientError.LOGGED_IN_ELSEWHERE, _ELSEWHERE, detach=False)
        if conn.session_id is not None and conn.session_id != sid and self.sessions.get(conn.session_id) is conn:
            del self.sessions[conn.session_id]
        conn.session_id = sid
        conn.display_name = name
        self.sessions[sid] = conn
        holder = self.state.take_over(sid, self.instance_id)
        if holder is not None and holder != self.instance_id:
            # Off this request's path: a dead holder costs the push a connect timeout. The holder
            # checks the shared record first, so a newer login there since then is kept.
            gevent.spawn(
                self.edge.end_session,
                sid,
                _ELSEWHERE,
                code=ClientError.LOGGED_IN_ELSEWHERE,
                broker=holder,
                unless_holder=True,
                hops=1,
            )
        conn.bindings = self.state.bindings(sid)
        self._bindings.check(conn)
        waiting = self.state.take_mailbox(sid)
        for packet in waiting:
            conn.send(prefixed(packet))
        gevent.spawn_later(_LATE_PUSHES_S, self._replay_late, conn, sid)
        _log.info("session opened", session_id=sid, peer=conn.peer, replayed=len(waiting))
        return len(waiting)

    def end_session(
        self, sid: str, code: int, reason: str, *, spare_peer: str = "", unless_holder: bool = False, hops: int = 0
    ) -> None:
        """A service (or another broker) ends the session: its connection here is told `code`
        and closed (see the broker IDL's `end_session`)."""
        conn = self.sessions.get(sid)
        if conn is None or conn.closed:
            # Not here (any more): the session moved after the sender looked it up.
            holder = None if hops else self.state.broker_of(sid)
            if holder is not None and holder != self.instance_id:
                self.edge.end_session(
                    sid, reason, code=code, spare_peer=spare_peer, broker=holder, unless_holder=unless_holder, hops=1
                )
            return
        if spare_peer and conn.peer == spare_peer:
            return
        if unless_holder and self.state.broker_of(sid) == self.instance_id:
            return  # a login here since then holds the session: this connection is the newer one
        self._end_connection(conn, code, reason, detach=not unless_holder)

    def _end_connection(self, conn: ClientConnection, code: int, reason: str, *, detach: bool) -> None:
        """The connection's session is over: it serves nothing more from now on, its client is
        told why, and it is closed once the answers to its requests in flight are written
        (a client that took the session to another connection may still wait for them).
        `detach`: the shared record names this broker and must be cleared (not when a newer
        login, here or elsewhere, holds the session)."""
        sid = conn.session_id
        if sid is not None and self.sessions.get(sid) is conn:
            del self.sessions[sid]
            if detach:
                gevent.spawn(self._forget_session, sid)
        conn.session_id = None
        conn.bindings = {}
        ENDED.labels(code_name(code)).inc()
        conn.refuse(code, reason)
        _log.info("session ended", session_id=sid, peer=conn.peer, code=code_name(code))
        why = "logged in elsewhere" if code == ClientError.LOGGED_IN_ELSEWHERE else "session ended"
        gevent.spawn(self._close_when_answered, conn, why)

    def _close_when_answered(self, conn: ClientConnection, why: str) -> None:
        deadline = time.monotonic() + self.config.call_timeout_s + 1.0
        while conn.in_flight and time.monotonic() < deadline:
            gevent.sleep(0.02)
        if conn.session_id is None:  # unless a login on it meanwhile opened a new session
            conn.close(why)

    def _close_session(self, conn: ClientConnection) -> None:
        sid = conn.session_id
        if sid is not None and self.sessions.get(sid) is conn:
            del self.sessions[sid]
            self.state.detach(sid, self.instance_id)
        conn.session_id = None
        conn.bindings = {}

    def _resume(self, conn: ClientConnection, packet: Packet) -> bytes:
        """broker.resume: the service that checks tokens (a "resume" route) says whose session
        the token is; the connection takes it, with the pushes waiting in its mailbox."""
        method = self._own_methods["resume"]
        try:
            token = decode(packet.body or b"", method.args_spec).token
        except DecodeError:
            token = None
        if not token:
            RESUMES.labels("bad_request").inc()
            raise BadRequest("broker.resume needs a token")
        resumer = self.routes.resumer()
        if resumer is None:
            RESUMES.labels("unavailable").inc()
            return self._resume_result(error=BrokerError(ClientError.UNAVAILABLE, "no service checks resume tokens"))
        try:
            # The body is passed on as it is: a resume route takes the same `1: token` argument.
            change = self._proxy(resumer.service).forward(resumer, packet.body, client=conn.peer).session_change
        except Unauthenticated as exc:
            # An unknown, expired or logged-out token: refused, and counted (a replayed token).
            RESUMES.labels("refused").inc()
            return self._resume_result(error=BrokerError(ClientError.UNAUTHENTICATED, exc.message))
        except InternalError as exc:
            # The token could not be checked (the service's Redis failing over): not a verdict
            # on it, so the client retries rather than drop a session that may be perfectly good.
            # (No instance reachable at all is an UNAVAILABLE error packet, as for any message.)
            RESUMES.labels("unavailable").inc()
            return self._resume_result(error=BrokerError(ClientError.UNAVAILABLE, exc.message))
        if change is None or change.ended or conn.closed:
            RESUMES.labels("unavailable").inc()
            why = f"{resumer.type} opened no session"
            return self._resume_result(error=BrokerError(ClientError.UNAVAILABLE, why))
        replayed = self._open_session(conn, str(change.account_id), change.display_name)
        RESUMES.labels("ok").inc()
        resumed = Resumed(account_id=change.account_id, display_name=change.display_name, pushes_waiting=replayed)
        return self._resume_result(success=resumed)

    def _resume_result(self, **result: Any) -> bytes:
        method = self._own_methods["resume"]
        return encode(method.result_cls(**result), method.result_spec)  # type: ignore[misc,arg-type]

    # -- pushes and bindings from services ---------------------------------------------------

    def deliver(self, session_id: str, packet: bytes) -> None:
        conn = self.sessions.get(session_id)
        if conn is not None and not conn.closed:
            conn.send(prefixed(packet))
            PUSHES.labels("delivered").inc()
            return
        # The session moved (its client resumed on another broker after this one was looked
        # up): pass the push on, or it would wait in a mailbox nobody reads until the next resume.
        owner = self.state.broker_of(session_id)
        if owner is not None and owner != self.instance_id and self._pass_on(owner, session_id, packet):
            PUSHES.labels("passed_on").inc()
            return
        self.state.stash(session_id, packet)  # it may resume here or on another broker
        PUSHES.labels("kept").inc()

    def _pass_on(self, broker: str, session_id: str, packet: bytes) -> bool:
        method = self._own_methods["deliver"]
        body = encode(method.args_cls(session_id=session_id, packet=packet), method.args_spec)
        try:
            if self._brokers is None:
                self._brokers = get_service("broker", "PUSH", directory=self._directory)
            self._brokers.push_raw(method, body, instance_id=broker)
            return True
        except (HNError, LookupError) as exc:
            _log.info("could not pass a push on", session_id=session_id, broker=broker, error=str(exc))
            return False

    def _replay_late(self, conn: ClientConnection, sid: str) -> None:
        """Pushes stashed by a broker that still thought the session was its own while the client
        was resuming here: taken once more, a moment after the resume."""
        if conn.closed or self.sessions.get(sid) is not conn:
            return
        try:
            late = self.state.take_mailbox(sid)
        except Exception as exc:  # noqa: BLE001 - kept in the mailbox for the next resume
            _log.warning("could not replay late pushes", session_id=sid, error=str(exc))
            return
        for packet in late:
            conn.send(prefixed(packet))
        if late:
            PUSHES.labels("replayed_late").inc(len(late))

    def bound(self, session_id: str, family: str, instance_id: str, fate: str = "") -> None:
        self._bindings.bound(session_id, family, instance_id, fate)
