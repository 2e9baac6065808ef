"""High Noon, played by a client: queue, get matched, ready, wait for the signal, shoot.

    duelist = Duelist(client)            # after login
    outcome = duelist.duel()             # one whole duel: queue .. result (or abort)
    outcome.won, outcome.result.verdict

The reaction time sent with a shot is measured here, from the signal's arrival to the trigger,
as a real game client does; the server judges it against its own clock.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.queue

from hn_client._client import GameClient

__all__ = ["Duelist", "DuelOutcome", "DuelTimeout"]

_EVENTS = ("match.MatchFound", "match.DuelSignal", "match.DuelResult", "match.MatchAborted", "broker.SessionLost")


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
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DuelTimeout(f"no {' or '.join(wanted)} in time")
            if stop is not None and stop():
                raise _Stopped
            try:
                kind, event = self.events.get(timeout=min(remaining, 0.5) if stop is not None else remaining)
            except gevent.queue.Empty:
                continue
            if kind == "broker.SessionLost" and getattr(event, "family", "") != "duel":
                continue
            event_match = getattr(event, "match_id", None)
            if match_id is not None and event_match is not None and event_match != match_id:
                continue  # a late push of an earlier duel
            if kind in wanted:
                return kind, event

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
            _, found = self._next(("match.MatchFound",), None, deadline, stop)
        except _Stopped:
            call("match.cancel")
            return None
        outcome = DuelOutcome(match_id=found.match_id, waited_s=time.monotonic() - queued_at)
        ends = ("match.DuelResult", "match.MatchAborted", "broker.SessionLost")
        call("match.duel_ready", match_id=found.match_id)
        kind, event = self._next(("match.DuelSignal", *ends), found.match_id, deadline)
        if kind == "match.DuelSignal":
            signalled = time.monotonic()
            gevent.sleep(reaction())  # the player's hand, not a wait for the system
            call("match.duel_shoot", match_id=found.match_id, reaction_ms=int((time.monotonic() - signalled) * 1000))
            kind, event = self._next(ends, found.match_id, deadline)
        if kind == "match.DuelResult":
            outcome.result = event
            outcome.won = event.winner_id == self.client.account.account_id
        else:
            outcome.aborted = getattr(event, "reason", kind)
        return outcome
