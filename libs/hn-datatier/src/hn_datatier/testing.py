"""pytest fixtures and chaos helpers for tests that need the real data tier.

In a package's `tests/conftest.py`:

```python
from hn_datatier.testing import data_tier, data_tier_env  # noqa: F401  (pytest fixtures)
```

- `data_tier` (session): a started `DataTier`; one per test process (Pants runs each test file in
  its own process, so one per file).
- `data_tier_env` (function): `data_tier.env` set in `os.environ` for the test (HN_PG_DSN,
  HN_REDIS_URL, ...), restored afterwards.
- `start_data_tier(**config)`: a private tier for tests that break things beyond repair.
- `kill_redis_master(tier, "shard0")`: kill -9 a shard's master, wait until Sentinel promoted the
  replica, the agent repointed Twemproxy and SET/GET through Twemproxy work again; returns the
  timings (`FailoverReport`) and, by default, brings the killed node back as the new replica.
- `key_on_shard(tier, "shard1")`: a key Twemproxy routes to that shard.

Timeouts scale with HN_TEST_TIME_FACTOR (`hn_runtime.testing.time_factor`).
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis

from hn_datatier._client import redis_client, redis_from_url
from hn_datatier._launcher import DataTier, DataTierConfig, RedisNode
from hn_runtime.testing import time_factor, wait_for

__all__ = [
    "FailoverReport",
    "data_tier",
    "data_tier_env",
    "direct_redis",
    "direct_redis_port",
    "key_on_shard",
    "kill_redis_master",
    "no_process_left",
    "processes",
    "restore_redis_node",
    "start_data_tier",
    "test_config",
]


def test_config(**overrides: Any) -> DataTierConfig:
    """The tier configuration for tests: short Sentinel timings, start timeout x time factor.
    HN_DATATIER_KEEP=1 keeps the scratch directory (configuration and logs) for a post-mortem."""
    overrides.setdefault("start_timeout", 60.0 * time_factor())
    overrides.setdefault("keep_workdir", os.environ.get("HN_DATATIER_KEEP", "") not in ("", "0"))
    overrides.setdefault("stop_timeout", 15.0 * time_factor())
    return DataTierConfig(**overrides)


test_config.__test__ = False  # type: ignore[attr-defined]  # not a test, despite its name


@contextlib.contextmanager
def start_data_tier(**overrides: Any) -> Iterator[DataTier]:
    """A tier of one's own, stopped at the end of the block."""
    tier = DataTier(test_config(**overrides))
    tier.start()
    try:
        yield tier
    finally:
        tier.stop()


@pytest.fixture(scope="session")
def data_tier() -> Iterator[DataTier]:
    with start_data_tier() as tier:
        yield tier


