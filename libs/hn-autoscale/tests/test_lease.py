"""One active autoscaler: the lease in a real Redis through Twemproxy (a Redis-only local tier)."""

from __future__ import annotations

import json
import sys
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import pytest

from hn_autoscale import UP, Autoscaler, InstanceLoad, Observation, RedisLease, Rule
from hn_datatier import redis_from_url
from hn_datatier.testing import start_data_tier
from hn_process import ManagedProcess, child_env, free_port, time_factor, wait_until

TTL = 1.0 * time_factor()


@pytest.fixture(scope="module")
def tier_redis_url() -> Iterator[str]:
    """HN_REDIS_URL of a Redis-only local tier: Twemproxy in front of a shard and its Sentinel."""
    with start_data_tier(postgres=False, shards=1, sentinels=1, quorum=1) as tier:
        yield tier.env["HN_REDIS_URL"]


@pytest.fixture
def redis(tier_redis_url: str) -> Iterator[Any]:
    """A client of the tier's Twemproxy, as the autoscaler's HN_REDIS_URL gives it."""
    client = redis_from_url(tier_redis_url, socket_timeout=2.0)
    yield client
    client.close()


def _key() -> str:
    return f"hn:test:autoscale:lease:{uuid.uuid4().hex}"


def test_one_holder_at_a_time_renewals_keep_it_and_a_release_hands_it_over(redis: Any) -> None:
    key = _key()
    one, two = RedisLease(redis, key, "autoscaler-1", ttl_s=TTL), RedisLease(redis, key, "autoscaler-2", ttl_s=TTL)
    assert one.try_hold() and one.held()
    assert not two.try_hold() and not two.held()
    for _ in range(3):  # renewed past its first ttl: still one's
        gevent.sleep(TTL / 2)
        assert one.try_hold() and not two.try_hold()
    two.release()  # not the holder: deletes nothing
    assert redis.get(key) == b"autoscaler-1"
    one.release()
    assert not one.held() and redis.get(key) is None
    assert two.try_hold() and two.held()
    assert not one.try_hold(), "a former holder cannot take it back while it is held"


def test_a_holder_that_stops_renewing_stops_acting_before_a_standby_can_take_over(redis: Any) -> None:
    key = _key()
    crashed, standby = RedisLease(redis, key, "autoscaler-1", ttl_s=TTL), RedisLease(
        redis, key, "autoscaler-2", ttl_s=TTL
    )
    assert crashed.try_hold()
    # It never renews again (dead, or cut off from Redis): its own clock ends its turn first...
    wait_until(lambda: not crashed.held(), timeout=TTL * 2)
    assert redis.get(key) == b"autoscaler-1", "...while the key still stands in Redis"
    assert not standby.try_hold()
    # ...then Redis expires the key, and the standby's next try takes it.
    wait_until(standby.try_hold, timeout=TTL * 3, interval=TTL / 10)
    assert standby.held() and redis.get(key) == b"autoscaler-2"
    assert not crashed.try_hold() and not crashed.held()


class Load:
    """An observer: a service whose demand the test sets, on `count` instances; time a counter."""

    def __init__(self, service: str, count: int) -> None:
        self.service, self.count, self.demand, self.now = service, count, 0.0, 0.0

    def observe(self) -> Mapping[str, Observation]:
        self.now += 1.0
        loads = [InstanceLoad(f"{self.service}-{n}", self.demand / self.count) for n in range(self.count)]
        return {self.service: Observation(self.now, loads, self.demand)}


class Recorder:
    """A driver that records scale-outs and reports a count the test sets (the seam the autoscaler owns)."""

    def __init__(self) -> None:
        self.count = 2
        self.outs: list[int] = []

    def current(self, service: str) -> int | None:
        return self.count

    def scale_out(self, service: str, desired: int) -> None:
        self.outs.append(desired)
        self.count = desired

    def scale_in(self, service: str, desired: int, victims: Sequence[str]) -> None:
        raise AssertionError("no scale-in here")


