"""The platform spread over hosts (network namespaces, libs/hn-netns) for the partition scenarios
(test_partitions.py): the layout, and what a partition scenario needs beyond `Platform` (the
hosts, which host holds what, Redis' min-replicas settings, the duels in flight on a match
instance, a writer on a Redis node's side of a cut).

The layout keeps the host count low for a 2-core machine (every host's link runs through a
userspace shaper where the kernel has no netem) while every fault of the tier has hosts of its
own to cut: the Redis masters apart from their replicas and from the Sentinels, Pgpool apart from
PostgreSQL, each broker and each service pair on its own host, two yellows on hosts of their own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import gevent

from hn_cli import Cluster, ClusterSpec
from hn_datatier import redis_from_url
from hn_datatier.local import RedisNode
from hn_netns import Host, Network

import _writer
from _nemesis import Platform
from _started import chaos_spec

__all__ = ["LAYOUT", "MAX_LAG_S", "SERVICE_HOSTS", "SIDES", "HostsPlatform", "Write", "Writer", "partition_spec"]

#: host -> roles (hn_cli's layout: data-tier roles, service instances, "bots" for this process)
LAYOUT: dict[str, list[str]] = {
    "pg": ["postgres-0", "postgres-1"],
    "pool": ["pgpool", "sentinel-2"],
    "cache-a": ["redis-shard0-0", "redis-shard1-0"],  # the masters at start
    "cache-b": ["redis-shard0-1", "redis-shard1-1"],  # their replicas
    "proxy": ["twemproxy"],
    "yellow-1": ["yellow-1", "brokerlist"],
    "yellow-2": ["yellow-2"],
    "svc-1": ["sso-1", "match-1", "sentinel-0"],
    "svc-2": ["sso-2", "match-2", "sentinel-1"],
    "edge-1": ["broker-1"],
    "edge-2": ["broker-2"],
    "bots": ["bots"],
}
#: the service hosts (the yellows', sso's and match's): what a broker needs to reach
SERVICE_HOSTS = ["yellow-1", "yellow-2", "svc-1", "svc-2"]
#: the two sides of the yellows' split: each yellow with half the services and one broker
SIDES = (["yellow-1", "svc-1", "edge-1"], ["yellow-2", "svc-2", "edge-2"])

#: Redis' min-replicas-to-write 1 with this max-lag, on in this cluster (off by default locally):
#: a master cut off from its replica refuses writes once the replica's last acknowledgement is
#: older than this
MAX_LAG_S = 3


def partition_spec() -> ClusterSpec:
    return chaos_spec(hosts=len(LAYOUT), layout=LAYOUT, yellows=2)


@dataclass
class Write:
    n: int
    invoked: float  # time.monotonic()
    completed: float
    outcome: str  # ok, failed, unknown
    error: str


@dataclass
class Writer:
    """`_writer.py` running inside `host`, writing `prefix<n>` to one Redis node; a greenlet
    collects what it prints."""

    host: Host
    node: RedisNode
    prefix: str
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    reader: gevent.Greenlet | None = None

    def start(self) -> Writer:
        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:  # cooperative: subprocess is gevent's (monkey-patched)
                if line.strip():
                    self.lines.append(line.strip())

        self.reader = gevent.spawn(read)
        return self

    def writes(self) -> list[Write]:
        return [_parse(line) for line in list(self.lines)]

    def stop(self) -> list[Write]:
        """Close its stdin (it stops after the write in hand) and read everything it printed."""
        assert self.process.stdin is not None and self.reader is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)
        self.reader.join(timeout=10)
        return self.writes()


def _parse(line: str) -> Write:
    n, invoked, completed, outcome, error = line.split(" ", 4)
    return Write(int(n), float(invoked), float(completed), outcome, error)


class HostsPlatform(Platform):
    """A `Platform` whose cluster runs over hosts (`cluster.network`); this process is the
    "bots" host's (hn_cli enters it), so its checks and players go over the links."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster)
        assert cluster.network is not None, "a cluster over hosts (ClusterSpec.layout)"
        self.network: Network = cluster.network

    def host(self, name: str) -> Host:
        return self.network[name]

    def host_of(self, role: str) -> Host:
        return self.cluster.host_of(role)

    def hosts(self, names: Iterable[str]) -> list[Host]:
        return [self.network[name] for name in names]

    def host_at(self, address: str) -> Host:
        """The host holding `address` ("ip:port" or "ip")."""
        return self.network.host_at(address.rsplit(":", 1)[0] if ":" in address else address)

    # -- Redis ------------------------------------------------------------------------------------

    def redis_nodes(self) -> list[RedisNode]:
        return [node for shard in self.tier.shards for node in shard.nodes]

    def set_min_replicas(self, to_write: int, max_lag_s: int = MAX_LAG_S) -> None:
        """Every Redis node (any may be promoted): a master refuses writes unless `to_write`
        replicas acknowledged within `max_lag_s` (0: never refuses). CONFIG SET, so the setting
        holds for the running nodes; Sentinel's CONFIG REWRITE on failover keeps it."""
        for node in self.redis_nodes():
            with node.client(socket_timeout=5) as client:
                client.config_set("min-replicas-to-write", to_write)
                client.config_set("min-replicas-max-lag", max_lag_s)

    def start_writer(self, node: RedisNode, *, interval_s: float = 0.02) -> Writer:
        """A writer of numbered keys straight to `node`, from inside the node's own host: on its
        side of any cut."""
        host = self.host_at(node.host)
        prefix = f"chaos:w:{uuid.uuid4().hex[:8]}:"
        process = host.popen(
            [sys.executable, os.path.abspath(_writer.__file__), node.host, str(node.port), prefix, str(interval_s)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join(os.path.abspath(p) for p in sys.path if p),
                "HN_WRITER_PASSWORD": node.admin_password,
            },
        )
        return Writer(host, node, prefix, process).start()

    def missing(self, node: RedisNode, keys: list[str]) -> list[str]:
        """The keys of `keys` that `node` does not hold."""
        if not keys:
            return []
        with node.client() as client:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.exists(key)
            return [key for key, there in zip(keys, pipe.execute(), strict=True) if not there]

    # -- match ------------------------------------------------------------------------------------

    def duels_on(self, instance: str, accounts: Iterable[int]) -> set[str]:
        """Match ids of the duels of `accounts` that match instance `instance` holds now (match's
        own record of where each player's duel is: hn:match:room:<account>)."""
        ids = list(accounts)
        if not ids:
            return set()
        with redis_from_url(self.tier.redis_url, decode_responses=True, socket_timeout=2) as client:
            rooms: list[Any] = client.mget([f"hn:match:room:{a}" for a in ids])
        found = set()
        for room in rooms:
            if room:
                holder, _, match_id = room.partition(" ")
                if holder == instance:
                    found.add(match_id)
        return found
