"""What docs/client-protocol.md promises a game client, through real brokers and a real match.

- "No such duel" and "the duel's holder is gone" are told apart: a duel call without a duel is
  answered by match, MatchError NOT_IN_MATCH; a duel call whose room's instance is gone is the
  broker's ClientError SESSION_LOST (with a `broker.SessionLost` push).
- A result pushed while the player was away longer than its mailbox keeps pushes is fetched on
  return (`match.last_result`; the SDK's Duelist does it after a resume).
- Players who start together spread over the brokers (the SDK draws a broker by spare capacity).
"""

from __future__ import annotations

import itertools
import json
import os
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import gevent.event
import pytest
from gevent.pywsgi import WSGIServer

from hn_client import BrokerRejected, Duelist, DuelOutcome, GameClient, fetch_brokers
from hn_datatier import redis_from_url
from hn_datatier.local import DataTier
from hn_edge import Edge
from hn_idl.client.ttypes import ClientError
from hn_idl.match.ttypes import MatchError, MatchErrorCode, Verdict
from hn_runtime.testing import time_factor, wait_for

from _platform import Platform, platform_on

pytestmark = pytest.mark.integration

_devices = itertools.count()


@pytest.fixture(scope="module")
def platform(data_tier: DataTier) -> Iterator[Platform]:
    with platform_on(data_tier, brokers=2, matches=1) as p:
        yield p


def player(brokerlist_url: str) -> GameClient:
    client = GameClient(brokerlist_url).connect()
    client.guest_login(f"e2e-protocol-{os.getpid()}-{next(_devices)}")
    return client


def _broker_holding(platform: Platform, session_id: str) -> Any:
    """The in-process broker (hn_broker's Broker) holding the session's connection."""
    holders = [b.service.broker for b in platform.brokers if session_id in b.service.broker.sessions]
    assert len(holders) == 1, holders
    return holders[0]


def test_a_duel_call_without_a_duel_is_matchs_not_in_match_before_and_after_one(platform: Platform) -> None:
    a, b = player(platform.brokerlist_url), player(platform.brokerlist_url)
    try:
        with pytest.raises(MatchError) as before:
            a.call("match.duel_ready", match_id="no-such-duel")
        assert before.value.code == MatchErrorCode.NOT_IN_MATCH, "before any duel"
        duels = [gevent.spawn(Duelist(c).duel, timeout=60) for c in (a, b)]
        gevent.joinall(duels, raise_error=True)
        outcome = duels[0].value
        assert outcome.result is not None, outcome
        with pytest.raises(MatchError) as after:
            a.call("match.duel_shoot", match_id=outcome.match_id, reaction_ms=250)
        assert after.value.code == MatchErrorCode.NOT_IN_MATCH, "after a duel played to its end"
        assert a.call("match.last_result") == outcome.result, "the stored result is the one pushed"
    finally:
        a.close()
        b.close()


def test_a_duel_call_whose_rooms_instance_is_gone_is_the_brokers_session_lost(platform: Platform) -> None:
    client = player(platform.brokerlist_url)
    lost: list[Any] = []
    client.on("broker.SessionLost", lost.append)
    try:
        session_id = str(client.account.account_id)
        # A room on an instance that is not (any more) among match's live ones: its holder is gone.
        gone = Edge(
            redis_from_url(platform.tier.env["HN_REDIS_URL"]),
            instance_id="match-gone",
            directory=platform.discovery.directory,
        )
        gone.bind(session_id, "duel", fate=f"duel:gone-{os.getpid()}-{next(_devices)}")
        broker = _broker_holding(platform, session_id)
        wait_for(lambda: "duel" in broker.sessions[session_id].bindings, message="the broker knows the binding")
        with pytest.raises(BrokerRejected) as refused:
            client.call("match.duel_shoot", match_id="any", reaction_ms=250)
        assert refused.value.code == ClientError.SESSION_LOST, refused.value
        wait_for(lambda: len(lost) == 1, message="told with a push too")
        assert lost[0].family == "duel"
        with pytest.raises(MatchError) as after:
            client.call("match.duel_shoot", match_id="any", reaction_ms=250)
        assert after.value.code == MatchErrorCode.NOT_IN_MATCH, "once given up, there is no such duel"
    finally:
        client.close()


