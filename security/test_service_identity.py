"""Service identity on the platform (CURVE on, as `hn up` runs it): issue 16's attacks on the
internal ZeroMQ ports.

An attacker on the network reaches every ZeroMQ port. Without a key the CURVE authority names,
nothing answers. With the key of another service of the platform (a compromised host), yellow
registers no fake sso, a player's session id in the envelope makes no one a player, match hosts no
duel it did not arrange, and `broker.deliver`/`bound`/`end_session` reach no player's client.
Each test reads back what the attack would have changed: yellow's registrations, the queue, the
edge's records and bindings in Redis, the player's connection.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest
import zmq.green as zmq
from prometheus_client import REGISTRY

from hn_client import GameClient
from hn_datatier import redis_from_url
from hn_datatier.local import DataTier
from hn_idl.client.ttypes import ClientError
from hn_idl.match.ttypes import DuelResult, MatchError, MatchErrorCode, QueueState, Verdict
from hn_idl.yellow import Yellow  # pants: no-infer-dep (generated service module)
from hn_idl.yellow.ttypes import InstanceInfo, InvalidRegistration
from hn_runtime import ServiceUnavailable, Unauthenticated, get_service
from hn_runtime.curve import CurveKeys
from hn_runtime.testing import time_factor, wait_for
from hn_runtime.wire import encode, load_idl

from _attacker import account, as_service, connect, deliver_body, registered, session_state, token_of
from _platform import Platform, platform_on

pytestmark = pytest.mark.security

_devices = itertools.count()
BROKER = load_idl("broker")
DELIVER, BOUND, END_SESSION = (BROKER.methods[m] for m in ("deliver", "bound", "end_session"))
REFUSED_KEY = "refused this client's CURVE key"


@pytest.fixture(scope="module")
def platform(data_tier: DataTier) -> Iterator[Platform]:
    with platform_on(data_tier, matches=1) as p:
        yield p


@pytest.fixture
def player(platform: Platform) -> Iterator[GameClient]:
    client = GameClient(platform.brokerlist_url).connect()
    client.guest_login(f"sec-identity-{os.getpid()}-{next(_devices)}")
    try:
        yield client
    finally:
        client.close()


def refusals(method: str, caller: str, service: str = "broker") -> float:
    labels = {"service": service, "method": method, "caller": caller}
    return REGISTRY.get_sample_value("hn_unauthorized_calls_total", labels) or 0.0


def refused_to(platform: Platform, caller: str, method: Any, body: bytes, broker_id: str | None, grant: str) -> None:
    """`broker.<method>` from `caller`'s key: refused UNAUTHENTICATED as a call, and as a push
    dropped and counted (which is how services send it)."""
    keys = platform.identities.keys(caller)
    with pytest.raises(Unauthenticated, match=f"broker.{method.name} is for services granted '{grant}'"):
        as_service(platform, "broker", keys, raw=True).forward(method, body, instance_id=broker_id)
    before = refusals(method.name, caller)
    as_service(platform, "broker", keys, "PUSH", raw=True).push_raw(method, body, instance_id=broker_id)
    wait_for(lambda: refusals(method.name, caller) == before + 1, message=f"the forged {method.name} refused, counted")


def stranger(platform: Platform, service: str, **options: object) -> object:
    """`service` called with a key pair the authority does not name."""
    return as_service(platform, service, CurveKeys.generate(), timeout=5 * time_factor(), **options)


def test_without_a_key_of_the_authority_neither_match_nor_a_broker_answers(platform: Platform) -> None:
    with pytest.raises(ServiceUnavailable, match=REFUSED_KEY):
        stranger(platform, "match").status()  # type: ignore[attr-defined]
    with pytest.raises(ServiceUnavailable, match=REFUSED_KEY):
        stranger(platform, "broker", raw=True).forward(  # type: ignore[attr-defined]
            DELIVER, deliver_body("1", DuelResult(match_id="forged"))
        )
    # No CURVE at all: the handshake itself fails.
    plaintext = get_service("match", endpoints=[platform.matches[0].endpoints["rep"]], timeout=2 * time_factor())
    with pytest.raises(ServiceUnavailable):
        plaintext.status()


def test_yellow_registers_no_fake_sso_and_no_login_reaches_one(platform: Platform) -> None:
    """The attack: one `yellow.heartbeat` registered a fake sso, and brokers sent it players' logins."""
    yellow_address = platform.yellow.endpoints["rep"]
    yellow_key = platform.identities.keys("yellow").public
    fake_keys = CurveKeys.generate()
    fake = zmq.Context.instance().socket(zmq.ROUTER)
    fake.curve_server = True
    fake.curve_secretkey = fake_keys.secret.encode()
    fake.curve_publickey = fake_keys.public.encode()
    fake_endpoint = f"tcp://127.0.0.1:{fake.bind_to_random_port('tcp://127.0.0.1')}"
    try:
        instance = InstanceInfo(
            service_name="sso",
            instance_id="sso-fake",
            endpoints={"rep": fake_endpoint},
            version="9.9.9",
            load=0.0,
            state="up",
            beat=2**62,
            curve_public_key=fake_keys.public,
        )

        def yellow_as(keys: CurveKeys | None) -> object:
            return get_service(
                Yellow,
                endpoints=[yellow_address],
                curve_server_key=yellow_key if keys else None,
                curve_keys=keys,
                timeout=3 * time_factor(),
            )

        with pytest.raises(ServiceUnavailable, match=REFUSED_KEY):
            yellow_as(CurveKeys.generate()).heartbeat(instance=instance)  # type: ignore[attr-defined]
        with pytest.raises(ServiceUnavailable):
            yellow_as(None).heartbeat(instance=instance)  # type: ignore[attr-defined]
        with pytest.raises(InvalidRegistration, match=r"may not register instances of 'sso'"):
            yellow_as(platform.identities.keys("match")).heartbeat(instance=instance)  # type: ignore[attr-defined]

        found = yellow_as(platform.identities.keys("sso")).find("sso")  # type: ignore[attr-defined]
        assert [i.instance_id for i in found] != [] and "sso-fake" not in [i.instance_id for i in found]
        assert all(i.endpoints["rep"] != fake_endpoint for i in found)
        for _ in range(5):  # players log in through the broker: the real sso answers every one
            registered(platform)[0].close()
        assert fake.poll(0) == 0, "no login reached the fake sso"
    finally:
        fake.close(linger=0)


