"""The game client: find a broker through brokerlist, log in, call services, get pushes, resume."""

from __future__ import annotations

import importlib
import json
import random
import ssl
import time
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

import gevent
import structlog
from gevent.event import Event

from hn_client._connection import BrokerConnection, ConnectionLost, NotSent
from hn_codec import decode, encode, load_idl, spec_of
from hn_idl.broker.ttypes import BrokerError
from hn_idl.client.ttypes import ClientError, Packet, PacketKind

__all__ = ["GameClient", "BrokerRejected", "ConnectionLost", "SessionEnded", "broker_order", "fetch_brokers"]

# structlog's own logger, as hn_runtime.get_logger makes them: the SDK does not load the runtime.
_log = structlog.get_logger(component="hn.client_sdk")


class BrokerRejected(Exception):
    """The broker answered a request with an error packet (code: hn_idl.client.ttypes.ClientError)."""

    def __init__(self, code: int, message: str, trace_id: str | None, type_: str) -> None:
        super().__init__(f"{type_}: {ClientError._VALUES_TO_NAMES.get(code, code)}: {message} (trace {trace_id})")
        self.code = code
        self.message = message
        self.trace_id = trace_id
        self.type = type_


class SessionEnded(Exception):
    """The session is over and will not be resumed: the account logged in elsewhere
    (code LOGGED_IN_ELSEWHERE), or logged out or changed its password elsewhere (SESSION_ENDED).
    Calls raise it until the client logs in again."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{ClientError._VALUES_TO_NAMES.get(code, code)}: {message}")
        self.code = code
        self.message = message


#: what a broker says, on the connection itself, when it ends the session there
_ENDED = frozenset({ClientError.SESSION_ENDED, ClientError.LOGGED_IN_ELSEWHERE})
#: calls that open a session: they may follow the end of one
_LOGINS = frozenset({"sso.login", "sso.create_account", "sso.register", "sso.guest_login"})
_random = random.Random()


def fetch_brokers(brokerlist_url: str, timeout: float = 5.0) -> list[tuple[str, float]]:
    """The brokers brokerlist publishes, least loaded first (see `broker_order` for which to take)."""
    with urllib.request.urlopen(brokerlist_url, timeout=timeout) as response:
        document = json.load(response)
    return sorted(document["brokerList"].items(), key=lambda item: (item[1], item[0]))


def broker_order(brokers: Iterable[tuple[str, float]], *, rng: random.Random | None = None) -> list[str]:
    """The brokers' addresses in the order to try them: a weighted random draw, each broker's
    weight its spare capacity (1 - load).

    Players who start together (a launch, a broker's clients coming back after it went away)
    read the same list; had each taken the least loaded broker, they would all land on one. A
    draw spreads them in proportion to the room each broker has. A broker reported full is still
    tried, after every other.
    """
    draw = rng or _random
    keyed = []
    for address, load in brokers:
        spare = 1.0 - float(load)
        # Efraimidis-Spirakis: sorting by u ** (1 / weight) (in [0, 1)) draws without replacement
        # by weight. A full broker gets a key below every other's: shuffled in after them.
        key = draw.random() ** (1.0 / spare) if spare > 0 else -draw.random() - 1.0
        keyed.append((key, address))
    return [address for _, address in sorted(keyed, reverse=True)]


def _push_struct(type_: str) -> type | None:
    """The struct a push of `type_` ("service.StructName") carries."""
    service, _, name = type_.partition(".")
    module = "hn_idl.client.ttypes" if service == "broker" else f"hn_idl.{service}.ttypes"
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


#: Calls that may be sent again after a broker was lost with them in flight: logging in again
#: (the new session replaces one whose reply never came) and resuming. Beyond these, a method
#: in its service's IDEMPOTENT set.
_RESENDABLE = frozenset({"sso.login", "sso.guest_login", "broker.resume"})


class GameClient:
    """A player's connection to the platform.

        client = GameClient("http://brokerlist:8080/")
        client.login("harry", "my_dirty_secret")
        client.on("match.MatchFound", lambda event: ...)
        client.call("match.enqueue", mode="ranked")

    After losing its broker (a crash, or a broker drained by a deploy or by the autoscaler), a
    logged-in client reconnects through brokerlist (to any broker) and resumes its session with
    its token; pushes sent meanwhile are delivered then. Calls made meanwhile wait for the
    resume (up to `timeout`). A call the broker refused as BROKER_UNAVAILABLE, or that could not
    be sent, never ran: it is sent again once resumed. A call in flight when the connection
    dropped may or may not have run: it is sent again only if that is safe (logins, and the
    methods an IDL declares IDEMPOTENT); any other raises ConnectionLost.

    A session ended elsewhere (this account logged in on another connection, or logged out or
    changed its password there) is not resumed: `ended` holds why (a SessionEnded), calls other
    than logins raise it, and handlers registered with `on("broker.SessionEnded", ...)` get it,
    until the next login.
    """

    def __init__(
        self,
        brokerlist_url: str,
        *,
        timeout: float = 10.0,
        reconnect: bool = True,
        ca_file: str | None = None,
        tls: bool = False,
    ) -> None:
        """`ca_file`: the brokers speak TLS and their certificates are verified against this CA
        (PEM; `hn up --tls` writes one to its run directory as tls/ca.pem); `tls=True`: TLS
        verified against the system's CAs. Without either, plain TCP."""
        self.brokerlist_url = brokerlist_url
        self._tls = ssl.create_default_context(cafile=ca_file) if (ca_file or tls) else None
        self.timeout = timeout
        self.reconnect = reconnect
        self.token: str | None = None
        self.account: Any = None
        self.connection: BrokerConnection | None = None
        self.resumes = 0
        #: calls sent again after losing a broker (figures for tests and bots)
        self.resent = 0
        self.connected = Event()
        #: connected, and (when logged in) the session resumed: calls may go out
        self.ready = Event()
        #: why the session ended elsewhere (None while it lives, or before any login)
        self.ended: SessionEnded | None = None
        self._handlers: dict[str, list[Callable[[Any], None]]] = {}
        self._closed = False
        self._reconnecting = False

    # -- connecting --------------------------------------------------------------------------

    def connect(self) -> GameClient:
        """Connect to a broker brokerlist lists, drawn by spare capacity (`broker_order`)."""
        errors = []
        for address in broker_order(fetch_brokers(self.brokerlist_url, self.timeout)):
            try:
                self.connection = BrokerConnection(
                    address, on_push=self._on_push, on_close=self._on_close, on_error=self._on_error, tls=self._tls
                )
                self.connected.set()
                if self.token is None:
                    self.ready.set()
                return self
            except OSError as exc:
                errors.append(f"{address}: {exc}")
        raise ConnectionLost(f"no broker reachable: {'; '.join(errors) or 'brokerlist lists none'}")

    def _on_close(self, connection: BrokerConnection) -> None:
        if connection is not self.connection:
            return
        self.connected.clear()
        self.ready.clear()
        self._start_reconnect()

    def _start_reconnect(self) -> None:
        if self.reconnect and not self._closed and self.token is not None and not self._reconnecting:
            self._reconnecting = True
            self.ready.clear()  # until the session is resumed on the next broker
            gevent.spawn(self._reconnect)

    def _reconnect(self) -> None:
        delay = 0.05
        try:
            while not self._closed and self.token is not None:
                try:
                    self.connect()
                    self._send("broker.resume", {"token": self.token}, self.connection)
                    self.resumes += 1
                    self.ready.set()
                    _log.info("session resumed", broker=self.connection.address if self.connection else "")
                    return
                except BrokerError as exc:
                    if exc.code == ClientError.UNAUTHENTICATED:
                        # The session is over (logged out elsewhere, expired): log in again.
                        _log.info("session not resumed", error=exc.message)
                        self.token = None
                        return
                    _log.info("resume failed, retrying", code=exc.code, error=exc.message)
                except (OSError, ConnectionLost, BrokerRejected) as exc:
                    _log.info("reconnect failed, retrying", error=str(exc))
                gevent.sleep(delay)
                delay = min(delay * 2, 2.0)
        finally:
            self._reconnecting = False

    def close(self) -> None:
        self._closed = True
        if self.connection is not None:
            self.connection.close()

    # -- calling -----------------------------------------------------------------------------

    def _usable(self) -> BrokerConnection | None:
        connection = self.connection
        if connection is None or connection.closed or connection.leaving or not self.ready.is_set():
            return None
        return connection

    def _wait_usable(self, deadline: float) -> BrokerConnection:
        while True:
            connection = self._usable()
            if connection is not None:
                return connection
            if self._closed:
                raise ConnectionLost("the client is closed")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ConnectionLost("not connected to a broker")
            if self.token is None and not self._reconnecting:
                # Not logged in: nothing to resume, a fresh connection will do.
                try:
                    self.connect()
                    continue
                except (OSError, ConnectionLost) as exc:
                    _log.info("connect failed, retrying", error=str(exc))
                    gevent.sleep(min(0.2, remaining))
                    continue
            self.ready.wait(min(remaining, 0.5))

    def _send(self, type_: str, arguments: dict[str, Any], connection: BrokerConnection | None) -> Any:
        """One attempt on `connection`: the result, a declared exception, or BrokerRejected."""
        if connection is None:
            raise NotSent("not connected to a broker")
        service, _, name = type_.partition(".")
        method = load_idl(service).method(name)
        body = encode(method.args_cls(**arguments), method.args_spec)
        packet = connection.request(type_, body, timeout=self.timeout)
        if packet.kind == PacketKind.ERROR:
            raise BrokerRejected(packet.error_code or 0, packet.error_message or "", packet.trace_id, type_)
        result = decode(packet.body or b"", method.result_spec)  # type: ignore[arg-type]
        for field, _cls in method.exceptions:
            exc = getattr(result, field)
            if exc is not None:
                raise exc
        return getattr(result, "success", None)

    def resendable(self, type_: str) -> bool:
        """May `type_` be sent again when it was in flight on a lost connection?"""
        service, _, name = type_.partition(".")
        return type_ in _RESENDABLE or load_idl(service).method(name).idempotent

    def call(self, type_: str, **arguments: Any) -> Any:
        """Call "service.method" with the IDL's arguments; return its result or raise its
        declared exception, BrokerRejected or ConnectionLost."""
        if self.ended is not None and type_ not in _LOGINS:
            raise self.ended
        deadline = time.monotonic() + self.timeout
        backoff = 0.02
        while True:
            connection = self._wait_usable(deadline)
            try:
                return self._send(type_, arguments, connection)
            except NotSent:
                pass  # it never ran: send it again once connected
            except ConnectionLost:
                if not self.resendable(type_):
                    raise
            except BrokerRejected as exc:
                if exc.code != ClientError.BROKER_UNAVAILABLE:
                    raise
                # The broker turned it away unread (it is shutting down, or full): never ran.
                connection.leaving = True
                self._start_reconnect()
            if time.monotonic() >= deadline:
                raise ConnectionLost(f"{type_}: no broker to send it to within {self.timeout}s")
            self.resent += 1
            _log.info("sending again after losing the broker", type=type_)
            gevent.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    def _logged_in(self, login: Any) -> Any:
        self.token = login.token
        self.account = login.account
        self.ended = None
        return login

    def login(self, user: str, passwd: str) -> Any:
        return self._logged_in(self.call("sso.login", user=user, passwd=passwd))

    def register(self, user: str, passwd: str, device_id: str | None = None) -> Any:
        """sso.create_account (the SDK's name for it stays `register`)."""
        return self._logged_in(self.call("sso.create_account", user=user, passwd=passwd, device_id=device_id or ""))

    def guest_login(self, device_id: str) -> Any:
        return self._logged_in(self.call("sso.guest_login", device_id=device_id))

    def logout(self) -> None:
        if self.token is not None:
            self.call("sso.logout", token=self.token)
            self.token = None

    def change_password(self, old: str, new: str) -> Any:
        """A new password for this account; the session goes on under the new token returned."""
        return self._logged_in(self.call("sso.change_password", old_passwd=old, new_passwd=new))

    # -- pushes ------------------------------------------------------------------------------

    def on(self, type_: str, handler: Callable[[Any], None]) -> None:
        """Call `handler(event)` for every push of `type_` ("service.StructName")."""
        self._handlers.setdefault(type_, []).append(handler)

    def _on_error(self, connection: BrokerConnection, packet: Packet) -> None:
        if packet.error_code in _ENDED:
            # Said on an older connection this client left for another (its own resume there
            # ended the session here): nothing to do with the current one.
            if connection is self.connection:
                self._session_ended(SessionEnded(packet.error_code or 0, packet.error_message or ""))
            return
        self._on_push(packet)

    def _session_ended(self, ended: SessionEnded) -> None:
        _log.info("session ended", code=ended.code, error=ended.message)
        self.ended = ended
        self.token = None  # its token no longer resumes: no reconnect
        for handler in self._handlers.get("broker.SessionEnded", ()):
            gevent.spawn(handler, ended)

    def _on_push(self, packet: Packet) -> None:
        if packet.kind == PacketKind.ERROR:
            _log.info("broker says", code=packet.error_code, message=packet.error_message)
            if self.connection is not None and self.connection.leaving:
                # Going away (shutting down, idle cut-off): new calls wait for the next broker.
                self._start_reconnect()
            return
        cls = _push_struct(packet.type)
        event = decode(packet.body or b"", spec_of(cls)) if cls is not None else packet.body
        for handler in [*self._handlers.get(packet.type, ()), *self._handlers.get("*", ())]:
            gevent.spawn(handler, event)
