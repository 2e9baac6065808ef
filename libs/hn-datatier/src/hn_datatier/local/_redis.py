"""The tier's Redis half: pre-sharded Redis watched by Sentinels, behind Twemproxy run by the agent.

```
 HN_REDIS_URL ──> Twemproxy (ketama over named shards) ──> shard0 master ──> shard0 replica
                      ^                                └──> shard1 master ──> shard1 replica
                      │ rewrite + restart                       ^ watch, promote
 hn_datatier.agent <──┴── +switch-master ──── Sentinel x3 (quorum 2) ┘
```

Nothing answers before AUTH. Redis nodes have ACL users (redis.conf.tmpl): `default` (Twemproxy's
login, data commands only), `sentinel`, `replica` and `admin`; Twemproxy wants the default user's
password from its clients (`redis_auth`), so HN_REDIS_URL carries it; the Sentinels share their
own `requirepass`, which the agent gives them.
"""

from __future__ import annotations

import functools
import os
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hn_datatier import redis_client, redis_from_url
from hn_datatier.agent import TwemproxyServer, parse_servers
from hn_datatier.local._config import HOST, DataTierConfig
from hn_datatier.local._place import Place
from hn_datatier.local._ports import PortPool
from hn_datatier.local._secrets import Secrets, write_private
from hn_datatier.local._templates import render
from hn_datatier.local._twemproxy import render_config
from hn_process import ManagedProcess, Watchdog, child_env, port_accepts, wait_until

if TYPE_CHECKING:
    # Never imported at run time: tells build tools (Pants' dependency inference) to ship the
    # agent's entry point, which the launcher runs as `python -m hn_datatier.agent`.
    import hn_datatier.agent.__main__  # noqa: F401

__all__ = ["RedisNode", "RedisNodes", "SentinelNode", "Shard", "direct_redis_port"]


@dataclass
class RedisNode:
    name: str  # shard0-a, shard0-b, ...
    shard: str
    port: int
    dir: str
    process: ManagedProcess
    replica_of: int | None = None  # master port it was (last) started to replicate
    admin_password: str = field(default="", repr=False)
    #: its host (role redis-<shard>-0 / -1): it stays there through failovers
    place: Place = field(default_factory=Place)

    @property
    def host(self) -> str:
        return self.place.address

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def client(self, **options: Any) -> Any:
        """A client of this node itself, as its `admin` user (checks and chaos, not services)."""
        return direct_redis_port(self.port, host=self.host, username="admin", password=self.admin_password, **options)


@dataclass
class Shard:
    name: str  # the Sentinel master name, also the Twemproxy server name
    nodes: list[RedisNode]  # nodes[0] was the master at start


@dataclass
class SentinelNode:
    port: int
    dir: str
    process: ManagedProcess
    password: str = field(default="", repr=False)
    #: its host (role sentinel-<i>)
    place: Place = field(default_factory=Place)

    @property
    def host(self) -> str:
        return self.place.address

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def client(self, **options: Any) -> Any:
        """A client of this Sentinel, with the Sentinels' password."""
        return direct_redis_port(self.port, host=self.host, password=self.password, **options)


def direct_redis_port(port: int, host: str = HOST, **options: Any) -> Any:
    """A client to one server of a local tier (a Redis node, a Sentinel, Twemproxy) at `host`
    (the loopback by default), with the credentials in `options` (`password=`, and `username=` for
    a Redis ACL user); prefer `RedisNode.client()`, `SentinelNode.client()` and
    `redis_from_url(tier.redis_url)`."""
    options.setdefault("decode_responses", True)
    options.setdefault("socket_timeout", 2)
    options.setdefault("socket_connect_timeout", 2)
    return redis_client(host, port, **options)


