"""The pure parts: pairing by rating, the referee, Elo."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hn_idl.match.ttypes import Verdict
from hn_match._judge import Rules, Shot, judge
from hn_match._pairing import Tolerance, Waiting, pair
from hn_match._rating import expected, updated

TOL = Tolerance(base=50, widen_per_s=25.0, ceiling=600)
RULES = Rules(min_reaction_ms=100, latency_allowance_ms=400, clock_slack_ms=50, relay_allowance_ms=25)
#: both players' signals left at 1000 ms
SIGNALS = {1: 1000.0, 2: 1000.0}

waiting_lists = st.lists(
    st.builds(
        Waiting,
        account_id=st.integers(1, 60),
        rating=st.integers(0, 3000),
        since_ms=st.integers(0, 120_000),
    ),
    max_size=80,
    unique_by=lambda w: w.account_id,
)


@settings(max_examples=300, deadline=None)
@given(waiting_lists, st.integers(0, 200_000))
def test_pairs_are_disjoint_distinct_and_within_the_waiters_tolerance(waiting: list[Waiting], now: int) -> None:
    pairs = pair(waiting, now, TOL)
    seen = [p.account_id for ab in pairs for p in ab]
    assert len(seen) == len(set(seen)), "nobody is paired twice"
    for a, b in pairs:
        assert a.account_id != b.account_id
        assert abs(a.rating - b.rating) <= TOL.gap(now - min(a.since_ms, b.since_ms))


@settings(max_examples=200, deadline=None)
@given(waiting_lists, st.integers(0, 200_000))
def test_no_two_players_left_unpaired_that_neighbour_within_tolerance(waiting: list[Waiting], now: int) -> None:
    """Greedy over rating order leaves no adjacent acceptable pair among the unpaired."""
    paired = {p.account_id for ab in pair(waiting, now, TOL) for p in ab}
    rest = sorted(
        (w for w in waiting if w.account_id not in paired), key=lambda w: (w.rating, w.since_ms, w.account_id)
    )
    ordered = sorted(waiting, key=lambda w: (w.rating, w.since_ms, w.account_id))
    index = {w.account_id: i for i, w in enumerate(ordered)}
    for a, b in zip(rest, rest[1:], strict=False):
        if index[b.account_id] == index[a.account_id] + 1:
            assert b.rating - a.rating > TOL.gap(now - min(a.since_ms, b.since_ms))


def test_the_tolerance_widens_with_waiting_up_to_the_ceiling() -> None:
    newcomer, veteran = Waiting(1, 1200, since_ms=0), Waiting(2, 1700, since_ms=0)
    assert pair([newcomer, veteran], now_ms=1_000, tolerance=TOL) == [], "500 apart: too far at first"
    assert pair([newcomer, veteran], now_ms=20_000, tolerance=TOL) == [(newcomer, veteran)], "matched after waiting"
    far = Waiting(3, 2400, since_ms=0)
    assert pair([newcomer, far], now_ms=10**9, tolerance=TOL) == [], "never beyond the ceiling"
    assert TOL.gap(0) == 50 and TOL.gap(10**9) == 600


def test_closest_ratings_pair_up() -> None:
    players = [Waiting(i, r, 0) for i, r in enumerate([1000, 1500, 1010, 1490, 2000])]
    pairs = {tuple(sorted((a.rating, b.rating))) for a, b in pair(players, 0, TOL)}
    assert pairs == {(1000, 1010), (1490, 1500)}


def test_clean_shots_the_faster_wins() -> None:
    j = judge((1, 2), {1: Shot(1250, 240), 2: Shot(1300, 290)}, SIGNALS, RULES)
    assert (j.winner, j.verdict, j.reaction_ms) == (1, Verdict.FASTER, {1: 240, 2: 290})


def test_a_shot_before_the_signal_is_a_foul_and_loses() -> None:
    j = judge((1, 2), {1: Shot(900, 200)}, {}, RULES)
    assert (j.winner, j.verdict, j.fouls) == (2, Verdict.FOUL, {1: "early"})


@pytest.mark.parametrize(
    ("shot", "foul"),
    [(Shot(1300, 50), "inhuman"), (Shot(1200, 500), "impossible"), (Shot(999, 250), "early")],
)
def test_fouls_by_the_servers_clock(shot: Shot, foul: str) -> None:
    j = judge((1, 2), {1: shot, 2: Shot(1400, 300)}, SIGNALS, RULES)
    assert j.fouls == {1: foul} and j.winner == 2 and j.verdict == Verdict.FOUL


def test_a_claim_cannot_beat_the_network_by_more_than_the_allowance() -> None:
    # 900 ms between signal and shot on the server, over a connection that looks 600 ms away: a
    # claimed 150 ms is credited as 500 ms (no more than 400 ms of it may be the network's).
    j = judge((1, 2), {1: Shot(1900, 150, rtt_ms=600), 2: Shot(1450, 300, rtt_ms=600)}, SIGNALS, RULES)
    assert j.reaction_ms == {1: 500, 2: 300} and j.winner == 2


def test_a_late_shot_claiming_a_fast_reaction_is_credited_the_servers_time_less_its_round_trip() -> None:
    # The cheat: the shot arrives 350 ms after the signal on a 20 ms link and claims 100 ms. At
    # most 20 ms (the round trip) + 25 ms (the platform's own hops) of that was the network's.
    cheat, honest = Shot(1350, 100, rtt_ms=20), Shot(1230, 200, rtt_ms=20)
    j = judge((1, 2), {1: cheat, 2: honest}, SIGNALS, RULES)
    assert j.reaction_ms == {1: 305, 2: 200}
    assert (j.winner, j.verdict, j.fouls) == (2, Verdict.FASTER, {})


def test_an_unmeasured_round_trip_credits_no_network_but_the_relay() -> None:
    j = judge((1, 2), {1: Shot(1350, 100), 2: Shot(1350, 100, rtt_ms=50)}, SIGNALS, RULES)
    assert j.reaction_ms == {1: 325, 2: 275}


def test_a_claim_a_little_over_the_servers_time_is_credited_the_servers_time() -> None:
    j = judge((1, 2), {1: Shot(1300, 330, rtt_ms=10), 2: Shot(1400, 300)}, SIGNALS, RULES)
    assert j.reaction_ms[1] == 300 and not j.fouls, "within the clock slack: not a foul, but no more than elapsed"


def test_a_shot_back_sooner_than_a_human_can_react_is_inhuman_whatever_it_claims() -> None:
    # 80 ms from the signal leaving to the shot arriving: no human reaction fits, network or not.
    j = judge((1, 2), {1: Shot(1080, 110, rtt_ms=10), 2: Shot(1400, 300)}, SIGNALS, RULES)
    assert j.fouls == {1: "inhuman"} and j.winner == 2


def test_each_shot_is_timed_from_its_own_players_signal() -> None:
    # Player 2's signal left 40 ms after player 1's (its push came second): 2's 240 ms are its own.
    signals = {1: 1000.0, 2: 1040.0}
    j = judge((1, 2), {1: Shot(1250, 250), 2: Shot(1280, 240)}, signals, RULES)
    assert j.reaction_ms == {1: 250, 2: 240} and j.winner == 2
    early = judge((1, 2), {2: Shot(1020, 150)}, signals, RULES)
    assert early.fouls == {2: "early"}, "before its own signal left: it saw nothing"


@settings(max_examples=300, deadline=None)
@given(
    elapsed=st.floats(0, 5000),
    claim=st.integers(-(2**31), 2**31 - 1),
    rtt=st.one_of(st.none(), st.floats(0, 10_000)),
)
def test_a_claim_only_narrows_the_servers_time_within_the_measured_round_trip(
    elapsed: float, claim: int, rtt: float | None
) -> None:
    j = judge((1, 2), {1: Shot(1000 + elapsed, claim, rtt)}, SIGNALS, RULES)
    if 1 in j.fouls:
        return
    credited = j.reaction_ms[1]
    network = min(RULES.latency_allowance_ms, (rtt or 0) + RULES.relay_allowance_ms)
    assert elapsed - network - 1 <= credited <= elapsed
    assert credited >= RULES.min_reaction_ms


def test_no_shot_loses_by_timeout_and_no_shots_is_a_draw() -> None:
    assert judge((1, 2), {2: Shot(1300, 250)}, SIGNALS, RULES).verdict == Verdict.TIMEOUT
    nobody = judge((1, 2), {}, SIGNALS, RULES)
    assert (nobody.winner, nobody.verdict) == (None, Verdict.DRAW)
    tie = judge((1, 2), {1: Shot(1300, 250), 2: Shot(1300, 250)}, SIGNALS, RULES)
    assert (tie.winner, tie.verdict) == (None, Verdict.DRAW)


def test_both_foul_the_first_to_foul_loses() -> None:
    j = judge((1, 2), {1: Shot(800, 200), 2: Shot(700, 200)}, {}, RULES)
    assert j.winner == 1 and j.verdict == Verdict.FOUL


@given(st.integers(0, 3000), st.integers(0, 3000), st.sampled_from([0.0, 0.5, 1.0]))
def test_elo_keeps_the_sum_and_moves_toward_the_result(a: int, b: int, score: float) -> None:
    new_a, new_b = updated(a, b, score)
    assert new_a + new_b == a + b
    if score == 1.0:
        assert new_a >= a
    if score == 0.0:
        assert new_a <= a
    assert abs(expected(a, b) + expected(b, a) - 1.0) < 1e-9
