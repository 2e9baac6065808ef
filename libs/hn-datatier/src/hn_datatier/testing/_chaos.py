"""Chaos helpers: break the tier's Redis half on purpose and measure what a client sees."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import redis

from hn_datatier import redis_from_url
from hn_datatier.local import DataTier, RedisNode
from hn_process import time_factor, wait_until

__all__ = ["FailoverReport", "direct_redis", "key_on_shard", "kill_redis_master", "restore_redis_node"]


def direct_redis(node: RedisNode, **options: Any) -> Any:
    """A client to one Redis node itself (not through Twemproxy), as its `admin` user: for checks
    and chaos only."""
    return node.client(**options)


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
            with sentinel.client() as client:
                replicas = client.sentinel_slaves(node.shard)
            mine = [r for r in replicas if int(r["port"]) == node.port]
            if not mine or mine[0].get("is_sdown") or mine[0].get("master-link-status") != "ok":
                return False
        return True

    wait_until(
        healthy_everywhere,
        timeout=timeout,
        interval=0.1,
        message=f"sentinels to see {node.name} as replica",
        scaled=True,
    )