class RedisNodes:
    """Redis shards (master + replica each), Sentinels and the agent-supervised Twemproxy, on
    ports from `ports`, in a scratch directory."""

    def __init__(self, config: DataTierConfig, ports: PortPool) -> None:
        self.config = config
        self.ports = ports
        self.shards: list[Shard] = []
        self.sentinels: list[SentinelNode] = []
        self.agent: ManagedProcess | None = None
        self.twemproxy_port = 0
        self.twemproxy_stats_port = 0
        self.agent_metrics_port = 0
        self.twemproxy_config = ""
        #: where the agent and its nutcracker run (role "twemproxy")
        self.twemproxy_place = config.place("twemproxy") if config.redis else Place()
        self._scratch = ""
        self._watchdog: Watchdog | None = None
        self._secrets: Secrets | None = None

    # -- what clients and tests see ------------------------------------------------------

    @property
    def url(self) -> str:
        """Services' Redis: Twemproxy, with its password (connect with `hn_datatier.redis_from_url`)."""
        return self.url_to(self.twemproxy_address)

    @property
    def twemproxy_address(self) -> str:
        return f"{self.twemproxy_place.address}:{self.twemproxy_port}"

    def url_to(self, address: str) -> str:
        """HN_REDIS_URL for a client that reaches Twemproxy at another `host:port` (a fault proxy)."""
        assert self._secrets is not None, "the tier is not started"
        return f"redis://:{urllib.parse.quote(self._secrets[Secrets.REDIS_DEFAULT], safe='')}@{address}/0"

    @property
    def sentinel_addresses(self) -> list[str]:
        return [s.address for s in self.sentinels]

    @property
    def agent_metrics_url(self) -> str:
        return f"http://{self.twemproxy_place.address}:{self.agent_metrics_port}/metrics"

    def env(self) -> dict[str, str]:
        if not self.shards:
            return {}
        return {
            "HN_REDIS_URL": self.url,
            "HN_REDIS_SHARDS": ",".join(f"{s.name}={s.nodes[0].address}" for s in self.shards),
            "HN_REDIS_REPLICAS": ",".join(f"{s.name}={n.address}" for s in self.shards for n in s.nodes[1:]),
            "HN_SENTINELS": ",".join(self.sentinel_addresses),
            "HN_TWEMPROXY": self.twemproxy_address,
            "HN_TWEMPROXY_CONFIG": self.twemproxy_config,
            "HN_TWEMPROXY_AGENT_METRICS": self.agent_metrics_url,
        }

    def processes(self) -> list[ManagedProcess]:
        """Every server process (the agent's nutcracker runs in the agent's group)."""
        procs = [n.process for s in self.shards for n in s.nodes] + [s.process for s in self.sentinels]
        return procs + ([self.agent] if self.agent else [])

    def stop_order(self) -> list[ManagedProcess]:
        """Front first (no new work), Sentinels before Redis (no failover during shutdown),
        replicas before their master."""
        order = ([self.agent] if self.agent else []) + [s.process for s in self.sentinels]
        return order + [n.process for s in self.shards for n in reversed(s.nodes)]

    def listening_ports(self) -> list[int]:
        ports = [s.port for s in self.sentinels] + [n.port for s in self.shards for n in s.nodes]
        if self.agent:
            ports += [self.twemproxy_port, self.twemproxy_stats_port, self.agent_metrics_port]
        return ports

    def describe(self) -> dict[str, Any]:
        return {
            "redis": [
                {
                    "shard": s.name,
                    "nodes": [{"name": n.name, "address": n.address, "pid": n.process.pid} for n in s.nodes],
                }
                for s in self.shards
            ],
            "sentinels": [{"address": s.address, "pid": s.process.pid} for s in self.sentinels],
            "twemproxy": {"address": self.twemproxy_address, "config": self.twemproxy_config},
            "agent": {"pid": self.agent.pid if self.agent else None, "metrics": self.agent_metrics_url},
        }

    def shard(self, name: str) -> Shard:
        for s in self.shards:
            if s.name == name:
                return s
        raise KeyError(name)

    def node(self, port: int, host: str | None = None) -> RedisNode:
        """The node on `port` (ports are unique in a tier), at `host` if given."""
        for s in self.shards:
            for n in s.nodes:
                if n.port == port and host in (None, n.host):
                    return n
        raise KeyError(f"{host}:{port}" if host else port)

    def sentinel_master(self, shard: str) -> RedisNode | None:
        """The shard's master as the Sentinels see it now (the newest config epoch wins)."""
        import redis

        best: tuple[int, str, int] | None = None
        for sentinel in self.sentinels:
            try:
                with sentinel.client() as client:
                    # Epoch first, then the current address (see hn_datatier.agent's Agent._ask).
                    epoch = int(client.sentinel_master(shard).get("config-epoch", 0))
                    address = client.sentinel_get_master_addr_by_name(shard)
            except (redis.RedisError, OSError):  # a killed or restarting sentinel
                continue
            if address and (best is None or epoch > best[0]):
                best = (epoch, str(address[0]), int(address[1]))
        return self.node(best[2], best[1]) if best else None

    def twemproxy_servers(self) -> dict[str, str]:
        """Shard name -> the address Twemproxy's configuration points at now."""
        with open(self.twemproxy_config) as fh:
            return {s.name: s.address for s in parse_servers(fh.read())}

    # -- chaos ---------------------------------------------------------------------------

    def restart(self, node: RedisNode, *, replica_of: RedisNode | None = None) -> None:
        """Start a stopped Redis node again on its port, as a replica of `replica_of` if given
        (a killed master comes back as a replica of the one Sentinel promoted)."""
        if node.process.alive:
            raise RuntimeError(f"{node.name} is running")
        self._write_conf(node, replica_of)
        node.process.start()
        node.process.wait_ready(lambda: _ping(node), timeout=self.config.start_timeout, what="PING")

    # -- start ---------------------------------------------------------------------------

    def spawn(self, scratch: str, watchdog: Watchdog, secrets: Secrets) -> None:
        """Start every Redis node and Sentinel without waiting: they settle while PostgreSQL starts."""
        self._scratch = scratch
        self._watchdog = watchdog
        self._secrets = secrets
        cfg = self.config
        for i in range(cfg.shards):
            name = f"shard{i}"
            shard = Shard(name, [])
            for j, suffix in enumerate("ab"):
                node_name = f"{name}-{suffix}"
                node_dir = os.path.join(scratch, "redis", node_name)
                # Private: redis.conf holds passwords (and CONFIG REWRITE makes it 0644).
                os.makedirs(node_dir, mode=0o700)
                place = cfg.place(f"redis-{name}-{j}")
                port = self.ports.allocate(place.address)
                argv, _ = place.command(["redis-server", os.path.join(node_dir, "redis.conf")])
                proc = ManagedProcess(
                    node_name,
                    argv,
                    log_path=os.path.join(node_dir, "redis.log"),
                    watchdog=watchdog,
                )
                node = RedisNode(
                    node_name, name, port, node_dir, proc, admin_password=secrets[Secrets.REDIS_ADMIN], place=place
                )
                self._write_conf(node, shard.nodes[0] if j else None)
                shard.nodes.append(node)
                proc.start()
            self.shards.append(shard)
        monitors = "\n".join(
            render(
                "sentinel-monitor.conf.tmpl",
                name=s.name,
                host=s.nodes[0].host,
                port=s.nodes[0].port,
                quorum=cfg.quorum,
                auth_pass=secrets[Secrets.REDIS_SENTINEL],
                down_after_ms=cfg.down_after_ms,
                failover_timeout_ms=cfg.failover_timeout_ms,
            )
            for s in self.shards
        )
        for k in range(cfg.sentinels):
            sdir = os.path.join(scratch, "sentinel", str(k))
            os.makedirs(sdir, mode=0o700)  # sentinel.conf holds passwords
            place = cfg.place(f"sentinel-{k}")
            port = self.ports.allocate(place.address)
            conf = os.path.join(sdir, "sentinel.conf")
            with open(conf, "w") as fh:
                fh.write(
                    render(
                        "sentinel.conf.tmpl",
                        bind=place.address,
                        port=port,
                        dir=sdir,
                        password=secrets[Secrets.SENTINEL],
                        monitors=monitors,
                    )
                )
            proc = ManagedProcess(
                f"sentinel{k}",
                place.command(["redis-sentinel", conf])[0],
                log_path=os.path.join(sdir, "sentinel.log"),
                watchdog=watchdog,
            )
            self.sentinels.append(SentinelNode(port, sdir, proc, password=secrets[Secrets.SENTINEL], place=place))
            proc.start()

    def wait(self) -> None:
        """Until every master answers, every replica is linked and every Sentinel knows them all."""
        timeout = self.config.start_timeout
        for shard in self.shards:
            master, *replicas = shard.nodes
            master.process.wait_ready(functools.partial(_ping, master), timeout=timeout, what="PING")
            for replica in replicas:
                replica.process.wait_ready(
                    functools.partial(_replica_linked, replica),
                    timeout=timeout,
                    what="replication link up",
                )
        others = len(self.sentinels) - 1

        def sentinel_knows_all(sentinel: SentinelNode) -> bool:
            with sentinel.client() as client:
                for shard in self.shards:
                    state = client.sentinel_master(shard.name)
                    if int(state["num-other-sentinels"]) < others or int(state["num-slaves"]) < len(shard.nodes) - 1:
                        return False
            return True

        for sentinel in self.sentinels:
            sentinel.process.wait_ready(
                functools.partial(sentinel_knows_all, sentinel),
                timeout=timeout,
                what="sentinel sees the other sentinels and every replica",
            )

    def start_agent(self) -> None:
        """Twemproxy in front of the shards' masters, run and repointed by the Sentinel agent."""
        cfg = self.config
        assert self._secrets is not None
        agent_dir = os.path.join(self._scratch, "twemproxy")
        os.makedirs(agent_dir, mode=0o700)  # nutcracker.yml holds redis_auth
        place = self.twemproxy_place
        self.twemproxy_port = self.ports.allocate(place.address)
        self.twemproxy_stats_port = self.ports.allocate(place.address)
        self.agent_metrics_port = self.ports.allocate(place.address)
        self.twemproxy_config = os.path.join(agent_dir, "nutcracker.yml")
        write_private(
            self.twemproxy_config,
            render_config(
                pool="highnoon",
                listen=self.twemproxy_address,
                servers=[TwemproxyServer(s.name, s.nodes[0].host, s.nodes[0].port) for s in self.shards],
                timeout_ms=cfg.twemproxy_timeout_ms,
                redis_auth=self._secrets[Secrets.REDIS_DEFAULT],
            ),
        )
        ready_file = os.path.join(agent_dir, "agent.ready")
        argv, _ = place.command(
            [
                sys.executable,
                "-m",
                "hn_datatier.agent",
                "--sentinels",
                ",".join(self.sentinel_addresses),
                # Files, never the passwords themselves: a command line is visible to every user.
                "--sentinel-password-file",
                self._secrets.path(Secrets.SENTINEL),
                "--redis-password-file",
                self._secrets.path(Secrets.REDIS_DEFAULT),
                "--config",
                self.twemproxy_config,
                "--supervise",
                "--stats-host",
                place.address,
                "--stats-port",
                str(self.twemproxy_stats_port),
                "--reconcile-interval",
                str(cfg.agent_reconcile_interval),
                "--sentinel-timeout",
                "0.5",
                "--metrics-host",
                place.address,
                "--metrics-port",
                str(self.agent_metrics_port),
                "--ready-file",
                ready_file,
            ]
        )
        self.agent = ManagedProcess(
            "twemproxy-agent",
            argv,
            log_path=os.path.join(agent_dir, "agent.log"),
            env=child_env(),  # the agent imports what this process imports (a test sandbox, a PEX, a venv)
            cwd=agent_dir,
            watchdog=self._watchdog,
        ).start()
        self.agent.wait_ready(lambda: os.path.exists(ready_file), timeout=cfg.start_timeout, what="agent ready")
        wait_until(
            lambda: port_accepts(self.twemproxy_port, place.address),
            timeout=cfg.start_timeout,
            interval=0.05,
            message="twemproxy",
        )

        def round_trip() -> bool:
            with redis_from_url(self.url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2) as client:
                for i in range(4 * len(self.shards)):  # a few keys: very likely every shard
                    key = f"hn-datatier:probe:{i}:{time.monotonic_ns()}"
                    client.set(key, "1", ex=60)
                    if client.get(key) != "1":
                        return False
            return True

        self.agent.wait_ready(round_trip, timeout=cfg.start_timeout, what="SET/GET through twemproxy")

    def _write_conf(self, node: RedisNode, master: RedisNode | None) -> None:
        assert self._secrets is not None
        cfg = self.config
        node.replica_of = master.port if master else None
        text = render(
            "redis.conf.tmpl",
            bind=node.host,
            port=node.port,
            dir=node.dir,
            default_password=self._secrets[Secrets.REDIS_DEFAULT],
            sentinel_password=self._secrets[Secrets.REDIS_SENTINEL],
            replica_password=self._secrets[Secrets.REDIS_REPLICA],
            admin_password=self._secrets[Secrets.REDIS_ADMIN],
            monitor_password=self._secrets[Secrets.REDIS_MONITOR],
            persistence_comment="none in the local tier (production: RDB snapshots on the replica)",
            save='""',
            appendonly="no",
            maxmemory="64mb",
            maxmemory_policy="noeviction",
            diskless_sync_delay=0,
            replica_priority=100,
            replicaof=f"replicaof {master.host} {master.port}" if master else "",
        )
        # Not in the template, which production's Terraform renders too (its variables would have
        # to grow with it): appended here. See DataTierConfig.redis_min_replicas_to_write.
        text += (
            "\n# A master acknowledges writes only while this many replicas are connected and no more\n"
            "# than max-lag seconds behind (0: always): bounds what a cut-off master acknowledges.\n"
            f"min-replicas-to-write {cfg.redis_min_replicas_to_write}\n"
            f"min-replicas-max-lag {cfg.redis_min_replicas_max_lag}\n"
        )
        write_private(os.path.join(node.dir, "redis.conf"), text)


def _ping(node: RedisNode) -> bool:
    with node.client() as client:
        return bool(client.ping())


def _replica_linked(node: RedisNode) -> bool:
    with node.client() as client:
        return bool(client.info("replication").get("master_link_status") == "up")
