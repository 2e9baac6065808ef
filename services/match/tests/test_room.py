"""A duel room's state machine, on gevent with short timings (the host is a seam the room owns)."""

from __future__ import annotations

from typing import Any

import gevent.event
import pytest

from hn_idl.match.ttypes import MatchError, MatchErrorCode, Verdict
from hn_match._judge import Judgement, Rules
from hn_match._room import Room, Timing
from hn_runtime.testing import wait_for


class Host:
    def __init__(self) -> None:
        self.pushes: list[tuple[int, str, Any]] = []
        self.result: tuple[Judgement | None, str] | None = None
        self.done = gevent.event.Event()

    def push(self, account_id: int, kind: str, event: Any, *, broker: str | None = None, located: bool = False) -> None:
        self.pushes.append((account_id, kind, event))

    def locate(self, players: Any) -> None:
        return None  # unknown: each push looks for its player

    def finished(self, room: Room, judgement: Judgement | None, reason: str) -> None:
        self.result = (judgement, reason)
        self.done.set()

    def kinds(self, player: int) -> list[str]:
        return [kind for p, kind, _ in self.pushes if p == player]


class Clock:
    """The server clock the room judges by, moved by the test (timers still run on gevent)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def room(
    host: Host,
    *,
    ready_s: float = 5.0,
    delay: tuple[float, float] = (0.05, 0.1),
    window_s: float = 5.0,
    clock: Clock | None = None,
) -> Room:
    r = Room(
        "m1",
        "duel",
        {1: 1200, 2: 1300},
        host,
        timing=Timing(ready_timeout_s=ready_s, signal_delay_s=delay, shot_window_s=window_s),
        rules=Rules(min_reaction_ms=100, latency_allowance_ms=400),
        clock=clock or Clock(),
    )
    r.open()
    return r


def test_both_ready_signal_then_the_faster_clean_shot_wins() -> None:
    host, clock = Host(), Clock()
    r = room(host, clock=clock)
    assert host.kinds(1) == ["match.MatchFound"] and host.pushes[0][2].opponent_id == 2
    r.mark_ready(1)
    r.mark_ready(2)
    wait_for(lambda: r.signal_ms is not None, message="the signal")
    assert host.kinds(1)[-1] == host.kinds(2)[-1] == "match.DuelSignal"
    clock.now += 0.30
    r.shoot(2, 280, rtt_ms=20)
    clock.now += 0.05
    r.shoot(1, 240, rtt_ms=120)  # later, but from farther away
    assert host.done.wait(5)
    judgement, _ = host.result  # type: ignore[misc]
    assert judgement is not None and (judgement.winner, judgement.verdict) == (1, Verdict.FASTER)
    assert judgement.reaction_ms == {1: 240, 2: 280} and not judgement.fouls


def test_a_late_shot_claiming_a_fast_reaction_loses_to_an_honest_one() -> None:
    host, clock = Host(), Clock()
    r = room(host, clock=clock)
    r.mark_ready(1)
    r.mark_ready(2)
    wait_for(lambda: r.signal_ms is not None, message="the signal")
    clock.now += 0.20
    r.shoot(2, 200, rtt_ms=5)
    clock.now += 0.15
    r.shoot(1, 100, rtt_ms=5)  # 350 ms after the signal, claiming 100
    assert host.done.wait(5)
    judgement, _ = host.result  # type: ignore[misc]
    assert judgement is not None and (judgement.winner, judgement.verdict) == (2, Verdict.FASTER)
    assert judgement.reaction_ms == {1: 320, 2: 200}


def test_a_shot_before_the_signal_ends_the_duel_as_a_foul() -> None:
    host = Host()
    r = room(host, delay=(30, 30))
    r.mark_ready(1)
    r.mark_ready(2)
    r.shoot(1, 200)
    assert host.done.wait(5), "decided at once, not after the 30 s delay"
    judgement, _ = host.result  # type: ignore[misc]
    assert judgement is not None and (judgement.winner, judgement.fouls) == (2, {1: "early"})
    assert "match.DuelSignal" not in host.kinds(1)
    with pytest.raises(MatchError) as over:
        r.shoot(2, 200)
    assert over.value.code == MatchErrorCode.NOT_IN_MATCH


def test_not_ready_in_time_aborts() -> None:
    host = Host()
    r = room(host, ready_s=0.2)
    r.mark_ready(1)
    assert host.done.wait(5)
    assert host.result is not None and host.result[0] is None and "not ready in time: 2" in host.result[1]


def test_leaving_before_the_signal_aborts_after_it_the_leaver_loses() -> None:
    host = Host()
    r = room(host, delay=(30, 30))
    r.mark_ready(1)
    r.leave(2)
    assert host.done.wait(5) and host.result is not None and host.result[0] is None

    host, clock = Host(), Clock()
    r = room(host, clock=clock)
    r.mark_ready(1)
    r.mark_ready(2)
    wait_for(lambda: r.signal_ms is not None, message="the signal")
    r.leave(2)
    gevent.sleep(0)
    assert not host.done.is_set(), "still waiting for the other's shot"
    clock.now += 0.25
    r.shoot(1, 230)
    assert host.done.wait(5)
    judgement, _ = host.result  # type: ignore[misc]
    assert judgement is not None and (judgement.winner, judgement.verdict) == (1, Verdict.TIMEOUT)


def test_one_shot_each_and_only_players_may_act() -> None:
    host = Host()
    r = room(host, delay=(30, 30))
    with pytest.raises(MatchError) as stranger:
        r.mark_ready(3)
    assert stranger.value.code == MatchErrorCode.NOT_IN_MATCH
    r.abort("test over")
    assert host.done.is_set() and host.result == (None, "test over")
