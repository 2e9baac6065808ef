"""`match.last_result`'s store query against the real tier: the newest result a player was in,
said as its DuelResult push said it."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator

import pytest

from hn_datatier import PgPool, apply_migrations, load_migrations
from hn_datatier.local import DataTier
from hn_idl.match.ttypes import DuelResult, Verdict
from hn_match._results import Outcome, Results

_ids = itertools.count(1)


def player() -> int:
    # Apart from test_store's players: both modules may run on one tier.
    return (os.getpid() % 10_000) * 1_000_000 + 500_000 + next(_ids)


@pytest.fixture(scope="module")
def results(data_tier: DataTier) -> Iterator[Results]:
    pool = PgPool(data_tier.env["HN_PG_DSN"], size=2)
    apply_migrations(pool, "match", load_migrations("hn_match"))
    yield Results(pool)
    pool.close()


def test_the_newest_result_comes_back_as_its_push_said_it(results: Results) -> None:
    me, first, second = player(), player(), player()
    early = Outcome(uuid.uuid4().hex, "duel", me, first, me, "FASTER", {me: 210, first: 260}, {})
    ratings_early = results.record(early)
    assert results.last(me) == DuelResult(
        match_id=early.match_id,
        winner_id=me,
        verdict=Verdict.FASTER,
        reaction_ms={me: 210, first: 260},
        fouls={},
        ratings=ratings_early,
    )
    # Then a duel where `me` was player b, lost on a foul: the newer one is answered.
    late = Outcome(uuid.uuid4().hex, "duel", second, me, second, "FOUL", {second: 250}, {me: "early"})
    ratings_late = results.record(late)
    newest = results.last(me)
    assert newest is not None and newest.match_id == late.match_id
    assert (newest.winner_id, newest.verdict, newest.fouls) == (second, Verdict.FOUL, {me: "early"})
    assert newest.reaction_ms == {second: 250} and newest.ratings == ratings_late
    early_for_first = results.last(first)
    assert early_for_first is not None and early_for_first.match_id == early.match_id, "each player's own newest"


def test_a_draw_has_no_winner_and_a_player_without_duels_no_result(results: Results) -> None:
    a, b = player(), player()
    assert results.last(a) is None
    draw = Outcome(uuid.uuid4().hex, "duel", a, b, None, "DRAW")
    results.record(draw)
    stored = results.last(b)
    assert stored is not None and stored.match_id == draw.match_id
    assert (stored.winner_id, stored.verdict, stored.reaction_ms, stored.fouls) == (None, Verdict.DRAW, {}, {})
    assert sum(stored.ratings.values()) == 2400
