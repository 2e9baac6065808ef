"""High Noon, played by a client: queue, get matched, ready, wait for the signal, shoot.

    duelist = Duelist(client)            # after login
    outcome = duelist.duel()             # one whole duel: queue .. result (or abort)
    outcome.won, outcome.result.verdict

The reaction time sent with a shot is measured here, from the signal's arrival to the trigger,
as a real game client does; the server judges it against its own clock.

A player away longer than the broker keeps pushes for it (its mailbox) misses the pushes sent
meanwhile. Back (resumed), a duelist whose duel ended meanwhile asks for its result
(`match.last_result`) rather than report the duel lost.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.queue

from hn_client._client import BrokerRejected, GameClient
from hn_client._connection import ConnectionLost
from hn_idl.client.ttypes import ClientError
from hn_idl.match.ttypes import MatchError, MatchErrorCode, MatchFound, QueueState

__all__ = ["Duelist", "DuelOutcome", "DuelTimeout"]

_EVENTS = ("match.MatchFound", "match.DuelSignal", "match.DuelResult", "match.MatchAborted", "broker.SessionLost")


#: seconds of silence after a resume before asking the server where the duel stands
_RECONCILE_AFTER_S = 3.0
_LOST = "lost"


class DuelTimeout(Exception):
    """The expected push did not come in time."""


class _Stopped(Exception):
    pass


@dataclass
class DuelOutcome:
    match_id: str
    #: the DuelResult push, when the duel was played to the end
    result: Any = None
    #: why the duel was called off (MatchAborted, or the room's instance lost: SessionLost)
    aborted: str | None = None
    #: seconds from enqueue to MatchFound
    waited_s: float = 0.0
    won: bool = False


def _human_reaction() -> float:
    return random.uniform(0.18, 0.35)


class Duelist:
    def __init__(self, client: GameClient) -> None:
        self.client = client
        self.events: gevent.queue.Queue[tuple[str, Any]] = gevent.queue.Queue()
        for kind in _EVENTS:
            client.on(kind, self._collector(kind))

    def _collector(self, kind: str) -> Callable[[Any], None]:
        def collect(event: Any) -> None:
            self.events.put((kind, event))

        return collect

    def _next(
        self,
        wanted: tuple[str, ...],
        match_id: str | None,
        deadline: float,
        stop: Callable[[], bool] | None = None,
    ) -> tuple[str, Any]:
        resumes = self.client.resumes
        quiet_since = time.monotonic()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DuelTimeout(f"no {' or '.join(wanted)} in time")
            if stop is not None and stop():
                raise _Stopped
            if self.client.resumes != resumes and time.monotonic() - quiet_since >= _RECONCILE_AFTER_S:
                # The session moved to another broker meanwhile: a push may have been lost on
                # the way (the old broker's last moments). Ask where the player stands.
                resumes = self.client.resumes
                lost = self._reconcile(wanted, match_id)
                if lost is not None:
                    return lost
            try:
                kind, event = self.events.get(timeout=min(remaining, 0.5))
            except gevent.queue.Empty:
                continue
            quiet_since = time.monotonic()
            if kind == "broker.SessionLost" and getattr(event, "family", "") != "duel":
                continue
            event_match = getattr(event, "match_id", None)
            if match_id is not None and event_match is not None and event_match != match_id:
                continue  # a late push of an earlier duel
            if kind in wanted:
                return kind, event

    def _reconcile(self, wanted: tuple[str, ...], match_id: str | None) -> tuple[str, Any] | None:
        """What the server says of the duel (or queue) being waited on; None: keep waiting."""
        status = self.client.call("match.status")
        if match_id is None:  # waiting in the queue for a MatchFound
            if status.state == QueueState.IN_DUEL and status.match_id:
                return "match.MatchFound", MatchFound(match_id=status.match_id)
            if status.state == QueueState.QUEUED:
                return None
            return _LOST, "left the queue while reconnecting"
        if status.state == QueueState.IN_DUEL and status.match_id == match_id:
            return None
        # Over while this player was away: its result, if it was played to the end, is stored.
        result = self.client.call("match.last_result")
        if result.match_id == match_id:
            return "match.DuelResult", result
        return _LOST, "the duel ended while reconnecting (its last push was lost)"

    def _shoot(self, call: Callable[..., Any], match_id: str, reaction_ms: int) -> None:
        try:
            self._in_time(call, "match.duel_shoot", match_id=match_id, reaction_ms=reaction_ms)
        except ConnectionLost:
            # In flight when the broker went away: it may have landed. Shoot again once resumed;
            # refused as a second shot (or the duel already over), the first one counted.
            try:
                self._in_time(call, "match.duel_shoot", match_id=match_id, reaction_ms=reaction_ms)
            except MatchError:
                pass

    def duel(
        self,
        *,
        mode: str | None = None,
        reaction: Callable[[], float] = _human_reaction,
        timeout: float = 60.0,
        timed: Callable[[str, Callable[[], Any]], Any] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> DuelOutcome | None:
        """Queue and play one duel; `timed(type, call)` wraps each call (for latency figures).

        While still waiting for an opponent, `stop()` turning true leaves the queue and returns
        None; a duel once found is played to its end.
        """

        def call(type_: str, **args: Any) -> Any:
            if timed is None:
                return self.client.call(type_, **args)
            return timed(type_, lambda: self.client.call(type_, **args))

        while not self.events.empty():
            self.events.get_nowait()  # pushes of an earlier duel that ended in an error
        deadline = time.monotonic() + timeout
        queued_at = time.monotonic()
        call("match.enqueue", mode=mode)
        try:
            kind, found = self._next(("match.MatchFound",), None, deadline, stop)
        except _Stopped:
            call("match.cancel")
            return None
        if kind == _LOST:
            return DuelOutcome(match_id="", aborted=found, waited_s=time.monotonic() - queued_at)
        outcome = DuelOutcome(match_id=found.match_id, waited_s=time.monotonic() - queued_at)
        ends = ("match.DuelResult", "match.MatchAborted", "broker.SessionLost")
        if self._in_time(call, "match.duel_ready", match_id=found.match_id):
            kind, event = self._next(("match.DuelSignal", *ends), found.match_id, deadline)
        else:
            kind, event = self._next(ends, found.match_id, deadline)
        if kind == "match.DuelSignal":
            signalled = time.monotonic()
            gevent.sleep(reaction())  # the player's hand, not a wait for the system
            self._shoot(call, found.match_id, int((time.monotonic() - signalled) * 1000))
            kind, event = self._next(ends, found.match_id, deadline)
        if kind == "match.DuelResult":
            outcome.result = event
            outcome.won = event.winner_id == self.client.account.account_id
        elif kind == _LOST:
            outcome.aborted = event
        else:
            outcome.aborted = getattr(event, "reason", kind)
        return outcome

    @staticmethod
    def _in_time(call: Callable[..., Any], type_: str, **args: Any) -> bool:
        """Make a duel call; False if the duel was already over when it arrived (the server
        decided without it: a shot after the window, a ready after the timeout). Its end, a
        result or an abort, is pushed all the same."""
        try:
            call(type_, **args)
            return True
        except MatchError as exc:
            if exc.code != MatchErrorCode.NOT_IN_MATCH:
                raise
        except BrokerRejected as exc:
            if exc.code != ClientError.SESSION_LOST:
                raise
        return False
