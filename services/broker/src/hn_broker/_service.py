"""The broker service: game clients on TCP and WebSocket (TLS optional), the logic layer on ZeroMQ,
and the two in between."""

from __future__ import annotations

from typing import Any

from hn_broker._broker import Broker
from hn_broker._config import BrokerConfig
from hn_datatier import redis_from_url
from hn_idl.broker import Broker as BrokerIdl  # pants: no-infer-dep (generated service module)
from hn_runtime import Service, Session
from hn_runtime.discovery import Directory
from hn_runtime.logs import TraceSampler

__all__ = ["BrokerService"]


class BrokerService(Service):
    name = "broker"
    idl = BrokerIdl
    # While it drains, a broker still holds clients: services' pushes must still reach them.
    drain_exempt = frozenset({"deliver", "bound", "end_session"})
    # Only services the CURVE authority lets push to players (hn_edge's callers) reach a client,
    # and only those it lets end players' sessions (sso, and brokers passing it on) close one.
    required_grants = {"deliver": "push", "bound": "push", "end_session": "kick"}

    def __init__(self, config: BrokerConfig | None = None, *, directory: Directory | None = None) -> None:
        super().__init__()
        self.config = config or BrokerConfig.from_env()
        if not self.config.redis_url:
            raise RuntimeError("the broker needs HN_REDIS_URL (Twemproxy): sessions and bindings live there")
        self._directory = directory
        self.broker: Broker | None = None

    def on_start(self) -> None:
        assert self.server is not None
        redis = redis_from_url(self.config.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.broker = Broker(
            self.config,
            instance_id=self.server.instance,
            redis=redis,
            directory=self._directory,
            tracing=TraceSampler(self.server.config.trace_sample),
        )
        self.broker.start()

    def on_drain(self, timeout: float) -> None:
        if self.broker is not None:
            self.broker.drain(timeout)

    def on_stop(self) -> None:
        if self.broker is not None:
            self.broker.stop()

    def endpoints(self) -> dict[str, str]:
        assert self.broker is not None
        host = self.config.public_host or self.config.bind_host
        # "client" is the address brokerlist's seed document lists (TCP, or TLS with a
        # certificate); each scheme's own kind ("tcp" or "tls", "ws" or "wss") goes to its richer one.
        endpoints = {"client": f"{host}:{self.broker.port}"}
        for name, listener in self.broker.listeners.items():
            endpoints[name] = listener.scheme.address(host, listener.port)
        return endpoints

    def load(self) -> float:
        return 0.0 if self.broker is None else self.broker.load()

    def in_service(self) -> bool:
        # Fenced off the platform (_fence.py): "draining" in yellow, so brokerlist leaves it out.
        return self.broker is None or not self.broker.fenced

    # -- from services (through hn_edge) -----------------------------------------------------

    def on_deliver(self, session: Session, request: Any) -> None:
        assert self.broker is not None
        self.broker.deliver(request.session_id, request.packet)

    def on_bound(self, session: Session, request: Any) -> None:
        assert self.broker is not None
        self.broker.bound(request.session_id, request.family, request.instance_id or "", request.fate or "")

    def on_end_session(self, session: Session, request: Any) -> None:
        assert self.broker is not None
        self.broker.end_session(
            request.session_id,
            request.code or 0,
            request.reason or "",
            spare_peer=request.spare_peer or "",
            unless_holder=bool(request.unless_holder),
            hops=request.hops or 0,
        )
