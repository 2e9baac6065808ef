"""Matchmaking and duels through the edge: clients -> brokers -> match instances, on a real tier."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.event
import pytest
from prometheus_client import REGISTRY

from hn_client import BrokerRejected, Duelist, GameClient
from hn_datatier import PgPool, redis_from_url
from hn_datatier.local import DataTier
from hn_edge import DECIDED, LOST, SessionState
from hn_idl.client.ttypes import ClientError
from hn_idl.match.ttypes import MatchError, MatchErrorCode, QueueState, Verdict
from hn_runtime import Session
from hn_runtime.testing import ServiceProcess, spawn_service, time_factor, wait_for

from _platform import Platform, platform_on

_devices = itertools.count()


@pytest.fixture(scope="module")
def platform(data_tier: DataTier) -> Iterator[Platform]:
    with platform_on(data_tier, brokers=2, matches=2) as p:
        yield p


def player(platform: Platform) -> GameClient:
    client = GameClient(platform.brokerlist_url).connect()
    client.guest_login(f"e2e-match-{os.getpid()}-{next(_devices)}")
    return client


def duel_pair(platform: Platform, *, mode: str | None = None) -> list[object]:
    a, b = player(platform), player(platform)
    try:
        duels = [gevent.spawn(Duelist(c).duel, mode=mode, timeout=60) for c in (a, b)]
        gevent.joinall(duels, raise_error=True)
        return [d.value for d in duels] + [a.account.account_id, b.account.account_id]
    finally:
        a.close()
        b.close()


def test_two_players_are_matched_duel_and_get_one_result_with_ratings(platform: Platform) -> None:
    one, two, id_one, id_two = duel_pair(platform)
    assert one.match_id == two.match_id, "matched with each other"  # type: ignore[attr-defined]
    result = one.result  # type: ignore[attr-defined]
    assert result is not None and result == two.result, f"both told the same result: {one}"  # type: ignore[attr-defined]
    assert result.verdict in (Verdict.FASTER, Verdict.DRAW, Verdict.TIMEOUT)
    assert set(result.ratings) == {id_one, id_two}
    assert sum(result.ratings.values()) == 2400, "Elo from the initial 1200 each keeps the sum"
    if result.winner_id is not None:
        assert result.ratings[result.winner_id] > 1200
    pool = PgPool(platform.tier.env["HN_PG_DSN"], size=1)
    try:
        rows = pool.fetchall(
            "SELECT winner, rating_a_after + rating_b_after FROM match_results WHERE match_id = %s",
            (one.match_id,),  # type: ignore[attr-defined]
            primary=True,
        )
    finally:
        pool.close()
    assert rows == [(result.winner_id, 2400)], "stored once, with the ratings it announced"
    state = SessionState(redis_from_url(platform.tier.env["HN_REDIS_URL"]))
    assert state.fate_of(f"duel:{one.match_id}") == DECIDED, "settled before it was stored"  # type: ignore[attr-defined]


def test_queue_status_cancel_and_modes(platform: Platform) -> None:
    client = player(platform)
    try:
        queued = client.call("match.enqueue")
        assert queued.state == QueueState.QUEUED and queued.mode == "duel" and queued.rating == 1200
        assert client.call("match.enqueue").state == QueueState.QUEUED, "enqueueing twice keeps the place"
        assert client.call("match.cancel").state == QueueState.IDLE
        assert client.call("match.status").state == QueueState.IDLE
        with pytest.raises(MatchError) as bad:
            client.call("match.enqueue", mode="no such mode")
        assert bad.value.code == MatchErrorCode.INVALID_INPUT
    finally:
        client.close()


def test_duel_messages_without_a_duel_are_refused_clearly(platform: Platform) -> None:
    client = player(platform)
    try:
        with pytest.raises(MatchError) as refused:
            client.call("match.duel_shoot", match_id="nope", reaction_ms=200)
        assert refused.value.code == MatchErrorCode.NOT_IN_MATCH and "duel" in refused.value.message
        with pytest.raises(BrokerRejected) as host:
            client.call("match.host_duel", match_id="x", mode="duel", player_a=1, rating_a=1, player_b=2, rating_b=1)
        assert host.value.code == ClientError.UNKNOWN_MESSAGE, "service-only methods are not client messages"
    finally:
        client.close()


def test_a_duel_over_elsewhere_whose_room_key_was_left_behind_does_not_keep_the_player_out(
    platform: Platform,
) -> None:
    """A room's cleanup can fail (a Redis failover) and leave the player's room key behind,
    pointing at a live instance. Asked on either instance, a duel whose end was settled is over
    (it holds no room, or the room's fate says so): the player is idle, not kept in it until
    the key expires."""
    client = player(platform)
    try:
        account = client.account.account_id
        holder = platform.matches[0]
        redis = redis_from_url(platform.tier.env["HN_REDIS_URL"])
        state = SessionState(redis)
        for match in platform.matches:
            match_id = f"left-behind-{os.getpid()}-{next(_devices)}"
            redis.set(f"hn:match:room:{account}", f"{holder.server.instance} {match_id}", ex=60)
            state.settle(f"duel:{match_id}", DECIDED)
            session = Session(id=str(account), trace_id="t", method="status")
            status = match.service.on_status(session, None)
            assert status.state == QueueState.IDLE, (match.server.instance, status)
        assert client.call("match.enqueue", mode="duel").state == QueueState.QUEUED
        client.call("match.cancel")
    finally:
        client.close()


def test_a_player_who_disconnects_leaves_the_queue(platform: Platform) -> None:
    client = player(platform)
    account = client.account.account_id
    client.call("match.enqueue", mode="duel")
    redis = redis_from_url(platform.tier.env["HN_REDIS_URL"])
    assert redis.zscore("hn:match:{duel}:queue", str(account)) is not None
    client.close()
    wait_for(
        lambda: redis.zscore("hn:match:{duel}:queue", str(account)) is None,
        timeout=15,
        message="the disconnected player dropped from the queue",
    )


def test_a_late_shot_claiming_a_fast_reaction_is_credited_the_servers_time(platform: Platform) -> None:
    """The cheat: shoot 350 ms after the signal and claim 100 ms. The broker stamps each request
    with its connection's round trip (the kernel's view of the TCP connection), and match credits
    the server's own elapsed time less at most that round trip: the cheater is credited about
    350 ms and loses to an honest 200 ms shot."""
    cheater, honest = player(platform), player(platform)
    events: dict[tuple[GameClient, str], gevent.event.AsyncResult] = {}
    for client in (cheater, honest):
        for kind in ("match.MatchFound", "match.DuelSignal", "match.DuelResult", "match.MatchAborted"):
            events[client, kind] = gevent.event.AsyncResult()
            client.on(kind, lambda event, key=(client, kind): events[key].set(event))

    def event(client: GameClient, kind: str) -> Any:
        return events[client, kind].get(timeout=30 * time_factor())

    def play(client: GameClient, wait_s: float, claim_ms: int | None) -> None:
        event(client, "match.DuelSignal")
        signalled = time.monotonic()
        gevent.sleep(wait_s)
        elapsed_ms = int((time.monotonic() - signalled) * 1000)
        client.call("match.duel_shoot", match_id=match_id, reaction_ms=elapsed_ms if claim_ms is None else claim_ms)

    try:
        cheater.call("match.enqueue", mode="duel")
        honest.call("match.enqueue", mode="duel")
        match_id = event(cheater, "match.MatchFound").match_id
        assert event(honest, "match.MatchFound").match_id == match_id, "matched with each other"
        room = next(m.service.rooms[match_id] for m in platform.matches if match_id in m.service.rooms)
        players = [gevent.spawn(play, cheater, 0.35, 100), gevent.spawn(play, honest, 0.2, None)]
        for client in (cheater, honest):
            client.call("match.duel_ready", match_id=match_id)
        gevent.joinall(players, raise_error=True)
        result = event(honest, "match.DuelResult")
    finally:
        cheater.close()
        honest.close()
    me, them = cheater.account.account_id, honest.account.account_id
    rtt_ms = room.shots[me].rtt_ms
    assert rtt_ms is not None and 0 < rtt_ms < 1000, f"the broker measured the cheater's round trip: {rtt_ms}"
    assert room.shots[them].rtt_ms is not None
    credited = result.reaction_ms[me]
    assert credited >= 350 - rtt_ms - room.rules.relay_allowance_ms, (credited, rtt_ms)
    assert (result.winner_id, result.verdict, result.fouls) == (them, Verdict.FASTER, {}), result
    assert result.reaction_ms[them] < credited


@contextlib.contextmanager
def match_processes(platform: Platform, count: int, **tuning: str) -> Iterator[list[ServiceProcess]]:
    env = {
        **platform.env("match"),
        "HN_MATCH_TICK_S": "0.05",
        "HN_MATCH_SIGNAL_DELAY_S": "60,60",  # the duel is still waiting for its signal when killed
        # Its own queue: another test platform on the same tier must not match these players.
        "HN_MATCH_MODES": "kill9",
        **tuning,
    }
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(spawn_service("hn_match", service="match", env=env)) for _ in range(count)]


@dataclass
class _Duel:
    """Two players in a duel on one of the match processes, both ready, waiting for the signal."""

    a: GameClient
    b: GameClient
    sessions: tuple[str, str]
    match_id: str
    room: ServiceProcess
    other: ServiceProcess
    lost: list[Any] = field(default_factory=list)
    ends: list[tuple[str, Any]] = field(default_factory=list)

    def results_stored(self, tier: DataTier) -> int:
        pool = PgPool(tier.env["HN_PG_DSN"], size=1)
        try:
            players = [int(s) for s in self.sessions] * 2
            rows = pool.fetchall(
                "SELECT count(*) FROM match_results WHERE player_a IN (%s, %s) OR player_b IN (%s, %s)",
                tuple(players),
                primary=True,
            )
        finally:
            pool.close()
        return int(rows[0][0])


@contextlib.contextmanager
def _ready_duel(platform: Platform, procs: list[ServiceProcess], state: SessionState) -> Iterator[_Duel]:
    a, b = player(platform), player(platform)
    ready: list[str] = []
    lost: list[Any] = []
    ends: list[tuple[str, Any]] = []

    def get_ready(client: GameClient, found: Any) -> None:
        client.call("match.duel_ready", match_id=found.match_id)
        ready.append(found.match_id)

    for c in (a, b):
        c.on("broker.SessionLost", lost.append)
        c.on("match.MatchFound", lambda found, c=c: get_ready(c, found))
        for kind in ("match.DuelResult", "match.MatchAborted"):
            c.on(kind, lambda event, kind=kind: ends.append((kind, event)))
    sessions = (str(a.account.account_id), str(b.account.account_id))
    try:
        a.call("match.enqueue", mode="kill9")
        b.call("match.enqueue", mode="kill9")
        instance = wait_for(lambda: _shared_room(state, *sessions), message="a room for both")
        # Both players know of the duel: a player it never told has nothing to lose.
        wait_for(lambda: len(ready) == 2, message="both players told of the duel, and ready")
        room = next(p for p in procs if p.instance_id == instance)
        other = next(p for p in procs if p is not room)
        yield _Duel(a, b, sessions, ready[0], room, other, lost, ends)
    finally:
        a.close()
        b.close()


def test_the_rooms_instance_dies_mid_duel_both_hear_it_and_queue_again(data_tier: DataTier) -> None:
    """kill -9 the instance holding a duel: a clear abort for both, no rating change, play on."""
    with platform_on(data_tier, brokers=2) as platform, match_processes(platform, 2) as procs:
        wait_for(lambda: platform.live("match") == 2, message="two match processes up")
        state = SessionState(redis_from_url(data_tier.env["HN_REDIS_URL"]))
        with _ready_duel(platform, procs, state) as duel:
            duel.room.process.kill()
            wait_for(lambda: len(duel.lost) == 2, timeout=30, message="both players told the duel is lost")
            assert all(getattr(e, "family", "") == "duel" for e in duel.lost)
            # Told SessionLost, the binding is dropped: the duel is no more (the survivor says so).
            with pytest.raises(MatchError) as gone:
                duel.a.call("match.duel_shoot", match_id="any", reaction_ms=250)
            assert gone.value.code == MatchErrorCode.NOT_IN_MATCH
            assert duel.results_stored(data_tier) == 0, "no result, no rating change"
            # Free to queue again at once, on the survivor (which also took the matchmaking over).
            for c in (duel.a, duel.b):
                wait_for(lambda c=c: _enqueued(c), message="queued again")
            assert wait_for(lambda: _shared_room(state, *duel.sessions), message="a new room") == duel.other.instance_id


def test_a_stopped_rooms_instance_given_up_for_lost_records_nothing_when_it_resumes(data_tier: DataTier) -> None:
    """SIGSTOP the instance holding a duel until yellow marks it down: both players are told the
    duel is lost. A shot that reached it meanwhile decides the duel once it runs again (a foul,
    before the signal), and it must not count: the brokers settled the duel as lost first, so
    the room calls it off, stores nothing and says so."""
    with platform_on(data_tier, brokers=2) as platform, match_processes(platform, 2) as procs:
        wait_for(lambda: platform.live("match") == 2, message="two match processes up")
        state = SessionState(redis_from_url(data_tier.env["HN_REDIS_URL"]))
        given_up = _lost_bindings("lost")
        with _ready_duel(platform, procs, state) as duel:
            duel.room.signal(signal.SIGSTOP)
            try:
                # Routed to the stopped room (still bound): it waits in its socket.
                shot = gevent.spawn(duel.a.call, "match.duel_shoot", match_id=duel.match_id, reaction_ms=250)
                wait_for(lambda: len(duel.lost) == 2, timeout=30, message="both players told the duel is lost")
            finally:
                duel.room.signal(signal.SIGCONT)
            wait_for(lambda: len(duel.ends) == 2, timeout=30, message="the room ended the duel once resumed")
            assert {kind for kind, _ in duel.ends} == {"match.MatchAborted"}, duel.ends
            assert all("called off" in event.reason for _, event in duel.ends), duel.ends
            assert duel.results_stored(data_tier) == 0, "told lost, so not counted"
            assert _lost_bindings("lost") - given_up == 2
            shot.join(timeout=30)


def test_a_room_that_settled_its_duel_before_dying_is_not_reported_lost(data_tier: DataTier) -> None:
    """The room claims its duel's end just before it records the result; dying right after, it
    leaves an outcome that may or may not have counted. The brokers must not tell its players
    it was lost (they would be told a failure that may have happened): they hear nothing of it
    and learn where they stand by asking (match.status), and the instance is still given up."""
    with platform_on(data_tier, brokers=2) as platform, match_processes(platform, 2) as procs:
        wait_for(lambda: platform.live("match") == 2, message="two match processes up")
        state = SessionState(redis_from_url(data_tier.env["HN_REDIS_URL"]))
        before = _lost_bindings("decided")
        with _ready_duel(platform, procs, state) as duel:
            assert state.settle(f"duel:{duel.match_id}", DECIDED) == DECIDED  # the room's claim
            duel.room.process.kill()
            wait_for(lambda: _lost_bindings("decided") - before == 2, timeout=30, message="both bindings given up")
            with pytest.raises(MatchError) as over:
                duel.a.call("match.duel_shoot", match_id=duel.match_id, reaction_ms=250)
            assert over.value.code == MatchErrorCode.NOT_IN_MATCH
            # After a round trip on a's connection: a push sent to it before would be here.
            assert duel.lost == [], "no SessionLost for a duel that may have counted"


def test_a_player_away_when_the_rooms_instance_died_hears_it_on_resume(data_tier: DataTier) -> None:
    """The player's connection is gone (no logout) when the room's instance dies: nobody can tell
    it then. Resuming the session on a broker that knows the instance is gone tells it at once,
    settling the duel as lost, instead of leaving it bound to a dead room."""
    with platform_on(data_tier, brokers=2) as platform, match_processes(platform, 2) as procs:
        wait_for(lambda: platform.live("match") == 2, message="two match processes up")
        state = SessionState(redis_from_url(data_tier.env["HN_REDIS_URL"]))
        with _ready_duel(platform, procs, state) as duel:
            token = duel.a.token
            duel.a.close()  # away, the session and its binding kept
            wait_for(lambda: state.broker_of(duel.sessions[0]) is None, message="the session detached")
            duel.room.process.kill()
            wait_for(lambda: platform.live("match") == 1, timeout=30, message="the room's instance marked down")
            returning = GameClient(platform.brokerlist_url, reconnect=False).connect()
            lost: list[Any] = []
            returning.on("broker.SessionLost", lost.append)
            try:
                returning.call("broker.resume", token=token)
                wait_for(lambda: len(lost) == 1, message="told the duel is lost on resume")
                assert lost[0].family == "duel"
                assert state.fate_of(f"duel:{duel.match_id}") == LOST
            finally:
                returning.close()


def test_a_duel_called_off_by_a_player_ends_settled_for_both(data_tier: DataTier) -> None:
    """A player leaves before the signal: both hear MatchAborted, nothing is stored, and the
    duel's fate is settled, so its room key (should its cleanup fail) reads as over."""
    with platform_on(data_tier, brokers=2) as platform, match_processes(platform, 2) as procs:
        wait_for(lambda: platform.live("match") == 2, message="two match processes up")
        state = SessionState(redis_from_url(data_tier.env["HN_REDIS_URL"]))
        with _ready_duel(platform, procs, state) as duel:
            duel.a.call("match.duel_leave", match_id=duel.match_id)  # the signal is a minute away
            wait_for(lambda: len(duel.ends) == 2, message="both told")
            assert {kind for kind, _ in duel.ends} == {"match.MatchAborted"}
            assert state.fate_of(f"duel:{duel.match_id}") == DECIDED
            assert duel.results_stored(data_tier) == 0


