"""The base class of every HighNoon service: handlers named `on_<method>` for its IDL's methods."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from types import ModuleType
from typing import Any, ClassVar

from hn_idl.runtime.ttypes import Health
from hn_runtime._context import Session
from hn_runtime._directory import ClientRoute, declared_client_routes
from hn_runtime._host import ServiceHost
from hn_runtime._logging import get_logger

__all__ = ["Service"]


class Service:
    """Subclass it, set `name` and `idl`, and write `on_<method>(self, session, request)`.

    `request` is the method's decoded `<method>_args` struct; the return value becomes the
    result, and raising an exception the IDL declares for the method sends that exception.
    Handlers run in greenlets from a bounded pool: block cooperatively (gevent), never on a
    C call that holds the loop (use `gevent.get_hub().threadpool` for those).
    """

    #: The name other services find it by, e.g. "sso".
    name: ClassVar[str]
    #: The generated Thrift service module, e.g. `hn_idl.sso.Sso`.
    idl: ClassVar[ModuleType]
    #: Reported in discovery and `health`: the package's `__version__` unless the class sets one.
    version: ClassVar[str] = "0.0.0"
    #: Methods still served while the instance drains (e.g. a broker's pushes to the clients it
    #: still holds); every other request is refused DRAINING and goes to another instance.
    drain_exempt: ClassVar[frozenset[str]] = frozenset()
    #: Methods only callers holding a grant of the CURVE authority may call: {method: grant}.
    #: Others are answered UNAUTHENTICATED. Applied when the server knows its callers (CURVE with
    #: an authority); with CURVE off every caller is trusted, as on a private test socket.
    required_grants: ClassVar[Mapping[str, str]] = {}
    #: Seconds an event `publish` makes may wait for the ones after it, to leave with them: zmq
    #: then hands a burst to each subscriber's connection and wakes its I/O thread once per
    #: burst rather than per event, and subscribers read bursts. 0: every event leaves at once.
    #: For a service publishing many events a second that no one needs within milliseconds.
    publish_delay: ClassVar[float] = 0.0

    #: The server running this instance, from just before `on_start` on.
    server: ServiceHost | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "version" not in cls.__dict__:
            # The version lives in one place, the package (`hn_sso.__version__`), checked
            # against its BUILD's by build-support/tests/test_versions.py.
            package = sys.modules.get(cls.__module__.partition(".")[0])
            version = getattr(package, "__version__", None)
            if isinstance(version, str):
                cls.version = version

    def __init__(self) -> None:
        self.log = get_logger(self.name)
        self.started_at = time.time()

    # -- lifecycle hooks ---------------------------------------------------------------------

    def on_start(self) -> None:
        """Called once the server's sockets are bound, before it serves."""

    def on_drain(self, timeout: float) -> None:
        """Called when the instance starts draining; may take up to `timeout` seconds to hand
        over work of its own (the runtime then waits for its handlers in what is left)."""

    def on_stop(self) -> None:
        """Called after the server drained, before its sockets close."""

    def drain_window(self, configured: float) -> float:
        """Seconds the instance drains for once told to stop: `configured` (HN_DRAIN_SECONDS),
        unless the state it holds needs longer to end (a duel room lasts its whole duel): a
        stateful service returns at least that, so no deploy cuts its state short."""
        return configured

    # -- runtime services to handlers ---------------------------------------------------------

    def publish(self, topic: str, event: Any) -> None:
        """Publish a Thrift struct declared in this service's IDL to subscribers of `topic`."""
        if self.server is None:
            raise RuntimeError(f"{self.name}: publish() before the server started")
        self.server.publish(topic, event)

    def endpoints(self) -> dict[str, str]:
        """Endpoints of its own to register besides the runtime's (a broker's "client" port)."""
        return {}

    def client_routes(self) -> tuple[ClientRoute, ...]:
        """What game clients may send to this service through brokers, published with its
        registration: the IDL's CLIENT_ROUTES, each idempotent as the IDL's IDEMPOTENT says."""
        return declared_client_routes(self.idl)

    def in_service(self) -> bool:
        """False while the instance holds itself out of service without stopping (a broker
        fenced off the platform): discovery lists it "draining", so no new work comes to it,
        while it goes on serving what is pinned to it. Read by the heartbeat thread: keep it a
        plain attribute read."""
        return True

    def http_app(self) -> Any:
        """A WSGI app this service serves on its own HTTP port (HN_HTTP_PORT), or None."""
        return None

    def load(self) -> float:
        """This instance's load for balancing and discovery: 0 idle, 1 full. Override to refine."""
        server = self.server
        return 0.0 if server is None else server.in_flight / server.pool_size

    # -- built-in methods ---------------------------------------------------------------------

    def on_health(self, session: Session, request: Any) -> Health:
        server = self.server
        assert server is not None
        return Health(
            service_name=self.name,
            instance=server.instance,
            version=self.version,
            state="draining" if server.draining else "up",
            in_flight=server.in_flight,
            pool_size=server.pool_size,
            load=self.load(),
            uptime_ms=int((time.time() - self.started_at) * 1000),
        )
