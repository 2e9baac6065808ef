"""Faults under a steady load: kill -9 and SIGSTOP each kind of process, a rolling restart of every
service, and a fault proxy on one link; nothing acknowledged may be lost or applied twice.

Every scenario runs the same way (`run`, in _scenario.py).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator

import pytest

from hn_chaos import FaultProxy, Figures
from hn_datatier.testing import kill_redis_master
from hn_runtime.testing import wait_for

from _nemesis import Platform
from _scenario import DUELS_AFTER, HOLD_S, Scenario, run

pytestmark = pytest.mark.chaos


# -- the nemesis, per kind of process ------------------------------------------------------------


def _broker_in_use(s: Scenario) -> str:
    return s.platform.broker_of_most([p.client.broker for p in s.workload.players if p.client is not None])


def _service(kind: str) -> Callable[[Scenario], str]:
    if kind == "broker":
        return _broker_in_use
    return lambda s: f"{kind}-1"


def kill_service(kind: str) -> Callable[[Scenario], None]:
    def fault(s: Scenario) -> None:
        name = _service(kind)(s)
        s.notes.append(f"killed {name}")
        s.platform.restart(name, signal.SIGKILL, landed=s.land)  # the supervisor starts it again

    return fault


def stop_service(kind: str) -> Callable[[Scenario], None]:
    def fault(s: Scenario) -> None:
        name = _service(kind)(s)
        pid = s.platform.pid(name)
        s.platform.service_signal(name, signal.SIGSTOP)
        try:
            s.stopped(pid)
            if kind == "yellow":
                s.hold()
            else:
                s.notes.append(f"stopped {name}")
                s.hold_until(lambda: getattr(s.platform.instance(name), "state", "") != "up", "yellow marked it down")
        finally:
            s.platform.service_signal(name, signal.SIGCONT)

    return fault


def kill_redis(s: Scenario) -> None:
    master = s.platform.redis_master("shard0")
    assert master.process.pid is not None
    s.land_when_gone(master.process.pid)  # kill_redis_master kills it first, then waits
    failover = kill_redis_master(s.platform.tier, "shard0", timeout=30)  # comes back as a replica
    s.notes.append(
        f"shard0: promoted after {failover.promoted_after:.1f} s, Twemproxy repointed after "
        f"{failover.repointed_after:.1f} s"
    )


def stop_redis(s: Scenario) -> None:
    tier = s.platform.tier
    master = s.platform.redis_master("shard1")
    assert master.process.pid is not None
    master.process.send_signal(signal.SIGSTOP)
    try:
        s.stopped(master.process.pid)
        s.hold_until(
            lambda: tier.sentinel_master("shard1") not in (None, master)
            and tier.twemproxy_servers().get("shard1") != master.address,
            "Sentinel promoted the replica and Twemproxy followed",
        )
    finally:
        master.process.send_signal(signal.SIGCONT)  # it comes back as a replica of the new master


def kill_pg_replica(s: Scenario) -> None:
    replica = s.platform.tier.pg_replica
    assert replica.process.pid is not None
    s.land_when_gone(replica.process.pid)  # restart_postgres kills it first, then starts it again
    s.platform.tier.restart_postgres(replica, kill=True)


def stop_pg_replica(s: Scenario) -> None:
    replica = s.platform.tier.pg_replica.process
    assert replica.pid is not None
    replica.send_signal(signal.SIGSTOP)
    try:
        s.stopped(replica.pid)
        s.hold()
    finally:
        replica.send_signal(signal.SIGCONT)


def kill_pgpool(s: Scenario) -> None:
    pgpool = s.platform.tier.pgpool
    assert pgpool is not None and pgpool.pid is not None
    s.land_when_gone(pgpool.pid)  # restart_pgpool kills it first, then starts it again
    s.platform.tier.restart_pgpool(kill=True)


def stop_pgpool(s: Scenario) -> None:
    pgpool = s.platform.tier.pgpool
    assert pgpool is not None and pgpool.pid is not None
    pgpool.send_signal(signal.SIGSTOP)
    try:
        s.stopped(pgpool.pid)
        s.hold()
    finally:
        pgpool.send_signal(signal.SIGCONT)


def kill_twemproxy(s: Scenario) -> None:
    pid = s.platform.nutcracker_pid()
    os.kill(pid, signal.SIGKILL)
    s.dead(pid)
    wait_for(
        lambda: s.platform.nutcracker_running(other_than=pid) and s.platform.twemproxy_serves(),
        timeout=60,
        message="nutcracker respawned by the agent",
    )


def stop_twemproxy(s: Scenario) -> None:
    pid = s.platform.nutcracker_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        s.stopped(pid)
        s.hold()
    finally:
        os.kill(pid, signal.SIGCONT)


KINDS = ["yellow", "broker", "sso", "match", "redis-master", "pg-replica", "pgpool", "twemproxy"]
KILL: dict[str, Callable[[Scenario], None]] = {
    **{kind: kill_service(kind) for kind in ("yellow", "broker", "sso", "match")},
    "redis-master": kill_redis,
    "pg-replica": kill_pg_replica,
    "pgpool": kill_pgpool,
    "twemproxy": kill_twemproxy,
}
STOP: dict[str, Callable[[Scenario], None]] = {
    **{kind: stop_service(kind) for kind in ("yellow", "broker", "sso", "match")},
    "redis-master": stop_redis,
    "pg-replica": stop_pg_replica,
    "pgpool": stop_pgpool,
    "twemproxy": stop_twemproxy,
}


@pytest.mark.parametrize("kind", KINDS)
def test_kill_9(kind: str, platform: Platform, report: list[Figures]) -> None:
    run(platform, report, f"kill -9 {kind}", KILL[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_sigstop_then_sigcont(kind: str, platform: Platform, report: list[Figures]) -> None:
    run(platform, report, f"SIGSTOP, SIGCONT {kind}", STOP[kind])


def test_rolling_restart_of_every_service(platform: Platform, report: list[Figures]) -> None:
    """SIGTERM each service process in turn (it drains; the supervisor starts it again) and wait
    until it is back before the next: a deploy of everything, which must fail no operation.

    What makes it so: a draining instance refuses new requests DRAINING and callers retry them on
    another; a broker hands its clients over (they resume on another broker and send again); a
    match instance lets its duels play to their end before it exits, brokers routing them to it
    while it drains."""

    def deploy(s: Scenario) -> None:
        took = []
        for supervised in s.platform.cluster.processes:
            began = s.history.now()
            s.platform.restart(supervised.name, signal.SIGTERM, landed=s.land)  # lands with the first
            took.append(s.history.now() - began)
        s.notes.append(f"{len(took)} services one by one, {sum(took) / len(took):.1f} s each")

    figures = run(platform, report, "rolling restart (SIGTERM) of every service", deploy)
    assert figures.failed == 0, f"a deploy failed {figures.failed} operations (their errors are printed above)"


# -- the fault proxy on one link --------------------------------------------------------------


@pytest.fixture
def broker_links(platform: Platform) -> Iterator[dict[str, FaultProxy]]:
    """A fault proxy in front of each broker; players dial brokers through them."""
    from hn_client import fetch_brokers

    proxies = {address: FaultProxy(address).start() for address, _ in fetch_brokers(platform.brokerlist_url)}
    yield proxies
    for proxy in proxies.values():
        proxy.stop()


def _busiest(s: Scenario, proxies: dict[str, FaultProxy]) -> FaultProxy:
    return max(proxies.values(), key=lambda p: p.connections)


BROKER_LINK_FAULTS: dict[str, Callable[[Scenario, dict[str, FaultProxy]], None]] = {}


def broker_link(name: str) -> Callable[[Callable[[Scenario, dict[str, FaultProxy]], None]], None]:
    def register(fn: Callable[[Scenario, dict[str, FaultProxy]], None]) -> None:
        BROKER_LINK_FAULTS[name] = fn

    return register


@broker_link("latency 200 ms each way, every client-broker link")
def _latency(s: Scenario, proxies: dict[str, FaultProxy]) -> None:
    for proxy in proxies.values():
        proxy.latency(0.2)
    began = s.land()
    try:
        s.hold_until(lambda: s.workload.duels_since(began) >= DUELS_AFTER, f"{DUELS_AFTER} duels played through it")
    finally:
        for proxy in proxies.values():
            proxy.heal()


@broker_link("stall one client-broker link (bytes held, then delivered)")
def _stall(s: Scenario, proxies: dict[str, FaultProxy]) -> None:
    proxy = _busiest(s, proxies)
    proxy.stall()
    s.land()
    try:
        s.hold()
    finally:
        proxy.heal()


@broker_link("reset every client-broker connection")
def _reset(s: Scenario, proxies: dict[str, FaultProxy]) -> None:
    resets = sum(proxy.reset() for proxy in proxies.values())
    s.land()
    s.notes.append(f"{resets} connections reset")


@broker_link("black-hole one client-broker link, then reset it")
def _blackhole(s: Scenario, proxies: dict[str, FaultProxy]) -> None:
    proxy = _busiest(s, proxies)
    proxy.blackhole()
    s.land()
    try:
        s.hold()
    finally:
        proxy.heal()
    s.notes.append(f"{sum(proxy.stats.dropped.values())} bytes dropped")


@broker_link("black-hole the replies of one client-broker link, then reset it")
def _blackhole_replies(s: Scenario, proxies: dict[str, FaultProxy]) -> None:
    proxy = _busiest(s, proxies)
    proxy.blackhole("down")
    s.land()
    try:
        s.hold()
    finally:
        proxy.heal()
    s.notes.append(f"{proxy.stats.dropped['down']} reply bytes dropped")


@pytest.mark.parametrize("fault", list(BROKER_LINK_FAULTS))
def test_fault_proxy_between_clients_and_brokers(
    fault: str, platform: Platform, report: list[Figures], broker_links: dict[str, FaultProxy]
) -> None:
    def route(address: str) -> str:
        proxy = broker_links.get(address)
        return proxy.address if proxy is not None else address  # a broker restarted since: direct

    run(platform, report, f"proxy: {fault}", lambda s: BROKER_LINK_FAULTS[fault](s, broker_links), route=route)


@pytest.fixture(scope="session")
def sso_redis_link(platform: Platform) -> Iterator[FaultProxy]:
    """sso-2 talks to Twemproxy through a fault proxy (its HN_REDIS_URL, set by a restart)."""
    proxy = FaultProxy(f"127.0.0.1:{platform.tier.twemproxy_port}").start()
    platform.cluster.process("sso-2").env["HN_REDIS_URL"] = platform.tier.redis_url_to(proxy.address)
    platform.restart("sso-2", signal.SIGTERM)  # sso connects to Redis on first use, through the proxy
    yield proxy
    proxy.stop()


def _traffic(proxy: FaultProxy) -> int:
    return sum(proxy.stats.read.values())


def _hold_fault(s: Scenario, proxy: FaultProxy, switch_on: Callable[[], object]) -> None:
    """Switch the fault on for HOLD_S, and longer if sso-2 sent nothing through it meanwhile."""
    before = _traffic(proxy)
    switch_on()
    began = s.land()
    try:
        s.hold_until(
            lambda: s.history.now() - began >= HOLD_S and _traffic(proxy) > before,
            f"{HOLD_S:.0f} s passed and sso-2 sent something through the fault",
        )
    finally:
        proxy.heal()


def _reset_and_reconnect(s: Scenario, proxy: FaultProxy) -> None:
    accepted = proxy.stats.accepted
    s.notes.append(f"{proxy.reset()} connections reset")
    s.land()
    s.hold_until(lambda: proxy.stats.accepted > accepted, "sso-2 connected again")


SSO_REDIS_FAULTS: dict[str, Callable[[Scenario, FaultProxy], None]] = {
    "latency 100 ms each way": lambda s, p: _hold_fault(s, p, lambda: p.latency(0.1)),
    "reset every connection": lambda s, p: _reset_and_reconnect(s, p),
    "black-hole, then reset": lambda s, p: _hold_fault(s, p, p.blackhole),
    "black-hole the replies, then reset": lambda s, p: _hold_fault(s, p, lambda: p.blackhole("down")),
}


@pytest.mark.parametrize("fault", list(SSO_REDIS_FAULTS))
def test_fault_proxy_between_sso_and_twemproxy(
    fault: str, platform: Platform, report: list[Figures], sso_redis_link: FaultProxy
) -> None:
    accepted = sso_redis_link.stats.accepted

    def through_the_proxy(s: Scenario) -> None:
        SSO_REDIS_FAULTS[fault](s, sso_redis_link)
        s.notes.append(f"sso-2 opened {sso_redis_link.stats.accepted - accepted} connections through it")

    run(platform, report, f"proxy sso-2 to Twemproxy: {fault}", through_the_proxy)
    assert sso_redis_link.stats.accepted > 0, "sso-2 never used the proxy"


# -- regressions found by this tier ------------------------------------------------------------


def test_a_service_restarted_under_its_instance_id_is_seen_again(platform: Platform) -> None:
    name = "sso-2"
    # A beat counter restarting from 1 would stay behind its predecessor's for as long as that
    # one had run (a bug once): heartbeats must increase across restarts of one instance id.
    first = getattr(platform.instance(name), "beat", 0)
    wait_for(lambda: getattr(platform.instance(name), "beat", 0) > first, message=f"{name} beating")
    before = dict(platform.instance(name).endpoints)
    pid = platform.pid(name)
    platform.service_signal(name, signal.SIGKILL)
    try:
        wait_for(
            lambda: platform.pid(name) != pid
            and getattr(platform.instance(name), "state", "") == "up"
            and dict(platform.instance(name).endpoints) != before,
            timeout=20,
            message=f"{name} up in yellow again with its new endpoints",
        )
    finally:
        platform.wait_healthy()