def test_only_the_holder_applies_decisions_and_the_standby_takes_over_when_it_lapses(redis: Any) -> None:
    """Two autoscalers on one lease, each with its keeper greenlet (as AutoscalerHost runs them):
    both decide, only the holder's driver is called; the holder dies without releasing, the
    standby takes over once the lease lapses and starts from the count the driver reports."""
    key, rule = _key(), Rule(min_instances=1, max_instances=8, up_window_s=0, up_cooldown_s=0)
    leases = [RedisLease(redis, key, f"autoscaler-{n}", ttl_s=TTL) for n in (1, 2)]
    drivers = [Recorder(), Recorder()]
    loads = [Load("sso", 2), Load("sso", 2)]
    scalers = [
        Autoscaler({"sso": rule}, driver=d, observer=o, active=lease.held)
        for d, o, lease in zip(drivers, loads, leases, strict=True)
    ]
    stops = [gevent.event.Event(), gevent.event.Event()]
    first = gevent.spawn(leases[0].keep, stops[0])
    wait_until(leases[0].held, timeout=TTL * 2)
    second = gevent.spawn(leases[1].keep, stops[1])
    try:
        for load in loads:
            load.demand = 1.8  # 0.9 each on 2: up to 4
        for scaler in scalers:
            assert [(d.direction, d.desired) for d in scaler.step()] == [(UP, 4)]
        assert drivers[0].outs == [4] and drivers[1].outs == [], "the standby decided, and did nothing"
        assert scalers[1].status()["active"] is False

        first.kill()  # the holder dies: no release, no renewal
        drivers[1].count = loads[1].count = 5  # the group as the holder left it (not the 4 decided)
        wait_until(leases[1].held, timeout=TTL * 4)
        loads[1].demand = 4.5  # 0.9 each on 5: two more
        assert [(d.direction, d.previous, d.desired) for d in scalers[1].step()] == [(UP, 5, 7)]
        assert drivers[1].outs == [7], "from the group's count, not from what it decided as a standby"
    finally:
        for stop in stops:
            stop.set()
        second.join(timeout=10)
    assert redis.get(key) is None, "the keeper released the lease on stop"


def _status(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as response:
        return json.load(response)  # type: ignore[no-any-return]


def test_two_autoscaler_processes_one_acts_and_the_other_takes_over_when_it_dies(
    redis: Any, tier_redis_url: str, moto_url: str, tmp_path: Path
) -> None:
    """`python -m hn_autoscale` as the hosts run it (the PEX's entry point), twice, on one lease:
    each serves and writes its ready file; exactly one is active; kill -9 that one and the other
    takes over; stopped with SIGTERM, it exits 0 and leaves the lease free. (No yellow answers
    here, so neither decides anything: the AWS driver is built, against the emulator, and idle.)"""
    key = _key()
    config = {
        "interval_s": 0.5,
        "services": {"sso": {"rule": {"min_instances": 1, "max_instances": 4}}},
        "aws": {"region": "eu-west-1", "group_template": "hn-test-{service}"},
        "lease": {"key": key, "ttl_s": TTL},
    }
    ports, processes = {}, {}
    for name in ("autoscaler-a", "autoscaler-b"):
        ports[name] = free_port()
        env = child_env(
            {
                "HN_AUTOSCALE_CONFIG": json.dumps(config),
                "HN_REDIS_URL": tier_redis_url,
                "HN_YELLOW": f"tcp://127.0.0.1:{free_port()}",
                "HN_INSTANCE": name,
                "HN_HTTP_PORT": str(ports[name]),
                "HN_READY_FILE": str(tmp_path / f"{name}.ready.json"),
                "AWS_ENDPOINT_URL": moto_url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
            }
        )
        processes[name] = ManagedProcess(
            name, [sys.executable, "-m", "hn_autoscale"], log_path=str(tmp_path / f"{name}.log"), env=env
        ).start()
    try:
        for name, process in processes.items():
            ready = tmp_path / f"{name}.ready.json"
            process.wait_ready(ready.exists, timeout=30 * time_factor(), what="its ready file")
            assert json.loads(ready.read_text())["instance"] == name

        def active() -> list[str]:
            return [n for n, p in processes.items() if p.alive and _status(ports[n])["active"]]

        def the_one_active() -> str | None:
            now = active()
            return now[0] if len(now) == 1 else None

        holder = wait_until(the_one_active, timeout=TTL * 4)
        assert holder is not None
        assert redis.get(key) == holder.encode()
        (standby,) = set(processes) - {holder}
        processes[holder].kill()
        assert wait_until(lambda: active() == [standby], timeout=TTL * 4)
        processes[standby].stop()
        assert processes[standby].returncode == 0, processes[standby].log_tail()
        assert redis.get(key) is None, "released on SIGTERM"
    finally:
        for process in processes.values():
            process.stop()
