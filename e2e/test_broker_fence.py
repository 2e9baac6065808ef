"""The broker's fence with real processes and real cuts: a broker that can no longer reach yellow,
or any live instance of a service its players need, turns its players away to another broker
(they resume there, same session), leaves brokerlist, and takes players again once the cut heals;
one dead instance among live ones fences nothing.

Two broker processes (`python -m hn_broker`, as deployed) in front of yellow, sso, brokerlist and
an echo service on a real data tier. "fenced" fences after FENCE_AFTER seconds; "steady" never
fences (HN_BROKER_FENCE_AFTER_S=0), so that the players have somewhere to go whatever the cut.
A cut is a FaultProxy black hole on loopback: echo's request endpoint is registered in yellow
as the proxy's (so yellow, which hears echo's heartbeats directly, goes on listing it up), or
"fenced"'s only way to yellow's request socket goes through one (its heartbeats vanish, yellow
lists it down).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hn_chaos import FaultProxy
from hn_client import GameClient, fetch_brokers
from hn_client.testing import RawClient, fresh_name
from hn_datatier.local import DataTier
from hn_process import free_port
from hn_runtime.discovery import Directory, Instance, Registration
from hn_runtime.testing import ServiceProcess, running, spawn_service, time_factor, wait_for
from hn_runtime.testing.echo import EchoService

from _platform import Platform, platform_on

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

FENCE_AFTER = 2.0 * time_factor()
FENCE_HOLD = 0.5


class Behind:
    """Discovery that registers an instance's request endpoint as `rep` (a proxy in front of
    it): every caller goes through the proxy; its heartbeats to yellow do not."""

    def __init__(self, discovery: Any, rep: str) -> None:
        self._discovery = discovery
        self._rep = rep

    @property
    def directory(self) -> Directory:
        return self._discovery.directory  # type: ignore[no-any-return]

    def register(self, describe: Callable[[], Instance]) -> Registration:
        def proxied() -> Instance:
            described = describe()
            return dataclasses.replace(described, endpoints={**described.endpoints, "rep": self._rep})

        return self._discovery.register(proxied)  # type: ignore[no-any-return]


@contextlib.contextmanager
def echo_behind_proxy(platform: Platform) -> Iterator[FaultProxy]:
    """An echo instance whose callers all reach it through the proxy yielded."""
    port = free_port()
    with FaultProxy(f"127.0.0.1:{port}", name="echo") as proxy:
        behind = Behind(platform.discovery, f"tcp://{proxy.address}")
        with running(EchoService(), discovery=behind, rep_port=port):  # type: ignore[arg-type]
            yield proxy


@pytest.fixture
def platform(data_tier: DataTier) -> Iterator[Platform]:
    with platform_on(data_tier, brokers=0) as platform:
        yield platform


def _broker(platform: Platform, *, fence_after: float, yellow: str | None = None) -> Any:
    env = {
        **platform.env("broker"),
        "HN_BROKER_FENCE_AFTER_S": str(fence_after),
        "HN_BROKER_FENCE_HOLD_S": str(FENCE_HOLD),
        "HN_LOG_LEVEL": "info",
    }
    if yellow is not None:
        env["HN_YELLOW"] = yellow
    return spawn_service("hn_broker", service="broker", env=env)


def metric(broker: ServiceProcess, name: str, **labels: str) -> float:
    """One sample of the broker process's /metrics page (0.0 when absent)."""
    with urllib.request.urlopen(f"http://{broker.endpoints['metrics']}/metrics", timeout=10) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def listed(platform: Platform) -> set[str]:
    return {address for address, _load in fetch_brokers(platform.brokerlist_url)}


def player_on(platform: Platform, address: str) -> GameClient:
    """A logged-in SDK client that brokerlist's draw sent to `address` (drawn again until it is)."""
    for _ in range(64):  # two brokers: each draw lands on `address` about half the time
        client = GameClient(platform.brokerlist_url).connect()
        if client.connection is not None and client.connection.address == address:
            client.guest_login(f"device-{fresh_name('fence')}")
            return client
        client.close()
    raise AssertionError(f"brokerlist's draw never picked {address}")


def _on(client: GameClient) -> str:
    return client.connection.address if client.connection is not None and not client.connection.closed else ""


def _whoami(client: GameClient) -> str:
    return str(client.call("echo.whoami")).partition("|")[0]