@pytest.fixture
def data_tier_env(data_tier: DataTier, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = data_tier.env
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def direct_redis(node: RedisNode, **options: Any) -> Any:
    """A client to one Redis node itself (not through Twemproxy): for checks and chaos only."""
    return direct_redis_port(node.port, **options)


def key_on_shard(tier: DataTier, shard: str, *, prefix: str = "hn-test:", ttl: int = 600) -> str:
    """A fresh key that Twemproxy stores on `shard` (found by writing and looking)."""
    master = tier.sentinel_master(shard)
    assert master is not None, f"no master known for {shard}"
    with redis_from_url(tier.redis_url, decode_responses=True) as proxy, direct_redis(master) as direct:
        for _ in range(1000):
            key = f"{prefix}{uuid.uuid4().hex[:12]}"
            proxy.set(key, "probe", ex=ttl)
            if direct.exists(key):
                return key
            proxy.delete(key)
    raise AssertionError(f"no key found on {shard}")


@dataclass
class FailoverReport:
    """What a Redis master failover looked like from a client of Twemproxy (seconds after kill -9)."""

    shard: str
    killed: str
    promoted: str
    promoted_after: float  # a Sentinel reported the new master
    repointed_after: float  # the agent's rewrite of Twemproxy's configuration was seen
    recovered_after: float  # first SET+GET through Twemproxy that worked (the outage window)
    failed_calls: int  # SET/GET attempts through Twemproxy that failed meanwhile
    errors: list[str] = field(default_factory=list)  # distinct error messages seen

    def __str__(self) -> str:
        return (
            f"{self.shard}: killed {self.killed}; promoted {self.promoted} after {self.promoted_after:.2f}s; "
            f"twemproxy repointed after {self.repointed_after:.2f}s; SET/GET through twemproxy back after "
            f"{self.recovered_after:.2f}s (outage window; {self.failed_calls} failed calls: {self.errors})"
        )


def kill_redis_master(
    tier: DataTier, shard: str = "shard0", *, timeout: float = 30.0, restore: bool = True, interval: float = 0.01
) -> FailoverReport:
    """kill -9 the shard's master and measure until Twemproxy serves the shard again.

    A client (short timeouts, like a service's) SETs and GETs one key of the shard through
    Twemproxy every `interval`: every answer must be right; errors are counted. With `restore`,
    the killed node then comes back as a replica of the promoted one, healthy in every Sentinel's
    eyes, so the shard can fail over again (Sentinel waits 2 x failover-timeout between two
    failovers of one shard).
    """
    old = tier.sentinel_master(shard)
    assert old is not None, f"no master known for {shard}"
    assert any(n.process.alive for n in tier.shard(shard).nodes if n is not old), f"{shard} has no live replica"
    key = key_on_shard(tier, shard)
    deadline_s = timeout * time_factor()
    client = redis_from_url(tier.redis_url, decode_responses=True, socket_timeout=1.0, socket_connect_timeout=1.0)
    promoted: RedisNode | None = None
    promoted_after = repointed_after = recovered_after = -1.0
    failed = 0
    errors: list[str] = []
    old.process.kill()
    killed_at = time.monotonic()
    n = 0
    try:
        while recovered_after < 0:
            elapsed = time.monotonic() - killed_at
            if elapsed > deadline_s:
                raise AssertionError(
                    f"{shard} not back through twemproxy {deadline_s:.0f}s after kill -9 of {old.address} "
                    f"(promoted: {promoted and promoted.address}, twemproxy: {tier.twemproxy_servers()})"
                )
            if promoted is None:
                now_master = tier.sentinel_master(shard)
                if now_master is not None and now_master is not old:
                    promoted, promoted_after = now_master, elapsed
            if promoted is not None and repointed_after < 0:
                if tier.twemproxy_servers().get(shard) == promoted.address:
                    repointed_after = time.monotonic() - killed_at
            n += 1
            value = f"{n}"
            try:
                client.set(key, value, ex=600)
                got = client.get(key)
            except (redis.RedisError, OSError) as exc:  # a failure must be an error, never a wrong answer
                failed += 1
                message = f"{type(exc).__name__}: {exc}"
                if message not in errors:
                    errors.append(message)
                time.sleep(interval)
                continue
            assert got == value, f"wrong answer through twemproxy: GET {key} = {got!r}, expected {value!r}"
            if repointed_after >= 0:
                recovered_after = time.monotonic() - killed_at
            else:
                time.sleep(interval)
    finally:
        client.close()
    assert promoted is not None
    report = FailoverReport(
        shard, old.address, promoted.address, promoted_after, repointed_after, recovered_after, failed, errors
    )
    if restore:
        restore_redis_node(tier, old, master=promoted)
    return report


def restore_redis_node(tier: DataTier, node: RedisNode, *, master: RedisNode, timeout: float = 30.0) -> None:
    """Restart a killed Redis node as `master`'s replica and wait until every Sentinel counts it
    as a healthy replica again (a candidate for the next failover)."""
    tier.restart_redis(node, replica_of=master)

    def healthy_everywhere() -> bool:
        for sentinel in tier.sentinel_nodes:
            with direct_redis_port(sentinel.port) as client:
                replicas = client.sentinel_slaves(node.shard)
            mine = [r for r in replicas if int(r["port"]) == node.port]
            if not mine or mine[0].get("is_sdown") or mine[0].get("master-link-status") != "ok":
                return False
        return True

    wait_for(healthy_everywhere, timeout=timeout, interval=0.1, message=f"sentinels to see {node.name} as replica")


def direct_redis_port(port: int, **options: Any) -> Any:
    """A client to one Redis node or Sentinel on the loopback."""
    options.setdefault("decode_responses", True)
    options.setdefault("socket_timeout", 2)
    options.setdefault("socket_connect_timeout", 2)
    return redis_client("127.0.0.1", port, **options)


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    ppid: int
    #: /proc's one-letter state ("Z": a zombie)
    state: str
    comm: str


def processes() -> Iterator[ProcessInfo]:
    """Every process on the machine, from /proc (those that exit meanwhile are skipped)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                head, _, tail = fh.read().rpartition(")")
            fields = tail.split()
            yield ProcessInfo(int(entry), int(fields[1]), fields[0], head.partition("(")[2])
        except (OSError, IndexError):
            continue


def no_process_left(pids: list[int]) -> bool:
    """True when none of `pids` exists any more (zombies of our own children count as gone)."""
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if state != "Z":
            return False
    return True
