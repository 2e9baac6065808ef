"""Which messages game clients may send, as each service's IDL declares them.

A service's IDL declares `const map<string, string> CLIENT_ROUTES = {method: kind}`; the broker
reads these tables (never a list of its own). Kinds:

    "login"          open before login; the `<method>_result` success is a struct with `token`
                     and `account` (account_id, display_name) that opens the session
    "resume"         open before login; the broker's own reattach-by-token
    "logout"         needs a session; a successful reply closes it
    "session"        needs a session; routed to any live instance (load balanced)
    "bound:<family>" needs a session; routed to the one instance the session is bound to for
                     <family> (e.g. a duel room), SESSION_LOST when it is gone

Message types are "<service>.<method>".
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Route", "load_routes", "LOGIN", "RESUME", "LOGOUT", "SESSION", "BOUND"]

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


def load_routes(services: Iterable[str]) -> dict[str, Route]:
    """The client routes the IDLs of `services` declare (package hn_idl.<service>.constants)."""
    routes: dict[str, Route] = {}
    for service in services:
        constants = importlib.import_module(f"hn_idl.{service}.constants")
        for method, kind in sorted(getattr(constants, "CLIENT_ROUTES", {}).items()):
            name, family = parse_kind(kind)
            route = Route(f"{service}.{method}", service, method, name, family)
            routes[route.type] = route
    return routes
