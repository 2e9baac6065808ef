"""Kill -9 a broker under load: its clients reconnect through brokerlist to the other broker and
resume their sessions; pushes sent while they were away are delivered after the resume.

Two real broker processes (`python -m hn_broker`, as deployed) in front of yellow, sso (on the
real data tier), brokerlist and an echo service. Players keep calling echo through the SDK
(GameClient, which reconnects and resumes by itself); others, driven packet by packet, stay away
until the pushes are sent. Every call is recorded as ok, failed with a clear error, or hung (no
answer at all within the SDK's timeout: must be none); the figures are printed.
"""

from __future__ import annotations

import collections
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import gevent
import pytest

from hn_client import BrokerRejected, ConnectionLost, GameClient, fetch_brokers
from hn_client.testing import RawClient, fresh_name
from hn_datatier import redis_from_url
from hn_datatier.local import DataTier
from hn_edge import Edge, SessionState
from hn_idl.client.ttypes import ClientError, PacketKind
from hn_idl.echo.ttypes import Tick
from hn_runtime import HNError
from hn_runtime.testing import ServiceProcess, running, spawn_service, time_factor, wait_for
from hn_runtime.testing.echo import EchoService
from hn_runtime.wire import decode, spec_of

from _platform import Platform, platform_on

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

_PLAYERS = 16  # SDK clients calling in a loop
_AWAY = 6  # protocol-level clients that stay away while pushes are sent
_PUSHES = 3  # pushes per away client


@dataclass
class Player:
    """A GameClient calling echo.echo in a loop, and what became of each call."""

    client: GameClient
    n: int
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    ok_after_kill: int = 0
    first_ok_after_kill: float | None = None
    broker_before: str = ""
    ticks: list[int] = field(default_factory=list)

    def run(self, stop: list[bool], killed: list[float]) -> None:
        k = 0
        while not stop[0]:
            k += 1
            payload = f"{self.n}:{k}".encode()
            try:
                answer = self.client.call("echo.echo", payload=payload)
            except BrokerRejected as exc:
                self.outcomes[f"failed: broker {exc.code}"] += 1
                continue
            except ConnectionLost:
                self.outcomes["failed: connection lost"] += 1
                continue
            except HNError as exc:
                self.outcomes[f"failed: {type(exc).__name__}"] += 1
                continue
            except gevent.Timeout:
                self.outcomes["hung"] += 1  # no answer, no error, within the SDK's timeout
                continue
            if answer != payload:
                self.outcomes["wrong answer"] += 1
                continue
            self.outcomes["ok"] += 1
            if killed:
                self.ok_after_kill += 1
                if self.first_ok_after_kill is None:
                    self.first_ok_after_kill = time.monotonic()


@pytest.fixture
def platform(data_tier: DataTier) -> Iterator[Platform]:
    with platform_on(data_tier, brokers=0) as platform, running(EchoService(), discovery=platform.discovery):
        wait_for(lambda: platform.live("echo") == 1, message="echo registered")
        yield platform


def _broker_process(platform: Platform) -> Any:
    env = {
        **platform.env("broker"),
        # The players call as fast as they can: above the per-connection packet rate a game
        # client gets (refused RATE_LIMITED, as test_broker_limits shows), so raise it here.
        "HN_BROKER_RATE": "5000",
        "HN_BROKER_BURST": "5000",
        "HN_LOG_LEVEL": "warning",
    }
    return spawn_service("hn_broker", service="broker", env=env)


def test_killing_a_broker_under_load_loses_no_session_and_no_push(platform: Platform) -> None:
    with _broker_process(platform) as first, _broker_process(platform) as second:
        brokers = {first.endpoints["client"]: first, second.endpoints["client"]: second}
        wait_for(lambda: platform.live("broker") == 2, message="both brokers registered")
        wait_for(lambda: len(fetch_brokers(platform.brokerlist_url)) == 2, message="brokerlist lists both")
        _run(platform, brokers)