def test_a_session_id_from_anything_but_a_broker_makes_no_one_a_player(
    platform: Platform, player: GameClient, data_tier: DataTier
) -> None:
    """The attack: match with another player's session id in the envelope, to enqueue and cancel as
    that player."""
    account_id = str(player.account.account_id)
    queue = redis_from_url(data_tier.env["HN_REDIS_URL"])
    assert player.call("match.enqueue", mode="duel").state == QueueState.QUEUED
    queued = queue.zscore("hn:match:{duel}:queue", account_id)
    assert queued is not None
    impostor = as_service(platform, "match", platform.identities.keys("sso")).with_options(session_id=account_id)
    for call in (impostor.status, lambda: impostor.enqueue(mode="duel"), impostor.cancel):
        with pytest.raises(MatchError) as refused:
            call()
        assert refused.value.code == MatchErrorCode.INVALID_INPUT and "needs a session" in refused.value.message
    with pytest.raises(ServiceUnavailable, match=REFUSED_KEY):
        stranger(platform, "match").with_options(session_id=account_id).cancel()  # type: ignore[attr-defined]
    assert queue.zscore("hn:match:{duel}:queue", account_id) == queued, "the player is still queued, as before"
    # The same call with the broker's key (the test process's) is the player's: only the key differs.
    broker = as_service(platform, "match", platform.identities.keys("broker")).with_options(session_id=account_id)
    assert broker.status().state == QueueState.QUEUED
    player.call("match.cancel")


def test_only_match_hosts_a_duel(platform: Platform) -> None:
    """The attack: `match.host_duel` straight from any key forced two players into a duel."""
    a, b = connect(platform), connect(platform)
    try:
        players = [int(client.guest_login().account_id) for client in (a, b)]
        forged = dict(match_id="forged-duel", mode="duel", player_a=players[0], rating_a=1000)
        forged.update(player_b=players[1], rating_b=1000)
        for service in ("brokerlist", "sso"):
            caller = as_service(platform, "match", platform.identities.keys(service))
            with pytest.raises(Unauthenticated, match="match.host_duel is for services granted 'host'"):
                caller.host_duel(**forged)
        with pytest.raises(ServiceUnavailable, match=REFUSED_KEY):
            stranger(platform, "match").host_duel(**forged)  # type: ignore[attr-defined]
        queue = redis_from_url(platform.tier.env["HN_REDIS_URL"])
        state = session_state(platform.tier)
        for player, client in zip(players, (a, b), strict=True):
            assert queue.get(f"hn:match:room:{player}") is None, "no room recorded"
            assert state.bindings(str(player)) == {}, "no duel bound"
            client.ping()  # the next packet is the pong: no MatchFound came first
            assert client.pushes == []
    finally:
        a.close()
        b.close()


