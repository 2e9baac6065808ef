"""Service identity on the platform (CURVE on, as `hn up` runs it): issue 16's internal attacks.

An attacker on the network reaches every ZeroMQ port. Without a key the CURVE authority names,
nothing answers. With the key of a service that is not a broker, a player's session id in the
envelope makes no one a player, and `broker.deliver` pushes nothing to a player's client.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from hn_client import GameClient
from hn_client.testing import RawClient
from hn_datatier import redis_from_url
from hn_datatier.local import DataTier
from hn_edge import SessionState
from hn_idl.client.constants import PACKET_VERSION
from hn_idl.client.ttypes import ClientError, Packet, PacketKind
from hn_idl.match.ttypes import DuelResult, MatchError, MatchErrorCode, QueueState, Verdict
from hn_runtime import ServiceUnavailable, Unauthenticated, get_service
from hn_runtime.curve import CurveKeys
from hn_runtime.testing import time_factor, wait_for
from hn_runtime.wire import encode, load_idl, spec_of

from _platform import Platform, platform_on

_devices = itertools.count()
DELIVER = load_idl("broker").methods["deliver"]
END_SESSION = load_idl("broker").methods["end_session"]


@pytest.fixture(scope="module")
def platform(data_tier: DataTier) -> Iterator[Platform]:
    with platform_on(data_tier, matches=1) as p:
        yield p


@pytest.fixture
def player(platform: Platform) -> Iterator[GameClient]:
    client = GameClient(platform.brokerlist_url).connect()
    client.guest_login(f"e2e-identity-{os.getpid()}-{next(_devices)}")
    try:
        yield client
    finally:
        client.close()


def as_service(platform: Platform, service: str, keys: CurveKeys, kind: str = "REP", **options: Any) -> Any:
    """A client of `service` found through yellow, presenting `keys`."""
    return get_service(service, kind, directory=platform.discovery.directory, curve_keys=keys, **options)


def deliver_body(session_id: str, result: DuelResult) -> bytes:
    packet = Packet(
        version=PACKET_VERSION,
        kind=PacketKind.PUSH,
        type="match.DuelResult",
        seq=0,
        body=encode(result, spec_of(result.__class__)),
    )
    return encode(DELIVER.args_cls(session_id=session_id, packet=encode(packet, spec_of(Packet))), DELIVER.args_spec)


def test_without_a_key_of_the_authority_neither_match_nor_a_broker_answers(platform: Platform) -> None:
    stranger = CurveKeys.generate()
    with pytest.raises(ServiceUnavailable, match="refused this client's CURVE key"):
        as_service(platform, "match", stranger, timeout=5 * time_factor()).status()
    with pytest.raises(ServiceUnavailable, match="refused this client's CURVE key"):
        as_service(platform, "broker", stranger, raw=True, timeout=5 * time_factor()).forward(
            DELIVER, deliver_body("1", DuelResult(match_id="forged"))
        )
    # No CURVE at all: the handshake itself fails.
    plaintext = get_service("match", endpoints=[platform.matches[0].endpoints["rep"]], timeout=2 * time_factor())
    with pytest.raises(ServiceUnavailable):
        plaintext.status()


def test_a_session_id_from_anything_but_a_broker_makes_no_one_a_player(
    platform: Platform, player: GameClient, data_tier: DataTier
) -> None:
    account = str(player.account.account_id)
    queue = redis_from_url(data_tier.env["HN_REDIS_URL"])
    impostor = as_service(platform, "match", platform.identities.keys("sso")).with_options(session_id=account)
    for call in (impostor.status, lambda: impostor.enqueue(mode="duel")):
        with pytest.raises(MatchError) as refused:
            call()
        assert refused.value.code == MatchErrorCode.INVALID_INPUT and "needs a session" in refused.value.message
    assert queue.zscore("hn:match:{duel}:queue", account) is None, "the impostor queued no one"
    # The same call with the broker's key (the test process's) is the player's: only the key differs.
    broker = as_service(platform, "match", platform.identities.keys("broker")).with_options(session_id=account)
    assert broker.status().state == QueueState.IDLE
    # And through a broker, as the player.
    assert player.call("match.enqueue", mode="duel").state == QueueState.QUEUED
    player.call("match.cancel")


def test_only_services_granted_push_reach_a_players_client(platform: Platform, player: GameClient) -> None:
    account = str(player.account.account_id)
    results: list[DuelResult] = []
    player.on("match.DuelResult", results.append)
    state = SessionState(redis_from_url(platform.tier.env["HN_REDIS_URL"]))
    broker_id = state.broker_of(account)
    assert broker_id is not None
    forged = deliver_body(account, DuelResult(match_id="forged", winner_id=int(account), verdict=Verdict.FASTER))
    brokerlist = platform.identities.keys("brokerlist")  # a service of the platform, not granted push

    with pytest.raises(Unauthenticated, match="broker.deliver is for services granted 'push'"):
        as_service(platform, "broker", brokerlist, raw=True).forward(DELIVER, forged, instance_id=broker_id)

    def refused() -> float:
        labels = {"service": "broker", "method": "deliver", "caller": "brokerlist"}
        return REGISTRY.get_sample_value("hn_unauthorized_calls_total", labels) or 0.0

    before = refused()
    as_service(platform, "broker", brokerlist, "PUSH", raw=True).push_raw(DELIVER, forged, instance_id=broker_id)
    wait_for(lambda: refused() == before + 1, message="the forged push refused and counted")
    genuine = deliver_body(account, DuelResult(match_id="genuine", verdict=Verdict.DRAW))
    as_service(platform, "broker", platform.identities.keys("match"), "PUSH", raw=True).push_raw(
        DELIVER, genuine, instance_id=broker_id
    )
    wait_for(lambda: results, message="match's push delivered")
    assert [r.match_id for r in results] == ["genuine"], "the forged result never reached the player"


def test_only_sso_and_brokers_end_a_players_session(platform: Platform) -> None:
    raw = RawClient(platform.brokers[0].endpoints["client"])
    try:
        account = str(raw.guest_login().account_id)
        state = SessionState(redis_from_url(platform.tier.env["HN_REDIS_URL"]))
        broker_id = state.broker_of(account)
        body = encode(
            END_SESSION.args_cls(session_id=account, code=ClientError.SESSION_ENDED, reason="forged"),
            END_SESSION.args_spec,
        )
        match = platform.identities.keys("match")  # pushes to players, but ends no one's session
        with pytest.raises(Unauthenticated, match="broker.end_session is for services granted 'kick'"):
            as_service(platform, "broker", match, raw=True).forward(END_SESSION, body, instance_id=broker_id)
        labels = {"service": "broker", "method": "end_session", "caller": "match"}
        before = REGISTRY.get_sample_value("hn_unauthorized_calls_total", labels) or 0.0
        as_service(platform, "broker", match, "PUSH", raw=True).push_raw(END_SESSION, body, instance_id=broker_id)
        wait_for(
            lambda: (REGISTRY.get_sample_value("hn_unauthorized_calls_total", labels) or 0.0) == before + 1,
            message="the forged end_session refused and counted",
        )
        raw.ping()  # still served
        sso = platform.identities.keys("sso")
        as_service(platform, "broker", sso, "PUSH", raw=True).push_raw(END_SESSION, body, instance_id=broker_id)
        ended = raw.read()
        assert ended is not None and ended.error_code == ClientError.SESSION_ENDED, ended
        assert raw.closed()
    finally:
        raw.close()