class _Brokerlist:
    """A brokerlist in front of the platform's that can list no broker: a player who reconnects
    through it stays away until it lists them again."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.empty = gevent.event.Event()
        self._server = WSGIServer(("127.0.0.1", 0), self._app, log=None)

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with urllib.request.urlopen(self.upstream, timeout=5) as response:
            document = json.load(response)
        if self.empty.is_set():
            document["brokerList"] = {}
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(document).encode()]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/"

    def __enter__(self) -> _Brokerlist:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()


def test_a_result_pushed_while_away_longer_than_the_mailbox_is_fetched_on_return(platform: Platform) -> None:
    """A is away from the moment it is ready until well after the duel ended (it times out: B
    wins). Its DuelSignal and DuelResult pushes wait in its mailbox, which expires before A is
    back. Resumed, A's Duelist asks for its result instead of reporting the duel lost."""
    redis = redis_from_url(platform.tier.env["HN_REDIS_URL"])
    match = platform.matches[0].service
    assert match.edge is not None
    kept_for = match.edge.state.mailbox_ttl_s
    with _Brokerlist(platform.brokerlist_url) as gated:
        a, b = player(gated.url), player(platform.brokerlist_url)
        mailbox = f"hn:sess:{a.account.account_id}:mailbox"

        def leave_once_ready(type_: str, call: Callable[[], Any]) -> Any:
            answer = call()
            if type_ == "match.duel_ready":
                gated.empty.set()  # no broker to come back to for now
                assert a.connection is not None
                a.connection.close()
            return answer

        try:
            # The match instance keeps pushes for an absent player one second (a minute by default).
            match.edge.state.mailbox_ttl_s = 1
            away = gevent.spawn(Duelist(a).duel, timeout=60 * time_factor(), timed=leave_once_ready)
            present = gevent.spawn(Duelist(b).duel, timeout=60 * time_factor())
            present.join(timeout=60 * time_factor())
            won: DuelOutcome = present.get(block=False)
            assert won.result is not None and won.result.verdict == Verdict.TIMEOUT, won
            assert won.won, "A never shot"
            wait_for(lambda: redis.exists(mailbox) == 0, message="A's mailbox expired, its result in it")
            assert not away.ready(), "A is still away, waiting for its duel's end"
            gated.empty.clear()  # A finds a broker again, resumes, and finds nothing waiting
            missed: DuelOutcome = away.get(timeout=30 * time_factor())
            assert missed.match_id == won.match_id
            assert missed.aborted is None, missed
            assert missed.result == won.result, "the result A missed, as B was told it"
            assert not missed.won
        finally:
            match.edge.state.mailbox_ttl_s = kept_for
            a.close()
            b.close()


def test_players_starting_together_spread_over_the_brokers(platform: Platform) -> None:
    """200 players fetch brokerlist at the same moment, when both brokers report the same load.
    Taking the least loaded one, ties to the lowest address, put them all on one broker."""
    wait_for(lambda: len(fetch_brokers(platform.brokerlist_url)) == 2, message="brokerlist lists both brokers")
    players = 200
    held = [len(b.service.broker.connections) for b in platform.brokers]
    clients: list[GameClient] = []
    try:
        starting = [gevent.spawn(lambda: GameClient(platform.brokerlist_url).connect()) for _ in range(players)]
        gevent.joinall(starting, raise_error=True, timeout=60 * time_factor())
        clients = [g.value for g in starting]
        counts = [len(b.service.broker.connections) - before for b, before in zip(platform.brokers, held, strict=True)]
        assert sum(counts) == players, counts
        shares = [count / players for count in counts]
        assert all(0.35 <= share <= 0.65 for share in shares), f"connections per broker: {counts}"
    finally:
        for client in clients:
            client.close()