def test_a_draining_rooms_instance_lets_its_duel_finish_while_new_players_are_matched_elsewhere(
    data_tier: DataTier,
) -> None:
    """SIGTERM (a deploy) the instance holding a duel: it takes no new duels and hands its
    matchmaking over at once, but the duel goes on there (brokers still route it) to a stored
    result; players who queue meanwhile are matched on the other instance; then it exits 0."""
    tuning = {
        "HN_MATCH_MODES": "drain",
        # The players hold their duel_ready until the instance drains: the duel must wait for it.
        "HN_MATCH_READY_TIMEOUT_S": "60",
        "HN_MATCH_SIGNAL_DELAY_S": "0.2,0.4",
    }
    redis = redis_from_url(data_tier.env["HN_REDIS_URL"])
    state = SessionState(redis)
    with platform_on(data_tier, brokers=2) as platform, match_processes(platform, 1, **tuning) as (leaving,):
        wait_for(lambda: platform.live("match") == 1, message="the first match process up")
        a, b = player(platform), player(platform)
        pushes: dict[tuple[GameClient, str], gevent.event.AsyncResult] = {}
        lost: list[Any] = []
        for client in (a, b):
            client.on("broker.SessionLost", lost.append)
            for kind in ("match.MatchFound", "match.DuelSignal", "match.DuelResult", "match.MatchAborted"):
                pushes[client, kind] = gevent.event.AsyncResult()
                client.on(kind, pushes[client, kind].set)

        def push(client: GameClient, kind: str) -> Any:
            return pushes[client, kind].get(timeout=30 * time_factor())

        try:
            for client in (a, b):
                client.call("match.enqueue", mode="drain")
            match_id = push(a, "match.MatchFound").match_id
            assert push(b, "match.MatchFound").match_id == match_id
            sessions = (str(a.account.account_id), str(b.account.account_id))
            assert _shared_room(state, *sessions) == leaving.instance_id, "the only instance holds the room"
            with match_processes(platform, 1, **tuning) as (staying,), _players(platform, 2) as (c, d):
                wait_for(lambda: platform.live("match") == 2, message="the second match process up")
                leaving.signal(signal.SIGTERM)
                wait_for(
                    lambda: _state_of(platform, leaving.instance_id) == "draining", message="the first one draining"
                )
                lease = "hn:match:matchmaker:drain"
                wait_for(lambda: redis.get(lease) == staying.instance_id.encode(), message="matchmaking handed over")
                # Players queueing now are matched on the other instance.
                for client in (c, d):
                    client.call("match.enqueue", mode="drain")
                new = (str(c.account.account_id), str(d.account.account_id))
                assert wait_for(lambda: _shared_room(state, *new), message="a room for c and d") == staying.instance_id
                assert leaving.process.poll() is None, "still draining: its duel is not over"
                # The duel on the draining instance plays to its end.
                for client in (a, b):
                    client.call("match.duel_ready", match_id=match_id)
                for client in (a, b):
                    push(client, "match.DuelSignal")
                    client.call("match.duel_shoot", match_id=match_id, reaction_ms=250)
                results = [push(client, "match.DuelResult") for client in (a, b)]
                assert results[0] == results[1] and results[0].match_id == match_id
                assert leaving.process.wait(timeout=30 * time_factor()) == 0, "drained, it exits 0"
                assert lost == [], "no SessionLost: nothing was lost"
                assert not any(pushes[client, "match.MatchAborted"].ready() for client in (a, b))
            assert state.fate_of(f"duel:{match_id}") == DECIDED
            pool = PgPool(data_tier.env["HN_PG_DSN"], size=1)
            try:
                rows = pool.fetchall("SELECT winner FROM match_results WHERE match_id = %s", (match_id,), primary=True)
            finally:
                pool.close()
            assert rows == [(results[0].winner_id,)], "the result stored once"
        finally:
            a.close()
            b.close()


@contextlib.contextmanager
def _players(platform: Platform, count: int) -> Iterator[list[GameClient]]:
    clients = [player(platform) for _ in range(count)]
    try:
        yield clients
    finally:
        for client in clients:
            client.close()


def _state_of(platform: Platform, instance_id: str) -> str | None:
    return next(
        (i.state for i in platform.discovery.directory.instances("match") if i.instance_id == instance_id), None
    )


def _lost_bindings(outcome: str) -> float:
    return REGISTRY.get_sample_value("hn_broker_bindings_lost_total", {"outcome": outcome}) or 0.0


def _shared_room(state: SessionState, *sessions: str) -> str | None:
    """The instance all `sessions` are bound to for "duel", if they are bound to the same one."""
    rooms = {b.instance_id if (b := state.bindings(sid).get("duel")) else None for sid in sessions}
    return rooms.pop() if len(rooms) == 1 else None


def _enqueued(client: GameClient) -> bool:
    try:
        return bool(client.call("match.enqueue", mode="kill9").state == QueueState.QUEUED)
    except MatchError as exc:
        assert exc.code == MatchErrorCode.IN_DUEL, exc  # until yellow shows the room's instance down
        return False
