"""The duel's referee: who won, from shots timed by the server's clock.

The server knows when each player's signal left this instance and when the shot arrived
(`elapsed`, on this instance's monotonic clock). That is the player's reaction plus the network
both ways: the signal's way down and the shot's way up, about one round trip of the player's
connection, which the broker holding it measures (`Shot.rtt_ms`, see `Rules.network_ms`). So the
reaction credited is `elapsed` less at most that round trip: within
`[elapsed - network, elapsed]`, and the client's claim (what it measured from the signal's
arrival to the trigger) only picks a point inside that range. A shot 350 ms after the signal on
a 20 ms link is credited at least 350 - 20 - the relay allowance, whatever it claims.

Fouls: a shot before the player's signal left (`early`); a reaction under `min_reaction_ms`,
claimed or credited (`inhuman`: no human is faster, whatever the network); a claim longer than
the server's own elapsed time plus `clock_slack_ms` (`impossible`: the client's clock cannot see
more time than the server's).
"""

from __future__ import annotations

from collections.abc import Mapping
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
    #: the most of the server-measured time that may ever be the network's (a bound on the
    #: measured round trip too: a client that slows its own acknowledgements to look far away
    #: gains no more than this)
    latency_allowance_ms: int = 400
    #: a claim above the server-measured time (plus clock slack) cannot be true
    clock_slack_ms: int = 50
    #: the platform's own hops, counted in `elapsed` but in no client's round trip: the signal's
    #: push from this instance to the broker, the shot's forwarding from the broker to here
    relay_allowance_ms: int = 25

    def network_ms(self, rtt_ms: float | None) -> float:
        """How much of a shot's elapsed time may be the network's, given its connection's
        measured round trip (None: not measured, so none of it but the relay)."""
        return min(float(self.latency_allowance_ms), (rtt_ms or 0.0) + self.relay_allowance_ms)


@dataclass(frozen=True)
class Shot:
    #: server time of arrival (ms, monotonic)
    at_ms: float
    #: the reaction the client claims to have measured
    reaction_ms: int
    #: the round trip the broker measured for the shooter's connection (ms), None if unknown
    rtt_ms: float | None = None


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
    credited = int(min(elapsed, max(shot.reaction_ms, elapsed - rules.network_ms(shot.rtt_ms))))
    if credited < rules.min_reaction_ms:
        return INHUMAN  # the server's own clock saw the shot come back faster than a human can
    return credited


def judge(
    players: tuple[int, int], shots: Mapping[int, Shot], signals_ms: Mapping[int, float], rules: Rules
) -> Judgement:
    """The outcome for `players` given the shots that arrived (a missing shot timed out) and
    when each player's signal left (empty: no signal yet)."""
    result = Judgement(winner=None, verdict=Verdict.DRAW)
    for player, shot in shots.items():
        credited = _credit(shot, signals_ms.get(player), rules)
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
