"""The duel's referee: who won, from shots timed by the server's clock.

The client's reaction time is what it measured from the signal's arrival to the trigger; the
server only knows when the signal left and the shot arrived (`elapsed`), which adds the network
both ways. So a claim is believed only within `[elapsed - latency_allowance, elapsed]`: a client
cannot claim more speed than the network allows, and a slow link costs at most the allowance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hn_idl.match.ttypes import Verdict

__all__ = ["Rules", "Shot", "Judgement", "judge"]

EARLY = "early"
INHUMAN = "inhuman"
IMPOSSIBLE = "impossible"


@dataclass(frozen=True)
class Rules:
    #: below this a reaction is not human: a bot or a tampered client
    min_reaction_ms: int = 100
    #: how much of the server-measured time may be the network's
    latency_allowance_ms: int = 400
    #: a claim above the server-measured time (plus clock slack) cannot be true
    clock_slack_ms: int = 50


@dataclass(frozen=True)
class Shot:
    #: server time of arrival (ms, monotonic)
    at_ms: float
    reaction_ms: int


@dataclass
class Judgement:
    winner: int | None
    verdict: int
    reaction_ms: dict[int, int] = field(default_factory=dict)
    fouls: dict[int, str] = field(default_factory=dict)


def _credit(shot: Shot, signal_ms: float | None, rules: Rules) -> int | str:
    """The reaction time credited to a shot, or the foul it is."""
    if signal_ms is None or shot.at_ms < signal_ms:
        return EARLY
    if shot.reaction_ms < rules.min_reaction_ms:
        return INHUMAN
    elapsed = shot.at_ms - signal_ms
    if shot.reaction_ms > elapsed + rules.clock_slack_ms:
        return IMPOSSIBLE
    return int(max(shot.reaction_ms, elapsed - rules.latency_allowance_ms))


def judge(players: tuple[int, int], shots: dict[int, Shot], signal_ms: float | None, rules: Rules) -> Judgement:
    """The outcome for `players` given the shots that arrived (a missing shot timed out)."""
    result = Judgement(winner=None, verdict=Verdict.DRAW)
    for player, shot in shots.items():
        credited = _credit(shot, signal_ms, rules)
        if isinstance(credited, str):
            result.fouls[player] = credited
        else:
            result.reaction_ms[player] = credited
    a, b = players
    fouled = [p for p in players if p in result.fouls]
    clean = [p for p in players if p in result.reaction_ms]
    if len(fouled) == 1:
        result.winner = b if fouled[0] == a else a
        result.verdict = Verdict.FOUL
    elif len(fouled) == 2:
        # Both fouled: whoever fouled first loses (the second shot may be a reaction to the first).
        first = min(players, key=lambda p: shots[p].at_ms)
        result.winner = b if first == a else a
        result.verdict = Verdict.FOUL
    elif len(clean) == 1:
        result.winner = clean[0]
        result.verdict = Verdict.TIMEOUT
    elif len(clean) == 2 and result.reaction_ms[a] != result.reaction_ms[b]:
        result.winner = min(clean, key=lambda p: result.reaction_ms[p])
        result.verdict = Verdict.FASTER
    return result
