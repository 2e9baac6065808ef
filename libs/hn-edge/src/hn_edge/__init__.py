"""hn-edge: the contract between services and the edge (brokers) about game clients.

- `routes_of` / `Route`: which "service.method" messages clients may send, from the
  `CLIENT_ROUTES` tables services publish in discovery (`load_routes`: from an IDL at hand).
- `Edge`: a service pushes events to a session, binds a session to itself (dynamic routing),
  and ends a session's connection wherever it is (`end_session`).
- `SessionState`, `Binding`: the shared Redis state brokers and services agree on; `DECIDED` and
  `LOST` are how a bound state ends when its instance looks dead (`SessionState.settle`).
"""

from hn_edge._edge import Edge
from hn_edge._routes import BOUND, LOGIN, LOGOUT, RESUME, SESSION, Route, load_routes, parse_kind, routes_of
from hn_edge._state import DECIDED, LOST, Binding, SessionState

__version__ = "0.1.0"
__all__ = [
    "BOUND",
    "DECIDED",
    "LOGIN",
    "LOGOUT",
    "LOST",
    "RESUME",
    "SESSION",
    "Binding",
    "Edge",
    "Route",
    "SessionState",
    "load_routes",
    "parse_kind",
    "routes_of",
]
