"""Pub-sub's receiving side: one service's events on one topic prefix, from all its instances."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import zmq

from hn_codec import DecodeError, ServiceIdl, decode, spec_of
from hn_runtime._curve import CurveKeys, configure_client_socket
from hn_runtime._directory import Directory, Instance
from hn_runtime._logging import get_logger
from hn_runtime._metrics import EVENTS_RECEIVED
from hn_runtime._pump import Pump
from hn_runtime._wire import EVENT, decode_envelope
from hn_runtime._workers import Workers

__all__ = ["Subscription"]

_log = get_logger("hn.client")


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
            self._received.inc(self.service, "malformed")
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
            self._received.inc(self.service, "malformed")
            _log.warning("malformed event", service=self.service, error=str(exc))
            return
        self._workers.spawn(self._deliver, topic, event)

    def _deliver(self, topic: str, event: Any) -> None:
        try:
            self._handler(topic, event)
            self._received.inc(self.service, "ok")
        except BaseException as exc:  # noqa: BLE001 - must not escape into the hub
            self._received.inc(self.service, "handler_error")
            _log.error("event handler failed", service=self.service, topic=topic, exc_info=exc)

    def close(self) -> None:
        self._unwatch()
        self._pump.close()
        if self._curve_pump is not None:
            self._curve_pump.close()