def test_only_services_granted_push_reach_a_players_client(platform: Platform, player: GameClient) -> None:
    """The attack: `broker.deliver` pushed a forged DuelResult to a live player."""
    account_id = str(player.account.account_id)
    results: list[DuelResult] = []
    player.on("match.DuelResult", results.append)
    broker_id = session_state(platform.tier).broker_of(account_id)
    assert broker_id is not None
    forged = deliver_body(account_id, DuelResult(match_id="forged", winner_id=int(account_id), verdict=Verdict.FASTER))
    refused_to(platform, "brokerlist", DELIVER, forged, broker_id, "push")  # a service not granted push
    genuine = deliver_body(account_id, DuelResult(match_id="genuine", verdict=Verdict.DRAW))
    as_service(platform, "broker", platform.identities.keys("match"), "PUSH", raw=True).push_raw(
        DELIVER, genuine, instance_id=broker_id
    )
    wait_for(lambda: results, message="match's push delivered")
    assert [r.match_id for r in results] == ["genuine"], "the forged result never reached the player"


def test_a_binding_from_a_service_not_granted_push_routes_nothing(platform: Platform) -> None:
    """`broker.bound` would send a player's duel messages to an instance of the attacker's choosing."""
    victim = connect(platform)
    try:
        account_id = str(victim.guest_login().account_id)
        broker_id = session_state(platform.tier).broker_of(account_id)
        body = encode(
            BOUND.args_cls(session_id=account_id, family="duel", instance_id="match-attacker", fate="forged"),
            BOUND.args_spec,
        )
        refused_to(platform, "brokerlist", BOUND, body, broker_id, "push")
        # The player's duel message still reaches match (which has no duel of theirs), not a
        # binding to an instance that is not there (which the broker would answer SessionLost).
        answer = victim.call("match.duel_shoot", match_id="any", reaction_ms=250)
        assert isinstance(answer, MatchError) and answer.code == MatchErrorCode.NOT_IN_MATCH, answer
        assert session_state(platform.tier).bindings(account_id) == {}
    finally:
        victim.close()


def test_only_sso_and_brokers_end_a_players_session(platform: Platform) -> None:
    raw = connect(platform)
    try:
        account_id = str(raw.guest_login().account_id)
        broker_id = session_state(platform.tier).broker_of(account_id)
        body = encode(
            END_SESSION.args_cls(session_id=account_id, code=ClientError.SESSION_ENDED, reason="forged"),
            END_SESSION.args_spec,
        )
        refused_to(platform, "match", END_SESSION, body, broker_id, "kick")  # match pushes, but ends no session
        raw.ping()  # still served
        sso = platform.identities.keys("sso")
        as_service(platform, "broker", sso, "PUSH", raw=True).push_raw(END_SESSION, body, instance_id=broker_id)
        ended = raw.read()
        assert ended is not None and ended.error_code == ClientError.SESSION_ENDED, ended
        assert raw.closed()
    finally:
        raw.close()


def test_sso_answers_no_one_without_a_key(platform: Platform) -> None:
    """The attack: straight to sso, `validate` any token, and logins that skip the per-address limit."""
    victim, name = registered(platform)
    try:
        token = victim.token
        assert token is not None and token_of(platform.tier, victim.account.account_id) == token
        before = account(platform.tier, victim.account.account_id)
        calls = {
            "validate": dict(token=token),
            "login": dict(user=name, passwd="password1"),
            "create_account": dict(user=f"{name}x", passwd="password1"),
        }
        sso_endpoints = [i.endpoints["rep"] for i in platform.discovery.directory.instances("sso")]
        for method, arguments in calls.items():
            with pytest.raises(ServiceUnavailable, match=REFUSED_KEY):
                getattr(stranger(platform, "sso"), method)(**arguments)
            plaintext = get_service("sso", endpoints=sso_endpoints, timeout=2 * time_factor())
            with pytest.raises(ServiceUnavailable):
                getattr(plaintext, method)(**arguments)
        assert token_of(platform.tier, victim.account.account_id) == token, "no new token issued"
        assert account(platform.tier, victim.account.account_id) == before
        victim.ping()  # the victim's session goes on
    finally:
        victim.close()
