"""The queue, the lease and the results against the real tier (Twemproxy/Redis, Pgpool/PostgreSQL)."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator

import gevent
import gevent.event
import pytest

from hn_datatier import PgPool, apply_migrations, load_migrations, redis_from_url
from hn_datatier.local import DataTier
from hn_match._lease import Lease
from hn_match._matchmaker import Matchmaker
from hn_match._pairing import Tolerance, Waiting
from hn_match._queue import MatchQueue
from hn_match._rating import INITIAL_RATING, updated
from hn_match._results import Outcome, Results
from hn_runtime.testing import time_factor, wait_for

_ids = itertools.count(1)


def player() -> int:
    return (os.getpid() % 10_000) * 1_000_000 + next(_ids)


@pytest.fixture(scope="module")
def redis(data_tier: DataTier) -> object:
    return redis_from_url(data_tier.env["HN_REDIS_URL"])


@pytest.fixture(scope="module")
def pool(data_tier: DataTier) -> Iterator[PgPool]:
    pg = PgPool(data_tier.env["HN_PG_DSN"], size=4)
    apply_migrations(pg, "match", load_migrations("hn_match"))
    yield pg
    pg.close()


def mode() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


def test_enqueue_keeps_the_first_place_and_a_take_races_a_cancel_cleanly(redis: object) -> None:
    queue, m = MatchQueue(redis), mode()
    a, b = player(), player()
    first, queued = queue.add(m, a, 1200)
    assert queue.add(m, a, 1250) == (first, 1), "enqueueing again keeps the original wait"
    assert queue.add(m, b, 1210)[1] == 2
    assert {w.account_id for w in queue.waiting(m)} == {a, b}
    assert queue.whereabouts(a) == (None, m)
    wa, wb = sorted(queue.waiting(m), key=lambda w: w.account_id)
    assert queue.remove(m, b), "b cancels first"
    assert not queue.take(m, wa, wb), "the pair is gone with b"
    assert [w.account_id for w in queue.waiting(m)] == [a], "a went back to the queue, with its place"
    assert queue.waiting(m)[0].since_ms == first
    assert not queue.remove(m, b)


def test_only_one_holder_of_the_lease_and_it_passes_on_release(redis: object) -> None:
    key = f"hn:test:lease:{uuid.uuid4().hex}"
    one, two = Lease(redis, key, "one", ttl_ms=60_000), Lease(redis, key, "two", ttl_ms=60_000)
    assert one.hold() and one.hold(), "taken, then renewed"
    assert not two.hold()
    one.release()
    assert two.hold() and not one.hold()


def test_matchmaker_pairs_present_players_and_drops_the_disconnected(redis: object) -> None:
    queue, m = MatchQueue(redis), mode()
    here, gone, far = player(), player(), player()
    partner = player()
    for p, rating in ((here, 1200), (partner, 1220), (gone, 1230), (far, 2900)):
        queue.add(m, p, rating)
    hosted: list[tuple[int, int]] = []

    def host(mode: str, a: Waiting, b: Waiting) -> bool:
        hosted.append((a.account_id, b.account_id))
        return True

    now = [100.0]
    maker = Matchmaker(
        queue,
        {m: Lease(redis, f"hn:test:lease:{uuid.uuid4().hex}", "me")},
        host=host,
        present=lambda ids: [i != gone for i in ids],
        tolerance=Tolerance(base=50),
        spawn=lambda fn, *args: fn(*args),
        absent_grace_s=5.0,
        clock=lambda: now[0],
    )
    maker.tick(m, sweep=True)
    assert hosted == [(here, partner)]
    # Without a connection for a moment (its broker drained, it resumes on another): kept.
    assert {w.account_id for w in queue.waiting(m)} == {gone, far}, "gone keeps its place for a while"
    now[0] += 5.0
    maker.tick(m, sweep=True)
    assert [w.account_id for w in queue.waiting(m)] == [far], "gone for longer than the grace: dropped"


def test_a_room_that_cannot_open_puts_both_back_with_their_wait(redis: object) -> None:
    queue, m = MatchQueue(redis), mode()
    a, b = player(), player()
    since_a, _ = queue.add(m, a, 1000)
    queue.add(m, b, 1001)
    maker = Matchmaker(
        queue,
        {m: Lease(redis, f"hn:test:lease:{uuid.uuid4().hex}", "me")},
        host=lambda *_: False,
        present=lambda ids: [True] * len(ids),
        spawn=lambda fn, *args: fn(*args),
    )
    assert maker.tick(m) == 1
    back = {w.account_id: w.since_ms for w in queue.waiting(m)}
    assert set(back) == {a, b} and back[a] == since_a


def test_a_stopping_matchmaker_hands_its_lease_over_at_once_and_opens_the_rooms_it_took(redis: object) -> None:
    """A draining instance stops matchmaking: another instance may take the lease at once (not
    after its expiry), while the rooms for pairs already off the queue still open."""
    queue, m = MatchQueue(redis), mode()
    a, b = player(), player()
    queue.add(m, a, 1200)
    queue.add(m, b, 1200)
    key = f"hn:test:lease:{uuid.uuid4().hex}"
    opening, gate = gevent.event.Event(), gevent.event.Event()
    hosted: list[set[int]] = []

    def host(mode: str, x: Waiting, y: Waiting) -> bool:
        opening.set()
        gate.wait()
        hosted.append({x.account_id, y.account_id})
        return True

    maker = Matchmaker(
        queue,
        {m: Lease(redis, key, "me", ttl_ms=60_000)},
        host=host,
        present=lambda ids: [True] * len(ids),
        tick_s=0.01,
    )
    maker.start()
    wait_for(opening.is_set, message="a room opening")
    stopping = gevent.spawn(maker.stop, timeout=30 * time_factor())
    other = Lease(redis, key, "other", ttl_ms=60_000)
    wait_for(other.hold, message="the lease handed over while the room is still opening")
    assert not stopping.dead, "stop waits for the room it is opening"
    gate.set()
    stopping.get(timeout=30 * time_factor())
    assert hosted == [{a, b}] and queue.waiting(m) == []
    assert other.hold(), "the stopped matchmaker did not take its lease back"


def test_a_result_is_stored_and_rated_once(pool: PgPool) -> None:
    results = Results(pool)
    a, b = player(), player()
    outcome = Outcome(uuid.uuid4().hex, "duel", a, b, winner=a, verdict="FASTER")
    expected = dict(zip((a, b), updated(INITIAL_RATING, INITIAL_RATING, 1.0), strict=False))
    assert results.record(outcome) == expected
    assert results.record(outcome) == expected, "a repeat answers what was stored"
    repeats = [gevent.spawn(results.record, outcome) for _ in range(5)]
    gevent.joinall(repeats, raise_error=True)
    assert all(g.value == expected for g in repeats)
    rows = pool.fetchall(
        "SELECT account_id, rating, duels, wins FROM match_ratings WHERE account_id IN (%s, %s) ORDER BY account_id",
        (a, b),
        primary=True,
    )
    assert {r[0]: (r[1], r[2], r[3]) for r in rows} == {a: (expected[a], 1, 1), b: (expected[b], 1, 0)}


def test_concurrent_duels_of_one_player_both_count(pool: PgPool) -> None:
    results = Results(pool)
    a, b, c = player(), player(), player()
    duels = [Outcome(uuid.uuid4().hex, "duel", a, x, winner=x, verdict="FASTER") for x in (b, c)]
    gevent.joinall([gevent.spawn(results.record, d) for d in duels], raise_error=True)
    row = pool.fetchone("SELECT duels, wins FROM match_ratings WHERE account_id = %s", (a,), primary=True)
    assert tuple(row) == (2, 0)
    ratings = pool.fetchall(
        "SELECT sum(rating) FROM match_ratings WHERE account_id IN (%s, %s, %s)", (a, b, c), primary=True
    )
    assert ratings[0][0] == 3 * INITIAL_RATING, "Elo moves points, never makes or loses them"


def test_pairs_are_taken_in_a_batch_and_a_half_taken_pair_gives_its_player_back(redis: object) -> None:
    queue, m = MatchQueue(redis), mode()
    players = [player() for _ in range(6)]
    for p in players:
        queue.add(m, p, 1200)
    waiting = {w.account_id: w for w in queue.waiting(m)}
    pairs = [(waiting[players[i]], waiting[players[i + 1]]) for i in (0, 2, 4)]
    assert queue.remove(m, players[3]), "one player of the second pair cancels"
    taken = queue.take_pairs(m, pairs)
    assert taken == [pairs[0], pairs[2]]
    back = queue.waiting(m)
    assert [(w.account_id, w.since_ms) for w in back] == [(players[2], waiting[players[2]].since_ms)]
    assert queue.whereabouts(players[0]) == (None, None), "taken players are no longer queued anywhere"
