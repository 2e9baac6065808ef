"""The messages clients may send, learned at run time from what services publish in discovery.

Every instance publishes its service's client routes with its registration; the table is the
broker's own routes (`broker.resume`) plus, per service, those its instances publish. A service
whose instances all left keeps its routes, so its messages are answered UNAVAILABLE rather than
UNKNOWN_MESSAGE while it is down. Routes of kind "resume" are not messages clients send: they
name the service that checks the tokens of the broker's own `broker.resume`.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter

from hn_edge import RESUME, Route, load_routes, routes_of
from hn_runtime import get_logger
from hn_runtime.discovery import Instance
from hn_runtime.logs import LogThrottle

__all__ = ["RouteTable"]

_log = get_logger("hn.broker")
BAD_ROUTES = Counter(
    "hn_broker_bad_routes_total", "Client routes published in discovery and refused, by service.", ["service"]
)


class RouteTable:
    """`get(type)`: the route of a client message type; `resumer()`: the route `broker.resume`
    passes tokens to."""

    def __init__(self, own_service: str = "broker") -> None:
        self._own_service = own_service
        self._own = load_routes((own_service,))
        #: service -> the routes its instances publish
        self._published: dict[str, dict[str, Route]] = {}
        self._routes: dict[str, Route] = dict(self._own)
        self._resumers: list[Route] = []
        self._throttle = LogThrottle()

    def get(self, type_: str) -> Route | None:
        return self._routes.get(type_)

    def values(self) -> Sequence[Route]:
        return list(self._routes.values())

    def types(self) -> list[str]:
        return sorted(self._routes)

    def resumer(self) -> Route | None:
        """The service route that checks resume tokens (the first by name, if several claim it)."""
        return self._resumers[0] if self._resumers else None

    def update(self, service: str, instances: Sequence[Instance]) -> bool:
        """Learn `service`'s routes from its instances now; True if the table changed."""
        if service == self._own_service or not instances:
            return False
        published: dict[str, Route] = {}
        for instance in instances:
            try:
                published.update(routes_of(service, instance.client_routes))
            except ValueError as exc:
                # A newer (or broken) service: its other instances' routes still count.
                BAD_ROUTES.labels(service).inc()
                suppressed = self._throttle.allow(service)
                if suppressed is not None:
                    _log.warning(
                        "refused published client routes",
                        service=service,
                        instance=instance.instance_id,
                        error=str(exc),
                        suppressed=suppressed,
                    )
        if published == self._published.get(service, {}):
            return False
        self._published[service] = published
        self._rebuild()
        return True

    def _rebuild(self) -> None:
        routes: dict[str, Route] = {}
        resumers: list[Route] = []
        for service in sorted(self._published):
            for route in self._published[service].values():
                if route.kind == RESUME:
                    resumers.append(route)
                else:
                    routes[route.type] = route
        routes.update(self._own)
        self._routes = routes
        self._resumers = resumers
        _log.info("client routes", routes=sorted(routes), resume_with=[r.type for r in resumers])
