"""The match service: handlers for `idl/match.thrift`, wiring the queue, the matchmaker and rooms.

Draining (SIGTERM, a deploy) loses no duel: the instance takes no new room (`host_duel` is refused
DRAINING, so the matchmaker's call goes to another instance), hands its matchmaking leases over at
once, and keeps serving the duel messages of the rooms it holds (`drain_exempt`; brokers still
route a bound session to a draining instance) until the last one ends, within a window as long as
the longest duel (`drain_window`).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import gevent
from prometheus_client import Counter, Gauge

from hn_datatier import DependencyGuard, PgPool, apply_migrations, load_migrations, redis_from_url
from hn_edge import Edge
from hn_idl.match import Match  # pants: no-infer-dep (generated service module)
from hn_idl.match.ttypes import DuelResult, MatchError, MatchErrorCode, QueueState, QueueStatus
from hn_match._config import MatchConfig
from hn_match._judge import Judgement
from hn_match._lease import Lease
from hn_match._matchmaker import Matchmaker
from hn_match._pairing import Waiting
from hn_match._queue import MatchQueue
from hn_match._results import Results
from hn_match._room import Room, duel_fate
from hn_match._tally import Tally
from hn_runtime import HNError, Service, Session, get_service, new_trace_id
from hn_runtime.discovery import UP, Directory, Instance, default_directory

__all__ = ["MatchService"]

ROOMS = Gauge("hn_match_rooms", "Duel rooms open on this instance.")
DUELS = Counter("hn_match_duels_total", "Duels ended, by verdict (or 'aborted').", ["verdict"])
RESULT_RETRIES = 5
#: seconds a drained instance gives its last pushes to leave before it closes its sockets
_PUSH_GRACE_S = 0.5
T = TypeVar("T")


def _error(code: int, message: str) -> MatchError:
    return MatchError(code=code, message=message)


def _player(session: Session) -> int:
    """The account id the broker stamped on the call (session ids are account ids)."""
    if session.id is None or not session.id.isdigit():
        raise _error(MatchErrorCode.INVALID_INPUT, f"match.{session.method} is a player's call: it needs a session")
    return int(session.id)


class MatchService(Service):
    name = "match"
    idl = Match
    # The rooms it holds play to their end while it drains; everything else goes elsewhere.
    drain_exempt = frozenset({"duel_ready", "duel_shoot", "duel_leave"})
    # Rooms are opened by the matchmaker, which runs on match instances: no other service (a
    # broker, a compromised brokerlist host) may force two players into a duel.
    required_grants = {"host_duel": "host"}

    def __init__(self, config: MatchConfig | None = None, *, directory: Directory | None = None) -> None:
        super().__init__()
        self.config = config or MatchConfig.from_env()
        self._directory = directory
        self._pool = PgPool(self.config.pg_dsn, size=self.config.pg_pool_size)
        self.results = Results(self._pool)
        self._redis = redis_from_url(self.config.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.queue = MatchQueue(self._redis)
        self._guarded = DependencyGuard(
            "match", lambda dep: _error(MatchErrorCode.INTERNAL, f"{dep} unavailable, try again"), log=self.log
        )
        self.rooms: dict[str, Room] = {}
        #: duels held here: from host_duel until the room has stored and announced its end
        self.duels = Tally()
        self._live: set[str] = set()
        #: match instances taking new rooms (up, not draining), as the directory last said
        self._taking: set[str] = set()
        self._unwatch: Any = None
        self.edge: Edge | None = None
        self.matchmaker: Matchmaker | None = None
        ROOMS.set_function(lambda: len(self.rooms))

    # -- lifecycle ---------------------------------------------------------------------------

    def on_start(self) -> None:
        assert self.server is not None
        applied = apply_migrations(self._pool, "match", load_migrations("hn_match"))
        if applied:
            self.log.info("migrations applied", versions=applied)
        instance = self.server.instance
        self.edge = Edge(self._redis, instance_id=instance)
        directory = self._directory or default_directory()
        self._unwatch = directory.watch("match", self._instances_changed)
        self._peers = get_service("match", directory=self._directory, timeout=5.0)
        self.matchmaker = Matchmaker(
            self.queue,
            {mode: Lease(self._redis, f"hn:match:matchmaker:{mode}", instance) for mode in self.config.modes},
            host=self._host_elsewhere,
            present=self._present,
            tolerance=self.config.tolerance,
            tick_s=self.config.tick_s,
        )
        self.matchmaker.start()

    def drain_window(self, configured: float) -> float:
        return max(configured, self.config.longest_duel_s)

    def on_drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        playing = self.duels.count
        self.log.info("draining: no new duels here, the rooms play to their end", duels=playing)
        if self.matchmaker is not None:
            self.matchmaker.stop(timeout=min(5.0, timeout))
        if not self.duels.wait_none(max(0.0, deadline - time.monotonic())):
            self.log.warning("drain window over with duels in progress", duels=self.duels.count)
        elif playing:
            # The last results' pushes are queued, not yet sent: the process's client sockets
            # close without lingering once the drain ends.
            gevent.sleep(min(_PUSH_GRACE_S, max(0.0, deadline - time.monotonic())))

    def on_stop(self) -> None:
        if self.matchmaker is not None:
            self.matchmaker.stop()
        for room in list(self.rooms.values()):
            room.abort("the server holding the duel is shutting down")
        if self._unwatch is not None:
            self._unwatch()
        self._pool.close()

    def load(self) -> float:
        return max(super().load(), len(self.rooms) / max(1, self.config.capacity))

    def _instances_changed(self, instances: Sequence[Instance]) -> None:
        self._live = {i.instance_id for i in instances if i.state != "down"}
        self._taking = {i.instance_id for i in instances if i.state == UP}

    # -- the queue ---------------------------------------------------------------------------

    def _in_duel(self, room: tuple[str, str] | None, player: int) -> str | None:
        """The match id of the player's duel, if its instance is alive (else forget it)."""
        if room is None:
            return None
        instance, match_id = room
        if self.server is not None and instance == self.server.instance:
            going = match_id in self.rooms
        else:
            going = instance in self._live and self._edge().state.fate_of(duel_fate(match_id)) is None
        if going:
            return match_id
        # Its instance died with the duel, or the duel is over (settled, or gone from this
        # instance) and its cleanup failed, e.g. during a Redis failover: the key must not keep
        # the player out of the queue.
        self.queue.clear_room(player, match_id)
        return None

    def _rating(self, player: int, copy: int | None) -> int:
        """The player's rating: the copy read with their keys, else PostgreSQL's (then copied)."""
        if copy is not None:
            return copy
        rating = self.results.rating(player)
        self.queue.keep_rating(player, rating)
        return rating

    def _status(self, player: int) -> QueueStatus:
        # One round trip in the common case: the player's keys and their place in the first
        # mode's queue (the one most are in); a player queued in another mode costs a second.
        likely = self.config.modes[0]
        room, mode, copy, (joined, queued) = self.queue.status(player, likely)
        match_id = self._in_duel(room, player)
        if match_id is not None:
            return QueueStatus(state=QueueState.IN_DUEL, mode="", rating=0, waited_ms=0, queued=0, match_id=match_id)
        mode = mode or likely
        if mode != likely:
            joined, queued = self.queue.position(mode, player)
        rating = self._rating(player, copy)
        if joined is None:
            return QueueStatus(state=QueueState.IDLE, mode=mode, rating=rating, waited_ms=0, queued=queued)
        waited = max(0, self.queue.now_ms() - joined)
        return QueueStatus(state=QueueState.QUEUED, mode=mode, rating=rating, waited_ms=waited, queued=queued)

    def on_enqueue(self, session: Session, request: Any) -> QueueStatus:
        player = _player(session)
        mode = self.config.valid_mode(request.mode)
        if mode is None:
            raise _error(MatchErrorCode.INVALID_INPUT, f"no queue {request.mode!r}; modes: {list(self.config.modes)}")

        def enqueue() -> QueueStatus:
            room, current, copy = self.queue.standing(player)
            match_id = self._in_duel(room, player)
            if match_id is not None:
                raise _error(MatchErrorCode.IN_DUEL, f"finish duel {match_id} first")
            if current is not None and current != mode:
                self.queue.remove(current, player)  # one queue at a time: the newest wish wins
            rating = self._rating(player, copy)
            joined, queued = self.queue.add(mode, player, rating)
            waited = max(0, self.queue.now_ms() - joined)
            return QueueStatus(state=QueueState.QUEUED, mode=mode, rating=rating, waited_ms=waited, queued=queued)

        return self._guarded(enqueue)

    def on_cancel(self, session: Session, request: Any) -> QueueStatus:
        player = _player(session)

        def cancel() -> QueueStatus:
            _, mode = self.queue.whereabouts(player)
            if mode is not None:
                self.queue.remove(mode, player)
            return self._status(player)

        return self._guarded(cancel)

    def on_status(self, session: Session, request: Any) -> QueueStatus:
        player = _player(session)
        return self._guarded(lambda: self._status(player))

    def on_last_result(self, session: Session, request: Any) -> DuelResult:
        player = _player(session)
        found = self._guarded(lambda: self.results.last(player))
        # No result yet: the IDL's zero value (Thrift has no null result in every language).
        return found or DuelResult(match_id="", reaction_ms={}, fouls={}, ratings={})

    def _present(self, players: Sequence[int]) -> list[bool]:
        assert self.edge is not None
        return [b is not None for b in self.edge.state.brokers_of([str(p) for p in players])]

    def _host_elsewhere(self, mode: str, a: Waiting, b: Waiting) -> bool:
        """The matchmaker's hand-off: open the room on the least busy instance (maybe this one)."""
        match_id = uuid.uuid4().hex
        if self._alone():
            return self._host_here(match_id, mode, a, b)
        try:
            self._peers.host_duel(**_room(match_id, mode, a, b))
            return True
        except (HNError, MatchError) as exc:
            self.log.warning("could not open a room: players requeued", match_id=match_id, error=str(exc))
            return False

    def _alone(self) -> bool:
        """Whether this instance is the only one taking new rooms: then it is the least busy one
        and opens the room itself, without a host_duel request to itself (its encoding, its
        handling, its reply: about a tenth of a duel's CPU). Several instances: the request goes
        to the least busy one, as the runtime picks it."""
        server = self.server
        return server is not None and not server.draining and self._taking <= {server.instance}

    def _host_here(self, match_id: str, mode: str, a: Waiting, b: Waiting) -> bool:
        """`host_duel` handled in-process: what the request would have done, same checks."""
        request = Match.host_duel_args(**_room(match_id, mode, a, b))
        trace_id = new_trace_id()
        try:
            self._host(request, trace_id)
            return True
        except Exception as exc:  # noqa: BLE001 - as a failed request would: the players are requeued
            self.log.warning(
                "could not open a room: players requeued", match_id=match_id, trace_id=trace_id, error=str(exc)
            )
            return False

    # -- rooms -------------------------------------------------------------------------------

    def on_host_duel(self, session: Session, request: Any) -> None:
        self._host(request, session.trace_id)

    def _host(self, request: Any, trace_id: str) -> None:
        assert self.server is not None and self.edge is not None
        a, b = request.player_a, request.player_b
        if a == b:
            raise _error(MatchErrorCode.INVALID_INPUT, "a player cannot duel themself")
        self.duels.add()  # before anything yields: a drain starting now waits for this room
        try:
            self._open_room(request, trace_id)
        except BaseException:
            self.duels.done()
            raise

    def _open_room(self, request: Any, trace_id: str) -> None:
        a, b = request.player_a, request.player_b
        room = Room(
            request.match_id,
            request.mode,
            {a: request.rating_a, b: request.rating_b},
            self,
            timing=self.config.timing,
            rules=self.config.rules,
            trace_id=trace_id,
        )
        lasts_s = int(self.config.longest_duel_s) + 60

        def host() -> list[str | None]:
            assert self.server is not None and self.edge is not None
            instance = self.server.instance

            def rooms(pipe: Any) -> None:
                for player in (a, b):
                    MatchQueue.queue_set_room(pipe, player, instance, room.match_id, lasts_s)

            # One round trip: both players' room keys and bindings, and where they are connected.
            return self.edge.bind_all([str(a), str(b)], "duel", fate=room.fate, also=rooms)

        brokers = self._guarded(host)
        self.rooms[room.match_id] = room
        room.open(brokers)
        # Debug: the one info line of a duel is its end (with the same trace id).
        self.log.debug("duel opened", match_id=room.match_id, players=[a, b], mode=room.mode, trace_id=trace_id)

    def _room(self, session: Session, match_id: str) -> tuple[Room, int]:
        player = _player(session)
        room = self.rooms.get(match_id)
        if room is None or player not in room.players:
            raise _error(MatchErrorCode.NOT_IN_MATCH, f"no duel {match_id} of yours here")
        return room, player

    def on_duel_ready(self, session: Session, request: Any) -> None:
        room, player = self._room(session, request.match_id)
        room.mark_ready(player)

    def on_duel_shoot(self, session: Session, request: Any) -> None:
        room, player = self._room(session, request.match_id)
        rtt_us = session.client_rtt_us
        room.shoot(player, request.reaction_ms, None if rtt_us is None else rtt_us / 1000)

    def on_duel_leave(self, session: Session, request: Any) -> None:
        room, player = self._room(session, request.match_id)
        room.leave(player)

    # -- RoomHost: what rooms ask of the instance ------------------------------------------------

    def locate(self, players: Sequence[int]) -> list[str | None] | None:
        assert self.edge is not None
        try:
            return self.edge.locate([str(p) for p in players])
        except Exception as exc:  # noqa: BLE001 - each push then looks for itself
            self._guarded.failed("redis", exc)
            return None

    def push(self, account_id: int, kind: str, event: Any, *, broker: str | None = None, located: bool = False) -> None:
        assert self.edge is not None
        try:
            self.edge.push(str(account_id), kind, event, broker=broker, located=located)
        except Exception as exc:  # noqa: BLE001 - one lost push must not kill the room
            self._guarded.failed("redis", exc)
            self.log.warning("push failed", account_id=account_id, kind=kind, error=str(exc))

    def finished(self, room: Room, judgement: Judgement | None, reason: str) -> None:
        try:
            self._end(room, judgement, reason)
        finally:
            self.duels.done()  # told, or given up on: a drain need not wait for it any more

    def _end(self, room: Room, judgement: Judgement | None, reason: str) -> None:
        ratings = None
        if judgement is not None:
            # Claim the duel's end before recording it: a broker that saw this instance marked
            # down (stopped, cut off) gave the duel up and told its players SessionLost, and a
            # result stored now would count a duel they were told was lost.
            settled = self._retried(lambda: self._edge().settle(room.fate), "duel not settled", room)
            if settled:
                ratings = self._retried(lambda: self.results.record(room.outcome(judgement)), "duel result lost", room)
                if ratings is None:
                    reason = "the result could not be stored"
            elif settled is None:
                reason = "the result could not be stored"
            else:
                reason = "called off: this instance was out of reach and the duel given up"
        else:
            # Settled too (once, best effort: nothing is recorded), so that a room key its
            # cleanup left behind reads as over wherever the player asks.
            with contextlib.suppress(MatchError):
                self._guarded(lambda: self._edge().settle(room.fate))
        # Free the players before telling them: a client that queues again the moment it hears
        # the result must not find itself still in this duel.
        brokers = self._close(room, ratings)
        if judgement is None or ratings is None:
            DUELS.labels("aborted").inc()
            self.log.info("duel aborted", match_id=room.match_id, reason=reason, trace_id=room.trace_id)
            kind, event = "match.MatchAborted", room.aborted_event(reason)
        else:
            verdict = room.outcome(judgement).verdict
            DUELS.labels(verdict.lower()).inc()
            self.log.info(
                "duel over",
                match_id=room.match_id,
                trace_id=room.trace_id,
                winner=judgement.winner,
                verdict=verdict,
                reaction_ms=judgement.reaction_ms,
                fouls=judgement.fouls,
                claimed_ms={p: shot.reaction_ms for p, shot in room.shots.items()},
                rtt_ms={p: shot.rtt_ms for p, shot in room.shots.items()},
            )
            kind, event = "match.DuelResult", DuelResult(
                match_id=room.match_id,
                winner_id=judgement.winner,
                verdict=judgement.verdict,
                reaction_ms=judgement.reaction_ms,
                fouls=judgement.fouls,
                ratings=ratings,
            )
        for player, broker in zip(room.players, brokers or (None, None), strict=True):
            self.push(player, kind, event, broker=broker, located=brokers is not None)

    def _edge(self) -> Edge:
        assert self.edge is not None
        return self.edge

    def _retried(self, step: Callable[[], T], failure: str, room: Room) -> T | None:
        """`step` through a PostgreSQL or Redis failover (retried with backoff; a repeat is
        harmless: results are keyed by match id, a settled fate stays settled); None if the
        dependency stays down."""
        for attempt in range(RESULT_RETRIES):
            try:
                return self._guarded(step)
            except MatchError:  # the guard's: a dependency failed, counted and logged
                gevent.sleep(0.5 * 2**attempt)
        self.log.error(failure, match_id=room.match_id, reason="dependency unavailable")
        return None

    def _close(self, room: Room, ratings: dict[int, int] | None) -> list[str | None] | None:
        """Free the players (and copy their new `ratings`) in one round trip: where they are
        connected, or None if Redis failed."""
        self.rooms.pop(room.match_id, None)
        assert self.edge is not None

        def rooms(pipe: Any) -> None:
            for player in room.players:
                MatchQueue.queue_clear_room(pipe, player, room.match_id)
            if ratings:
                MatchQueue.queue_ratings(pipe, ratings)

        try:
            return self.edge.unbind_all([str(p) for p in room.players], "duel", also=rooms)
        except Exception as exc:  # noqa: BLE001 - the keys expire anyway
            self.log.warning("could not free the players", account_ids=list(room.players), error=str(exc))
            return None


def _room(match_id: str, mode: str, a: Waiting, b: Waiting) -> dict[str, Any]:
    """host_duel's arguments for a room of `a` and `b`, sent to a peer or handled here alike."""
    return {
        "match_id": match_id,
        "mode": mode,
        "player_a": a.account_id,
        "rating_a": a.rating,
        "player_b": b.account_id,
        "rating_b": b.rating,
    }
