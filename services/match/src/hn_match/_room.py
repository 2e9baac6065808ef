"""One duel room: ready, a signal after a random delay, shots, a verdict; or an abort.

A room lives on one instance, in memory, in its own greenlet. The server's clock decides: each
player's signal time is taken when the push to that player has left this instance (the pushes go
one after the other, after one Redis lookup of both players' brokers), a shot is timed when its
handler starts, the moment the broker's forwarded request is read (the handler pool refuses
rather than queues). The shot carries the round trip the broker measured for the shooter's
connection; `_judge` credits the reaction from these.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import gevent
import gevent.event

from hn_idl.match.ttypes import DuelSignal, MatchAborted, MatchError, MatchErrorCode, MatchFound, Verdict
from hn_match._judge import Judgement, Rules, Shot, judge
from hn_match._results import Outcome

__all__ = ["Room", "RoomHost", "Timing", "duel_fate"]


def duel_fate(match_id: str) -> str:
    """The name a duel's end is settled under with the edge (hn-edge `settle`)."""
    return f"duel:{match_id}"


@dataclass(frozen=True)
class Timing:
    ready_timeout_s: float = 15.0
    signal_delay_s: tuple[float, float] = (1.0, 3.0)
    shot_window_s: float = 3.0


class RoomHost(Protocol):
    """What a room needs from the instance holding it."""

    def push(self, account_id: int, kind: str, event: Any, *, broker: str | None = None, located: bool = False) -> None:
        """Push to the player; `located`: `broker` is where they are connected (None: nowhere)."""

    def locate(self, players: Sequence[int]) -> list[str | None] | None:
        """Where each player is connected, in one lookup (None: unknown, each push looks)."""

    def finished(self, room: Room, judgement: Judgement | None, reason: str) -> None:
        """Store and announce the outcome (`judgement`), or the abort (`reason`); free the room."""


def _not_in(match_id: str, why: str) -> MatchError:
    return MatchError(code=MatchErrorCode.NOT_IN_MATCH, message=f"duel {match_id}: {why}")


class Room:
    def __init__(
        self,
        match_id: str,
        mode: str,
        ratings: dict[int, int],
        host: RoomHost,
        *,
        timing: Timing,
        rules: Rules,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        trace_id: str = "",
    ) -> None:
        a, b = ratings
        self.match_id = match_id
        #: the trace the duel was opened under: its log lines carry it from start to end
        self.trace_id = trace_id
        self.mode = mode
        self.players: tuple[int, int] = (a, b)
        self.ratings = ratings
        self.timing = timing
        self.rules = rules
        self._host = host
        self._clock = clock
        self._rng = rng or random.SystemRandom()
        self.ready: set[int] = set()
        self.left: set[int] = set()
        self.shots: dict[int, Shot] = {}
        #: when the room gave the signal (None: not yet)
        self.signal_ms: float | None = None
        #: player -> when the signal's push to them left this instance
        self.signals_ms: dict[int, float] = {}
        self.over = False
        self._all_ready = gevent.event.Event()
        self._decided = gevent.event.Event()
        self._greenlet: gevent.Greenlet | None = None

    def _now_ms(self) -> float:
        return self._clock() * 1000

    def open(self, brokers: Sequence[str | None] | None = None) -> None:
        """Tell both players (connected to `brokers`, when known), then run the duel in its own
        greenlet."""
        a, b = self.players
        for (me, them), broker in zip(((a, b), (b, a)), brokers or (None, None), strict=True):
            found = MatchFound(
                match_id=self.match_id,
                opponent_id=them,
                opponent_rating=self.ratings[them],
                rating=self.ratings[me],
                mode=self.mode,
                ready_timeout_s=int(self.timing.ready_timeout_s),
            )
            self._host.push(me, "match.MatchFound", found, broker=broker, located=brokers is not None)
        self._greenlet = gevent.spawn(self._run)

    # -- from the players ---------------------------------------------------------------------

    def _check(self, player: int) -> None:
        if player not in self.players:
            raise _not_in(self.match_id, "you are not in it")
        if self.over:
            raise _not_in(self.match_id, "it is over")

    def mark_ready(self, player: int) -> None:
        self._check(player)
        self.ready.add(player)
        if len(self.ready) == 2:
            self._all_ready.set()

    def shoot(self, player: int, reaction_ms: int, rtt_ms: float | None = None) -> None:
        """`player` shot, claiming `reaction_ms`; `rtt_ms`: its connection's round trip as the
        broker measured it (None: unknown)."""
        self._check(player)
        if player in self.shots:
            raise MatchError(code=MatchErrorCode.INVALID_INPUT, message="one shot per duel")
        self.shots[player] = Shot(self._now_ms(), reaction_ms, rtt_ms)
        # A shot before the player's signal left ends the duel at once (a foul); otherwise wait
        # for both.
        if player not in self.signals_ms:
            self._decided.set()
            self._all_ready.set()
        elif self._everyone_done():
            self._decided.set()

    def leave(self, player: int) -> None:
        self._check(player)
        self.left.add(player)
        if self.signal_ms is None:
            self._abort(f"player {player} left before the signal")
        elif self._everyone_done():
            self._decided.set()

    def _everyone_done(self) -> bool:
        return all(p in self.shots or p in self.left for p in self.players)

    # -- the duel -----------------------------------------------------------------------------

    def _run(self) -> None:
        if not self._all_ready.wait(self.timing.ready_timeout_s):
            missing = sorted(set(self.players) - self.ready)
            self._abort(f"not ready in time: {', '.join(map(str, missing))}")
            return
        low, high = self.timing.signal_delay_s
        if not self.over and not self._decided.is_set():
            self._decided.wait(self._rng.uniform(low, high))
        if self.over:
            return
        if self._decided.is_set():
            self._finish()  # someone shot before the signal
            return
        self.signal_ms = self._now_ms()
        signal = DuelSignal(match_id=self.match_id, shot_window_s=int(round(self.timing.shot_window_s)))
        brokers = self._host.locate(self.players)
        for player, broker in zip(self.players, brokers or (None, None), strict=True):
            self._host.push(player, "match.DuelSignal", signal, broker=broker, located=brokers is not None)
            self.signals_ms[player] = self._now_ms()
        self._decided.wait(self.timing.shot_window_s + self.rules.latency_allowance_ms / 1000)
        if not self.over:
            self._finish()

    def _finish(self) -> None:
        self.over = True
        self._host.finished(self, judge(self.players, dict(self.shots), dict(self.signals_ms), self.rules), "")

    def _abort(self, reason: str) -> None:
        if self.over:
            return
        self.over = True
        self._decided.set()
        self._all_ready.set()
        self._host.finished(self, None, reason)

    def abort(self, reason: str) -> None:
        """Call the duel off from outside (the instance is stopping)."""
        self._abort(reason)
        if self._greenlet is not None and self._greenlet is not gevent.getcurrent():
            self._greenlet.kill(block=False)

    @property
    def fate(self) -> str:
        return duel_fate(self.match_id)

    def outcome(self, judgement: Judgement) -> Outcome:
        a, b = self.players
        return Outcome(
            self.match_id,
            self.mode,
            a,
            b,
            judgement.winner,
            Verdict._VALUES_TO_NAMES[judgement.verdict],
            dict(judgement.reaction_ms),
            dict(judgement.fouls),
        )

    def aborted_event(self, reason: str) -> MatchAborted:
        return MatchAborted(match_id=self.match_id, reason=reason)
