"""What services do with game clients' sessions: push them events, bind them to an instance."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hn_edge._state import DECIDED, Binding, SessionState
from hn_idl.client.constants import PACKET_VERSION
from hn_idl.client.ttypes import ClientError, Packet, PacketKind
from hn_runtime import HNError, current_session, get_logger, get_service
from hn_runtime.discovery import Directory
from hn_runtime.wire import encode, load_idl, spec_of

__all__ = ["Edge"]

_log = get_logger("hn.edge")
_PACKET = spec_of(Packet)


class Edge:
    """A service's handle on the edge.

        edge = Edge(redis, instance_id=server.instance)
        edge.push(session_id, "match.MatchFound", MatchFound(...))   # to the player's client
        edge.bind(session_id, "duel", fate=match_id)                    # duel_* now come here
        if edge.settle(match_id): ...record the result...                # unless an edge gave it up
        edge.end_session(session_id, "logged out")                      # its connection closed

    A push reaches the broker holding the session at once; if the client is away (between a
    disconnect and its resume) it waits in the session's mailbox for `mailbox_ttl_s` seconds.
    Brokers are found through `directory` (default: the process's, once there is one).
    """

    def __init__(
        self,
        redis: Any,
        *,
        instance_id: str,
        state: SessionState | None = None,
        directory: Directory | None = None,
    ) -> None:
        self.state = state or SessionState(redis)
        self.instance_id = instance_id
        self._directory = directory
        self._pusher: Any = None
        try:
            # Made now, so that its connections are up by the first push.
            self._pusher = get_service("broker", "PUSH", directory=directory)
        except LookupError:
            pass  # no directory yet (a process without discovery): made on first use
        methods = load_idl("broker").methods
        self._deliver = methods["deliver"]
        self._bound = methods["bound"]
        self._end = methods["end_session"]

    @property
    def _broker(self) -> Any:
        if self._pusher is None:
            self._pusher = get_service("broker", "PUSH", directory=self._directory)
        return self._pusher

    def push(self, session_id: str, kind: str, event: Any, *, broker: str | None = None, located: bool = False) -> None:
        """Send `event` (a struct of the caller's IDL) to the session's client as a `kind` push.

        `located`: `broker` is where the session was found a moment ago (`locate`, `bind_all`,
        `unbind_all`; None: nowhere), so no lookup is made.
        """
        session = current_session()
        packet = encode(
            Packet(
                version=PACKET_VERSION,
                kind=PacketKind.PUSH,
                type=kind,
                seq=0,
                trace_id=session.trace_id if session is not None else None,
                body=encode(event, spec_of(event.__class__)),
            ),
            _PACKET,
        )
        if not located:
            broker = self.state.broker_of(session_id)
        if broker is not None:
            body = encode(self._deliver.args_cls(session_id=session_id, packet=packet), self._deliver.args_spec)
            try:
                self._broker.push_raw(self._deliver, body, instance_id=broker)
                return
            except (HNError, LookupError) as exc:
                _log.info("session's broker unreachable, keeping the push", session_id=session_id, error=str(exc))
        self.state.stash(session_id, packet)

    def bind(self, session_id: str, family: str, *, fate: str = "") -> None:
        """Route this session's `family` messages to this instance, on every broker.

        `fate` names the bound state (one duel: the same for both its players) when its end must
        be settled with the edge, see `settle`.
        """
        self.state.bind(session_id, family, Binding(self.instance_id, fate))
        self._tell_broker(session_id, family, self.instance_id, fate)

    def unbind(self, session_id: str, family: str) -> None:
        self.state.unbind(session_id, family, self.instance_id)
        self._tell_broker(session_id, family, "", "")

    def locate(self, session_ids: Sequence[str]) -> list[str | None]:
        """The broker holding each session (None: none), in one round trip: for `push(located=True)`."""
        return self.state.brokers_of(list(session_ids))

    def bind_all(
        self, session_ids: Sequence[str], family: str, *, fate: str = "", also: Callable[[Any], None] | None = None
    ) -> list[str | None]:
        """`bind` for several sessions in one Redis round trip, with `also(pipeline)`'s commands
        (the caller's own writes; their replies are not read). Each session's broker, as `locate`."""
        pipe = self.state.redis.pipeline(transaction=False)
        if also is not None:
            also(pipe)
        for session_id in session_ids:
            self.state.queue_bind(pipe, session_id, family, Binding(self.instance_id, fate))
        brokers = self._brokers_after(pipe, session_ids)
        for session_id, broker in zip(session_ids, brokers, strict=True):
            self._tell(broker, session_id, family, self.instance_id, fate)
        return brokers

    def unbind_all(
        self, session_ids: Sequence[str], family: str, *, also: Callable[[Any], None] | None = None
    ) -> list[str | None]:
        """`unbind` for several sessions in one Redis round trip, with `also(pipeline)`'s commands.
        Each session's broker, as `locate`."""
        pipe = self.state.redis.pipeline(transaction=False)
        if also is not None:
            also(pipe)
        for session_id in session_ids:
            self.state.queue_unbind(pipe, session_id, family, self.instance_id)
        brokers = self._brokers_after(pipe, session_ids)
        for session_id, broker in zip(session_ids, brokers, strict=True):
            self._tell(broker, session_id, family, "", "")
        return brokers

    def _brokers_after(self, pipe: Any, session_ids: Sequence[str]) -> list[str | None]:
        """Queue the sessions' broker lookups last on `pipe` (one MGET), run it: their answers."""
        if not session_ids:
            pipe.execute()
            return []
        self.state.queue_brokers_of(pipe, list(session_ids))
        return self.state.brokers_from(pipe.execute()[-1])

    def settle(self, fate: str) -> bool:
        """Claim the end of the bound state `fate` before making it count (recording a result).

        False when a broker gave the state up first: this instance looked dead to it (stopped,
        cut off) and its clients were told SessionLost, so nothing may be recorded now. True
        when the end is this instance's to announce; a broker losing the instance afterwards
        then tells its client nothing, the outcome follows.
        """
        return self.state.settle(fate, DECIDED) == DECIDED

    def end_session(
        self,
        session_id: str,
        reason: str,
        *,
        code: int = ClientError.SESSION_ENDED,
        spare_peer: str = "",
        broker: str | None = None,
        unless_holder: bool = False,
        hops: int = 0,
    ) -> bool:
        """End the session's live connection, on whichever broker holds it (`broker`: that one):
        its client is told `code` (SESSION_ENDED, LOGGED_IN_ELSEWHERE) and `reason`, and closed.

        `spare_peer` ("ip:port") names the connection whose own request ended the session (its
        reply still has to reach it): left open. `unless_holder` and `hops` are for brokers
        telling each other (see the broker IDL's `end_session`). False when no broker holds the
        session or its broker could not be reached: nothing was told.
        """
        target = broker if broker is not None else self.state.broker_of(session_id)
        if target is None:
            return False
        body = encode(
            self._end.args_cls(
                session_id=session_id,
                code=code,
                reason=reason,
                spare_peer=spare_peer,
                unless_holder=unless_holder,
                hops=hops,
            ),
            self._end.args_spec,
        )
        try:
            self._broker.push_raw(self._end, body, instance_id=target)
        except (HNError, LookupError) as exc:
            _log.info("session's broker unreachable to end it", session_id=session_id, error=str(exc))
            return False
        return True

    def _tell_broker(self, session_id: str, family: str, instance_id: str, fate: str) -> None:
        self._tell(self.state.broker_of(session_id), session_id, family, instance_id, fate)

    def _tell(self, broker: str | None, session_id: str, family: str, instance_id: str, fate: str) -> None:
        # The broker holding the session caches its bindings, to route without a lookup and to
        # tell the client at once when the bound instance dies.
        if broker is None:
            return
        body = encode(
            self._bound.args_cls(session_id=session_id, family=family, instance_id=instance_id, fate=fate),
            self._bound.args_spec,
        )
        try:
            self._broker.push_raw(self._bound, body, instance_id=broker)
        except (HNError, LookupError) as exc:
            _log.info("session's broker unreachable for a binding", session_id=session_id, error=str(exc))
