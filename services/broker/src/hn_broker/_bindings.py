"""Bound state whose instance died: give it up once, settle its fate, tell the client.

A session bound to an instance for a message family (a duel room) loses that state when the
instance is gone from discovery or stops answering. Before telling the client `SessionLost`, the
broker settles the state's fate (`SessionState.settle`): if the instance settled it first, it is
recording an outcome and the client hears of it when that arrives, so the broker says nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import gevent
from prometheus_client import Counter

from hn_broker._connection import ClientConnection
from hn_broker._packets import frame
from hn_edge import BOUND, DECIDED, LOST, Binding, Route, SessionState
from hn_idl.client.constants import PACKET_VERSION
from hn_idl.client.ttypes import Packet, PacketKind, SessionLost
from hn_runtime import get_logger
from hn_runtime.discovery import Instance
from hn_runtime.wire import encode, spec_of

__all__ = ["BindingWatch"]

_log = get_logger("hn.broker")
LOST_BINDINGS = Counter(
    "hn_broker_bindings_lost_total", "Session bindings given up with their instance, by outcome.", ["outcome"]
)
_SESSION_LOST = spec_of(SessionLost)
#: tries at settling a lost binding: 6.2 s of waits in all, longer than a Sentinel failover
#: takes here (2-3 s), so only a longer Redis outage leaves a player told without settling
_SETTLE_ATTEMPTS = 6


class BindingWatch:
    """Follows the instances of the services that hold bound state (`instances_changed`, fed
    from discovery) and gives up the bindings of dead instances.

    `routes()` is the broker's client routes now; `sessions` its own table (session id ->
    connection), read, never written.
    """

    def __init__(
        self,
        state: SessionState,
        routes: Callable[[], Iterable[Route]],
        sessions: Mapping[str, ClientConnection],
    ) -> None:
        self._state = state
        self._routes = routes
        self._sessions = sessions
        #: service -> the instance ids discovery lists as live
        self._live: dict[str, set[str]] = {}

    def bound(self, session_id: str, family: str, instance_id: str, fate: str = "") -> None:
        """A service bound (or, with no instance, unbound) a session held here."""
        conn = self._sessions.get(session_id)
        if conn is None:
            return
        if instance_id:
            conn.bindings[family] = Binding(instance_id, fate)
        else:
            conn.bindings.pop(family, None)

    def check(self, conn: ClientConnection) -> None:
        """A session was opened here with bindings from before: give up those whose instance is gone."""
        gone = [(conn, f, b) for f, b in conn.bindings.items() if self._is_gone(f, b.instance_id)]
        if gone:
            gevent.spawn(self._lose_all, gone, "is gone")

    def lost(self, conn: ClientConnection, family: str, binding: Binding, why: str) -> bool:
        """The instance holding `conn`'s `family` state looks dead: give the state up, tell the
        client (SessionLost) and drop the binding. False if the instance settled the state's end
        before (it is recording an outcome, which the client hears of when it arrives)."""
        if conn.bindings.get(family) != binding:
            return True  # given up already (or bound anew)
        del conn.bindings[family]
        outcome = self._settle_lost(binding)
        LOST_BINDINGS.labels(outcome).inc()
        if outcome == DECIDED:
            _log.info(
                "bound instance lost after it settled the outcome",
                session_id=conn.session_id,
                family=family,
                instance=binding.instance_id,
                fate=binding.fate,
            )
            return False
        body = encode(SessionLost(family=family, reason=why), _SESSION_LOST)
        conn.send(frame(Packet(PACKET_VERSION, PacketKind.PUSH, "broker.SessionLost", 0, None, None, None, None, body)))
        sid = conn.session_id
        if sid is not None:
            gevent.spawn(self._unbind_quietly, sid, family, binding.instance_id)
        return True

    # -- inside -------------------------------------------------------------------------------

    def _is_gone(self, family: str, instance_id: str) -> bool:
        """The family's service has live instances and `instance_id` is not one of them. With no
        live instance known (this broker has not heard from discovery yet, or the whole service
        is down) nothing is given up here: a call to the instance finds out for sure."""
        views = [self._live.get(r.service, set()) for r in self._routes() if r.family == family]
        return any(views) and not any(instance_id in live for live in views)

    def instances_changed(self, service: str, instances: Sequence[Instance]) -> None:
        """Discovery's view of `service` now: bindings to instances no longer in it are lost."""
        live = {i.instance_id for i in instances if i.state != "down"}
        gone = self._live.get(service, set()) - live
        self._live[service] = live
        if not gone:
            return
        families = {r.family for r in self._routes() if r.service == service and r.kind == BOUND}
        lost = [
            (conn, family, binding)
            for conn in list(self._sessions.values())
            for family in families
            if (binding := conn.bindings.get(family)) is not None and binding.instance_id in gone
        ]
        if lost:
            # Settling each one is a Redis round trip: not in the discovery callback.
            gevent.spawn(self._lose_all, lost, "is gone")

    def _lose_all(self, lost: list[tuple[ClientConnection, str, Binding]], why: str) -> None:
        for conn, family, binding in lost:
            self.lost(conn, family, binding, f"{binding.instance_id} {why}")

    def _settle_lost(self, binding: Binding) -> str:
        """LOST, what the instance settled first, or "unsettled" (no fate, or Redis unreachable)."""
        if not binding.fate:
            return "unsettled"
        for attempt in range(_SETTLE_ATTEMPTS):
            try:
                return self._state.settle(binding.fate, LOST)
            except Exception as exc:  # noqa: BLE001 - a Redis failover: try again, then give up
                if attempt == _SETTLE_ATTEMPTS - 1:
                    # Told lost all the same: a player must not wait on a dead room. If the
                    # instance was only stopped and can record once it runs again, this is the
                    # one case where a client told SessionLost may see its duel count.
                    _log.warning("could not settle a lost binding", fate=binding.fate, error=str(exc))
                    return "unsettled"
                gevent.sleep(0.2 * 2**attempt)
        return "unsettled"

    def _unbind_quietly(self, sid: str, family: str, instance: str) -> None:
        try:
            self._state.unbind(sid, family, instance)
        except Exception as exc:  # noqa: BLE001 - the binding expires anyway
            _log.warning("could not drop a binding", session_id=sid, error=str(exc))
