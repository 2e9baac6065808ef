"""The game client: find a broker through brokerlist, log in, call services, get pushes, resume."""

from __future__ import annotations

import importlib
import json
import urllib.request
from collections.abc import Callable
from typing import Any

import gevent
from gevent.event import Event

from hn_client._connection import BrokerConnection, ConnectionLost
from hn_idl.client.ttypes import ClientError, Packet, PacketKind
from hn_runtime import get_logger
from hn_runtime.wire import decode, encode, load_idl, spec_of

__all__ = ["GameClient", "BrokerRejected", "ConnectionLost", "fetch_brokers"]

_log = get_logger("hn.client_sdk")


class BrokerRejected(Exception):
    """The broker answered a request with an error packet (code: hn_idl.client.ttypes.ClientError)."""

    def __init__(self, code: int, message: str, trace_id: str | None, type_: str) -> None:
        super().__init__(f"{type_}: {ClientError._VALUES_TO_NAMES.get(code, code)}: {message} (trace {trace_id})")
        self.code = code
        self.message = message
        self.trace_id = trace_id
        self.type = type_


def fetch_brokers(brokerlist_url: str, timeout: float = 5.0) -> list[tuple[str, float]]:
    """The brokers brokerlist publishes, least loaded first."""
    with urllib.request.urlopen(brokerlist_url, timeout=timeout) as response:
        document = json.load(response)
    return sorted(document["brokerList"].items(), key=lambda item: (item[1], item[0]))


def _push_struct(type_: str) -> type | None:
    """The struct a push of `type_` ("service.StructName") carries."""
    service, _, name = type_.partition(".")
    module = "hn_idl.client.ttypes" if service == "broker" else f"hn_idl.{service}.ttypes"
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


class GameClient:
    """A player's connection to the platform.

        client = GameClient("http://brokerlist:8080/")
        client.login("harry", "my_dirty_secret")
        client.on("match.MatchFound", lambda event: ...)
        client.call("match.enqueue", mode="ranked")

    After losing its broker, a logged-in client reconnects through brokerlist (to any broker)
    and resumes its session with its token; pushes sent meanwhile are delivered then.
    """

    def __init__(self, brokerlist_url: str, *, timeout: float = 10.0, reconnect: bool = True) -> None:
        self.brokerlist_url = brokerlist_url
        self.timeout = timeout
        self.reconnect = reconnect
        self.token: str | None = None
        self.account: Any = None
        self.connection: BrokerConnection | None = None
        self.resumes = 0
        self.connected = Event()
        self._handlers: dict[str, list[Callable[[Any], None]]] = {}
        self._closed = False

    # -- connecting --------------------------------------------------------------------------

    def connect(self) -> GameClient:
        errors = []
        for address, _load in fetch_brokers(self.brokerlist_url, self.timeout):
            try:
                self.connection = BrokerConnection(address, on_push=self._on_push, on_close=self._on_close)
                self.connected.set()
                return self
            except OSError as exc:
                errors.append(f"{address}: {exc}")
        raise ConnectionLost(f"no broker reachable: {'; '.join(errors) or 'brokerlist lists none'}")

    def _on_close(self, connection: BrokerConnection) -> None:
        if connection is not self.connection:
            return
        self.connected.clear()
        if self.reconnect and not self._closed and self.token is not None:
            gevent.spawn(self._reconnect)

    def _reconnect(self) -> None:
        delay = 0.05
        while not self._closed:
            try:
                self.connect()
                self.call("broker.resume", token=self.token)
                self.resumes += 1
                _log.info("session resumed", broker=self.connection.address if self.connection else "")
                return
            except (OSError, ConnectionLost, BrokerRejected) as exc:
                _log.info("reconnect failed, retrying", error=str(exc))
                gevent.sleep(delay)
                delay = min(delay * 2, 2.0)

    def close(self) -> None:
        self._closed = True
        if self.connection is not None:
            self.connection.close()

    # -- calling -----------------------------------------------------------------------------

    def call(self, type_: str, **arguments: Any) -> Any:
        """Call "service.method" with the IDL's arguments; return its result or raise its
        declared exception, BrokerRejected or ConnectionLost."""
        if self.connection is None or self.connection.closed:
            if not self.connected.wait(self.timeout) or self.connection is None:
                raise ConnectionLost("not connected to a broker")
        service, _, name = type_.partition(".")
        method = load_idl(service).methods[name]
        body = encode(method.args_cls(**arguments), method.args_spec)
        packet = self.connection.request(type_, body, timeout=self.timeout)
        if packet.kind == PacketKind.ERROR:
            raise BrokerRejected(packet.error_code or 0, packet.error_message or "", packet.trace_id, type_)
        result = decode(packet.body or b"", method.result_spec)  # type: ignore[arg-type]
        for field, _cls in method.exceptions:
            exc = getattr(result, field)
            if exc is not None:
                raise exc
        return getattr(result, "success", None)

    def _logged_in(self, login: Any) -> Any:
        self.token = login.token
        self.account = login.account
        return login

    def login(self, user: str, passwd: str) -> Any:
        return self._logged_in(self.call("sso.login", user=user, passwd=passwd))

    def register(self, user: str, passwd: str, device_id: str | None = None) -> Any:
        return self._logged_in(self.call("sso.register", user=user, passwd=passwd, device_id=device_id))

    def guest_login(self, device_id: str) -> Any:
        return self._logged_in(self.call("sso.guest_login", device_id=device_id))

    def logout(self) -> None:
        if self.token is not None:
            self.call("sso.logout", token=self.token)
            self.token = None

    # -- pushes ------------------------------------------------------------------------------

    def on(self, type_: str, handler: Callable[[Any], None]) -> None:
        """Call `handler(event)` for every push of `type_` ("service.StructName")."""
        self._handlers.setdefault(type_, []).append(handler)

    def _on_push(self, packet: Packet) -> None:
        if packet.kind == PacketKind.ERROR:
            _log.info("broker says", code=packet.error_code, message=packet.error_message)
            return
        cls = _push_struct(packet.type)
        event = decode(packet.body or b"", spec_of(cls)) if cls is not None else packet.body
        for handler in [*self._handlers.get(packet.type, ()), *self._handlers.get("*", ())]:
            gevent.spawn(handler, event)