def test_a_broker_cut_from_every_echo_instance_moves_its_players_and_comes_back(platform: Platform) -> None:
    with (
        echo_behind_proxy(platform) as echo_link,
        _broker(platform, fence_after=FENCE_AFTER) as fenced,
        _broker(platform, fence_after=0) as steady,
    ):
        here, there = fenced.endpoints["client"], steady.endpoints["client"]
        wait_for(lambda: listed(platform) == {here, there}, message="brokerlist lists both brokers")
        player = player_on(platform, here)
        account = str(player.account.account_id)
        assert _whoami(player) == account

        echo_link.blackhole()  # no broker reaches echo; yellow still lists it up
        wait_for(
            lambda: _on(player) == there and player.resumes == 1,
            timeout=10 * FENCE_AFTER + 30,
            message="the player moved to the other broker and resumed",
        )
        assert metric(fenced, "hn_broker_fenced") == 1
        assert metric(fenced, "hn_broker_fence_total", reason="services") == 1
        assert metric(fenced, "hn_broker_fence_moved_total") >= 1
        assert metric(fenced, "hn_broker_unreachable_seconds", target="echo") >= FENCE_AFTER
        wait_for(lambda: listed(platform) == {there}, message="brokerlist leaves the fenced broker out")
        with pytest.raises(OSError):
            RawClient(here)  # it takes no one new
        assert metric(steady, "hn_broker_fence_total", reason="services") == 0

        echo_link.heal()
        wait_for(lambda: metric(fenced, "hn_broker_fenced") == 0, timeout=30, message="the fence lifted")
        assert metric(fenced, "hn_broker_fence_lifted_total") == 1
        wait_for(lambda: listed(platform) == {here, there}, message="brokerlist lists it again")
        # The same session on the other broker, and the healed one serves players again.
        wait_for(lambda: _safe(lambda: _whoami(player)) == account, timeout=30, message="echo through steady")
        assert _on(player) == there and player.resumes == 1
        back = RawClient(here)
        back.guest_login()
        assert back.call("echo.whoami").partition("|")[0] == str(back.account.account_id)
        back.close()
        player.close()


def test_a_broker_yellow_stops_hearing_moves_its_players_and_comes_back(platform: Platform) -> None:
    yellow = platform.yellow.endpoints["rep"]
    host_port = yellow.rpartition("//")[2]
    with running(EchoService(), discovery=platform.discovery), FaultProxy(host_port, name="yellow") as yellow_link:
        with (
            _broker(platform, fence_after=FENCE_AFTER, yellow=f"tcp://{yellow_link.address}") as fenced,
            _broker(platform, fence_after=0) as steady,
        ):
            here, there = fenced.endpoints["client"], steady.endpoints["client"]
            wait_for(lambda: listed(platform) == {here, there}, message="brokerlist lists both brokers")
            player = player_on(platform, here)
            account = str(player.account.account_id)

            yellow_link.blackhole()  # its heartbeats vanish: yellow lists it down
            wait_for(
                lambda: _on(player) == there and player.resumes == 1,
                timeout=10 * FENCE_AFTER + 30,
                message="the player moved to the other broker and resumed",
            )
            assert metric(fenced, "hn_broker_fence_total", reason="yellow") == 1
            assert metric(fenced, "hn_broker_fence_moved_total") >= 1
            assert _whoami(player) == account

            yellow_link.heal()
            wait_for(lambda: metric(fenced, "hn_broker_fenced") == 0, timeout=30, message="the fence lifted")
            wait_for(lambda: listed(platform) == {here, there}, message="brokerlist lists it again")
            assert metric(fenced, "hn_broker_fence_lifted_total") == 1
            player.close()


def test_one_dead_instance_among_live_ones_fences_nothing(platform: Platform) -> None:
    with running(EchoService(), discovery=platform.discovery), echo_behind_proxy(platform) as dead_link:
        wait_for(lambda: platform.live("echo") == 2, message="both echo instances up")
        with _broker(platform, fence_after=FENCE_AFTER) as broker:
            wait_for(lambda: listed(platform) == {broker.endpoints["client"]}, message="brokerlist lists it")
            dead_link.blackhole()  # one of the two unreachable; yellow still lists it up
            probe_timeout = min(2.0, max(0.1, FENCE_AFTER / 4))  # the fence's own (_fence.py)
            # Each round of probes waits out the dead instance's timeout: this many failed
            # probes of it span more than the fence's window.
            enough = math.ceil(FENCE_AFTER / probe_timeout) + 3
            wait_for(
                lambda: metric(broker, "hn_broker_fence_probes_total", service="echo", outcome="failed") >= enough,
                timeout=10 * FENCE_AFTER + 30,
                message="the broker probed the dead instance for longer than its fence window",
            )
            assert metric(broker, "hn_broker_fence_probes_total", service="echo", outcome="ok") >= enough
            assert metric(broker, "hn_broker_fenced") == 0
            assert metric(broker, "hn_broker_fence_total", reason="services") == 0
            assert listed(platform) == {broker.endpoints["client"]}
            raw = RawClient(broker.endpoints["client"])
            raw.guest_login()
            raw.close()


def _safe(call: Callable[[], str]) -> str:
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - the condition is "answers", whatever failed meanwhile
        return f"failed: {exc}"