def _run(platform: Platform, brokers: dict[str, ServiceProcess]) -> None:
    # Players (the SDK) and away clients (the protocol itself), spread over both brokers.
    players = []
    for n in range(_PLAYERS):
        client = GameClient(platform.brokerlist_url).connect()
        client.guest_login(f"device-{fresh_name('failover')}")
        players.append(Player(client, n))
    addresses = sorted(brokers)
    away = []
    for n in range(_AWAY):
        raw = RawClient(addresses[n % 2])
        raw.guest_login()
        away.append(raw)

    stop = [False]
    killed: list[float] = []
    loops = [gevent.spawn(p.run, stop, killed) for p in players]
    try:
        wait_for(lambda: all(p.outcomes["ok"] >= 5 for p in players), timeout=30, message="every player calling")

        # The victim: the broker holding the most players (at least one away client is on each).
        on = collections.Counter(p.client.connection.address for p in players if p.client.connection)
        victim_address = max(addresses, key=lambda a: on.get(a, 0))
        survivor_address = next(a for a in addresses if a != victim_address)
        victim = brokers[victim_address]
        for p in players:
            p.broker_before = p.client.connection.address if p.client.connection else ""
        moved = [p for p in players if p.broker_before == victim_address]
        stranded = [c for c in away if c.address == victim_address]
        assert moved and stranded

        victim.signal(signal.SIGKILL)
        victim.process.wait()
        killed.append(time.monotonic())

        # The SDK finds the survivor through brokerlist and resumes; calls go on.
        wait_for(
            lambda: all(p.client.resumes >= 1 and p.ok_after_kill >= 5 for p in moved),
            timeout=60,
            message="every player of the killed broker resumed and calling again",
        )
        for p in moved:
            assert p.client.connection is not None and p.client.connection.address == survivor_address

        # Pushes for the away clients, once the killed broker is known to be gone: kept in their
        # sessions' mailboxes, delivered when they come back.
        wait_for(lambda: platform.live("broker") == 1, timeout=30, message="yellow saw the broker go")
        edge = Edge(redis_from_url(platform.tier.env["HN_REDIS_URL"]), instance_id="failover-test")
        for raw in stranded:
            for k in range(_PUSHES):
                edge.push(str(raw.account.account_id), "echo.Tick", Tick(n=k, note="sent while away"))
        # ... and one for every player, on its new broker.
        for p in players:
            p.client.on("echo.Tick", lambda tick, p=p: p.ticks.append(tick.n))
            edge.push(str(p.client.account.account_id), "echo.Tick", Tick(n=100 + p.n, note="after the move"))

        # The away clients come back the way the SDK does: brokerlist, connect, resume.
        listed = [address for address, _load in fetch_brokers(platform.brokerlist_url)]
        assert listed == [survivor_address], listed
        for raw in stranded:
            back = RawClient(listed[0])
            back.account = raw.account
            resumed = back.call("broker.resume", token=raw.token)
            assert resumed.account_id == raw.account.account_id, resumed
            assert resumed.pushes_waiting == _PUSHES, resumed
            while len(back.pushes) < _PUSHES:
                packet = back.read()
                assert packet is not None and packet.kind == PacketKind.PUSH, packet
                back.pushes.append(packet)
            assert [decode(p.body, spec_of(Tick)).n for p in back.pushes] == list(range(_PUSHES)), "all, in order"
            assert back.call("echo.whoami").partition("|")[0] == str(raw.account.account_id)
            back.close()
            raw.close()
        wait_for(lambda: all(p.ticks == [100 + p.n] for p in players), message="every player got its push")
    finally:
        stop[0] = True
        gevent.joinall(loops, timeout=30 * time_factor())
    for loop in loops:
        assert loop.successful(), loop.exception

    totals: collections.Counter[str] = collections.Counter()
    for p in players:
        totals.update(p.outcomes)
    attempted = sum(totals.values())
    recovery = max((p.first_ok_after_kill or killed[0]) - killed[0] for p in moved)
    print(
        f"\nbroker kill -9 under load: {len(moved)}/{len(players)} players moved; calls attempted {attempted}, "
        f"ok {totals['ok']}, failed with a clear error {sum(v for k, v in totals.items() if k.startswith('failed'))} "
        f"({dict((k, v) for k, v in totals.items() if k.startswith('failed'))}), hung {totals['hung']}, "
        f"wrong answers {totals['wrong answer']}; slowest player back in {recovery * 1000:.0f} ms; "
        f"away clients {len(stranded)}, pushes kept and delivered {len(stranded) * _PUSHES}"
    )
    assert totals["hung"] == 0, "every call answered or failed with a clear error"
    assert totals["wrong answer"] == 0
    assert attempted == totals["ok"] + sum(v for k, v in totals.items() if k.startswith("failed"))
    for p in players:
        p.client.close()
    for raw in away:
        raw.close()


def test_a_draining_broker_answers_what_is_in_flight_and_sends_the_rest_elsewhere(platform: Platform) -> None:
    """SIGTERM (a deploy, a scale-in): a call in flight is answered; one sent during the drain is
    refused with its own sequence number (the SDK resends it after resuming elsewhere); then the
    client is told, the connection closes, the session is detached, and the process exits 0."""
    with _broker_process(platform) as leaving, _broker_process(platform):
        wait_for(lambda: platform.live("broker") == 2, message="both brokers registered")
        raw = RawClient(leaving.endpoints["client"])
        account = raw.guest_login()
        state = SessionState(redis_from_url(platform.tier.env["HN_REDIS_URL"]))
        assert state.broker_of(str(account.account_id)) == leaving.instance_id
        raw.sock.sendall(raw.request("echo.slow", ms=1500))  # seq 2, in flight through the drain
        leaving.signal(signal.SIGTERM)
        wait_for(
            lambda: any(
                i.instance_id == leaving.instance_id and i.state == "draining"
                for i in platform.discovery.directory.instances("broker")
            ),
            message="the broker draining",
        )
        raw.sock.sendall(raw.request("echo.echo", payload=b"late"))  # seq 3
        answers = []
        while (packet := raw.read()) is not None:
            answers.append(packet)
        kinds = [(p.kind, p.seq, p.error_code) for p in answers]
        assert (PacketKind.REPLY, 2, None) in kinds, kinds
        assert (PacketKind.ERROR, 3, ClientError.BROKER_UNAVAILABLE) in kinds, kinds
        assert kinds[-1] == (PacketKind.ERROR, 0, ClientError.BROKER_UNAVAILABLE), "told before the close"
        assert leaving.process.wait(30 * time_factor()) == 0, "drained in time"
        assert state.broker_of(str(account.account_id)) is None, "the session was detached on the way out"
        raw.close()
