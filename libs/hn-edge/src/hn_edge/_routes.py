"""Which messages game clients may send, as each service declares them.

A service's IDL declares `const map<string, string> CLIENT_ROUTES = {method: kind}`; the runtime
publishes the table with the instance's registration in discovery, and brokers learn routes from
there at run time (`routes_of`), never from a list or an IDL of their own. Kinds:

    "login"          open before login; a successful reply opens the session (the handler calls
                     `session.open_session(account_id, display_name)`, which the reply's
                     envelope carries)
    "resume"         the service that checks a resume token: a broker's own `broker.resume`
                     passes the token to it; a successful reply opens the session as a login does,
                     an UNAUTHENTICATED error refuses it. Not a message clients send themselves.
    "logout"         needs a session; a reply whose handler called `session.end_session()` closes it
    "session"        needs a session; routed to any live instance (load balanced)
    "bound:<family>" needs a session; routed to the one instance the session is bound to for
                     <family> (e.g. a duel room), draining or not, SESSION_LOST when it is gone
                     (marked down, or absent from discovery)

A stateful service drains without losing its state: it refuses new state (DRAINING: callers
retry elsewhere), releases its leases at once, keeps serving its bound families
(`Service.drain_exempt`) until the state it holds has ended, within a drain window at least the
state's longest life (`Service.drain_window`), then exits.

Message types are "<service>.<method>".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hn_runtime.discovery import ClientRoute, declared_client_routes

__all__ = ["Route", "load_routes", "routes_of", "parse_kind", "LOGIN", "RESUME", "LOGOUT", "SESSION", "BOUND"]

LOGIN = "login"
RESUME = "resume"
LOGOUT = "logout"
SESSION = "session"
BOUND = "bound"
_OPEN = (LOGIN, RESUME)


@dataclass(frozen=True)
class Route:
    type: str
    service: str
    method: str
    kind: str
    #: for "bound:<family>" routes
    family: str = ""
    #: may be sent again to another instance after a connection was lost with it in flight
    idempotent: bool = False

    @property
    def name(self) -> str:
        """The method's name (a route is what a raw call needs to know of its method)."""
        return self.method

    @property
    def open(self) -> bool:
        """May be sent before login."""
        return self.kind in _OPEN


def parse_kind(kind: str) -> tuple[str, str]:
    name, _, family = kind.partition(":")
    if name == BOUND and family:
        return BOUND, family
    if name in (LOGIN, RESUME, LOGOUT, SESSION) and not family:
        return name, ""
    raise ValueError(f"unknown client route kind {kind!r}")


def routes_of(service: str, client_routes: Iterable[ClientRoute]) -> dict[str, Route]:
    """The routes of `service` from what its instances published; ValueError on an unknown kind."""
    routes: dict[str, Route] = {}
    for published in client_routes:
        name, family = parse_kind(published.kind)
        route = Route(f"{service}.{published.method}", service, published.method, name, family, published.idempotent)
        routes[route.type] = route
    return routes


def load_routes(services: Iterable[str]) -> dict[str, Route]:
    """The client routes the IDLs of `services` declare (package hn_idl.<service>): a broker's
    own, and tests'."""
    routes: dict[str, Route] = {}
    for service in services:
        routes.update(routes_of(service, declared_client_routes(service)))
    return routes
