"""The platform's promises under faults, with real processes: 0 failed calls when an instance is
killed or deployed, and calls that keep working on the cache while every yellow is gone.

Each test prints its figures (run with `-s`, e.g. `./pants test services/yellow/tests/test_failover.py -- -s`).
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import pytest

from hn_runtime import HNError, get_service
from hn_runtime.testing import ServiceProcess, spawn_service, time_factor, wait_for
from hn_yellow_client import YellowDiscovery

pytestmark = pytest.mark.chaos

HEARTBEAT = 1.0  # seconds, yellow's default


@contextlib.contextmanager
def cluster(instances: int = 3) -> Iterator[tuple[ServiceProcess, list[ServiceProcess], YellowDiscovery]]:
    with contextlib.ExitStack() as stack:
        yellow = stack.enter_context(spawn_service("hn_yellow", service="yellow"))
        env = {"HN_YELLOW": yellow.endpoints["rep"], "HN_METRICS_PORT": "-1"}
        echoes = [
            stack.enter_context(spawn_service("_echo_with_yellow", service="echo", env=env)) for _ in range(instances)
        ]
        discovery = YellowDiscovery([yellow.endpoints["rep"]])
        stack.callback(discovery.directory.close)
        wait_for(lambda: len(up(discovery)) == instances, timeout=15, message="all echo instances up")
        yield yellow, echoes, discovery


def up(discovery: YellowDiscovery) -> set[str]:
    return {i.instance_id for i in discovery.directory.instances("echo") if i.state == "up"}


class Load:
    """`total` calls from `concurrency` greenlets; `at_half` runs once half of them succeeded."""

    def __init__(self, call: Callable[[], Any], total: int = 5000, concurrency: int = 50) -> None:
        self.call, self.total, self.concurrency = call, total, concurrency
        self.ok = 0
        self.failed: list[HNError] = []
        self.half = gevent.event.Event()

    def run(self, at_half: Callable[[], None]) -> None:
        tickets = itertools.count()

        def worker() -> None:
            while next(tickets) < self.total:
                try:
                    self.call()
                    self.ok += 1
                except HNError as exc:
                    self.failed.append(exc)
                if self.ok >= self.total // 2:
                    self.half.set()

        workers = [gevent.spawn(worker) for _ in range(self.concurrency)]
        self.half.wait(timeout=120 * time_factor())
        at_half()
        gevent.joinall(workers, timeout=300 * time_factor(), raise_error=True)


def test_kill_9_one_of_three_instances_under_load_fails_no_call() -> None:
    with cluster() as (_, echoes, discovery):
        proxy = get_service("echo", directory=discovery.directory, timeout=10)
        victim = echoes[1]
        killed_at: list[float] = []

        def kill() -> None:
            killed_at.append(time.monotonic())
            victim.kill()

        load = Load(lambda: proxy.echo(payload=b"x" * 64))
        load.run(at_half=kill)
        assert load.failed == [] and load.ok == load.total
        # Yellow declares it down within ~3 heartbeats, and from then on it gets nothing.
        wait_for(lambda: victim.instance_id not in up(discovery), timeout=3 * HEARTBEAT + 2, message="victim down")
        marked = time.monotonic() - killed_at[0]
        survivors = {proxy.health().instance for _ in range(30)}
        assert victim.instance_id not in survivors
        print(f"\nkill -9: {load.ok} calls ok, {len(load.failed)} failed; marked down {marked:.2f}s after the kill")


def test_sigterm_one_instance_under_load_fails_no_call() -> None:
    with cluster() as (_, echoes, discovery):
        proxy = get_service("echo", directory=discovery.directory, timeout=10)
        victim = echoes[0]
        load = Load(lambda: proxy.echo(payload=b"x" * 64))
        load.run(at_half=lambda: victim.signal(signal.SIGTERM))
        assert load.failed == [] and load.ok == load.total
        assert victim.process.wait(timeout=30 * time_factor()) == 0, "drained and exited 0"
        wait_for(lambda: victim.instance_id not in up(discovery), message="victim announced down")
        print(f"\nSIGTERM (deploy): {load.ok} calls ok, {len(load.failed)} failed")


def test_calls_survive_every_yellow_dying_and_the_view_heals_on_restart() -> None:
    with cluster() as (yellow, echoes, discovery):
        proxy = get_service("echo", directory=discovery.directory, timeout=10)
        port = yellow.endpoints["rep"].rpartition(":")[2]
        load = Load(lambda: proxy.echo(payload=b"x" * 64), total=4000)
        load.run(at_half=yellow.kill)
        assert load.failed == [] and load.ok == load.total, "calls keep flowing on the cached view"
        assert len(up(discovery)) == 3
        with spawn_service("hn_yellow", service="yellow", env={"HN_REP_PORT": port}) as reborn:
            started = time.monotonic()
            everyone = {e.instance_id for e in echoes}

            def whole() -> bool:
                try:
                    registered = {
                        i.instance_id for i in get_service("yellow", endpoints=[reborn.endpoints["rep"]]).find("echo")
                    }
                except HNError:
                    return False  # still reconnecting to the reborn yellow
                return registered == everyone and up(discovery) == everyone

            wait_for(whole, timeout=HEARTBEAT + 2, message="the view whole again")
            healed = time.monotonic() - started
            assert proxy.echo(payload=b"after") == b"after"
        print(
            f"\nall yellows killed: {load.ok} calls ok, {len(load.failed)} failed; view whole {healed:.2f}s after restart"
        )
