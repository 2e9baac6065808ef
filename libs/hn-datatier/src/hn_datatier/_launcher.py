"""The data tier on one machine: PostgreSQL behind Pgpool-II, sharded Redis behind Twemproxy.

```
 HN_PG_DSN ──> Pgpool-II ──writes──> PostgreSQL primary ──streaming WAL──> PostgreSQL replica
                   └──────reads (balanced by weight)─────────────┴─────────────────┘

 HN_REDIS_URL ──> Twemproxy (ketama over named shards) ──> shard0 master ──> shard0 replica
                      ^                                └──> shard1 master ──> shard1 replica
                      │ rewrite + restart                       ^ watch, promote
 hn_datatier.agent <──┴── +switch-master ──── Sentinel x3 (quorum 2) ┘
```

Everything runs on free loopback ports, in a scratch directory, as children that die with the
launcher (see `_process`). The configuration files are rendered from the templates production
uses (`hn_datatier/templates`), so this is also the reference for how the tier is wired.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hn_datatier._client import redis_client
from hn_datatier._ports import PortPool, port_accepts
from hn_datatier._process import ManagedProcess, ProcessFailed, Watchdog, wait_until
from hn_datatier._templates import render
from hn_datatier._twemproxy import TwemproxyServer, parse_servers, render_config

if TYPE_CHECKING:
    # Never imported at run time: tells build tools (Pants' dependency inference) to ship the
    # agent's entry point, which the launcher runs as `python -m hn_datatier.agent`.
    import hn_datatier.agent.__main__  # noqa: F401

__all__ = ["DataTier", "DataTierConfig", "PgNode", "RedisNode", "Shard", "find_pg_bin_dir"]

HOST = "127.0.0.1"


def find_pg_bin_dir() -> str:
    """PostgreSQL's server binaries: $HN_PG_BIN_DIR, else Debian's newest /usr/lib/postgresql/N/bin."""
    explicit = os.environ.get("HN_PG_BIN_DIR")
    if explicit:
        return explicit
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[-3].split(".")[0]))
    if found:
        return os.path.dirname(found[-1])
    postgres = shutil.which("postgres")
    if postgres:
        return os.path.dirname(postgres)
    raise FileNotFoundError("PostgreSQL server binaries not found: run scripts/install-system-packages.sh")


@dataclass(frozen=True)
class DataTierConfig:
    """What to start and how. Defaults suit tests on a small machine; production values are in
    the templates' comments."""

    postgres: bool = True
    redis: bool = True
    # PostgreSQL / Pgpool
    database: str = "highnoon"
    user: str = "highnoon"
    pg_bin_dir: str = ""
    fsync: bool = False
    read_weights: tuple[int, int] = (1, 1)  # Pgpool backend weights: primary, replica
    # Each pgpool child serves one client connection for that connection's life: the sum of
    # the services' pool sizes must stay under it (2 sso + 2 match instances x 8-10 locally).
    pgpool_children: int = 64
    pgpool_max_pool: int = 1
    pg_max_connections: int = 100
    pgpool_check_period: int = 1  # seconds between Pgpool's health and replication checks
    # Redis / Sentinel / Twemproxy
    shards: int = 2
    sentinels: int = 3
    quorum: int = 2
    down_after_ms: int = 1000
    failover_timeout_ms: int = 4000  # also: a shard fails over again 2x this after the last time
    twemproxy_timeout_ms: int = 1000
    agent_reconcile_interval: float = 1.0
    # Process management
    workdir: str = ""  # parent of the scratch directory (default: the system temp dir)
    keep_workdir: bool = False
    start_timeout: float = 60.0
    stop_timeout: float = 15.0


@dataclass
class PgNode:
    name: str  # pg0 (the first primary), pg1 (its replica)
    port: int
    data_dir: str
    process: ManagedProcess

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"


@dataclass
class RedisNode:
    name: str  # shard0-a, shard0-b, ...
    shard: str
    port: int
    dir: str
    process: ManagedProcess
    replica_of: int | None = None  # master port it was (last) started to replicate

    @property
    def host(self) -> str:
        return HOST

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"


@dataclass
class Shard:
    name: str  # the Sentinel master name, also the Twemproxy server name
    nodes: list[RedisNode]  # nodes[0] was the master at start


@dataclass
class _Sentinel:
    port: int
    dir: str
    process: ManagedProcess

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"


@dataclass
class DataTier:
    """Start with `start()` or `with DataTier() as tier:`; `tier.env` holds what services need."""

    config: DataTierConfig = field(default_factory=DataTierConfig)

    def __post_init__(self) -> None:
        self.scratch = ""
        self.ports = PortPool()
        self.watchdog: Watchdog | None = None
        self.pg_nodes: list[PgNode] = []
        self.pgpool: ManagedProcess | None = None
        self.pgpool_port = 0
        self.pcp_port = 0
        self.shards: list[Shard] = []
        self.sentinel_nodes: list[_Sentinel] = []
        self.agent: ManagedProcess | None = None
        self.twemproxy_port = 0
        self.twemproxy_stats_port = 0
        self.agent_metrics_port = 0
        self.twemproxy_config = ""
        self.pg_bin = ""
        self._pg_user: tuple[int, int] | None = None
        self._started = False

    # -- public face ---------------------------------------------------------------------

    def __enter__(self) -> DataTier:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def pg_dsn(self) -> str:
        """Services' DSN: Pgpool."""
        return f"postgresql://{self.config.user}@{HOST}:{self.pgpool_port}/{self.config.database}"

    @property
    def pg_admin_dsn(self) -> str:
        """Superuser through Pgpool (tests that create databases or look at pg_stat_*)."""
        return f"postgresql://postgres@{HOST}:{self.pgpool_port}/postgres"

    def pg_direct_dsn(self, node: PgNode, *, admin: bool = False) -> str:
        if admin:
            return f"postgresql://postgres@{HOST}:{node.port}/postgres"
        return f"postgresql://{self.config.user}@{HOST}:{node.port}/{self.config.database}"

    @property
    def pg_primary(self) -> PgNode:
        return self.pg_nodes[0]

    @property
    def pg_replica(self) -> PgNode:
        return self.pg_nodes[1]

    @property
    def redis_url(self) -> str:
        """Services' Redis: Twemproxy (connect with `hn_datatier.redis_from_url`)."""
        return f"redis://{HOST}:{self.twemproxy_port}/0"

    @property
    def sentinel_addresses(self) -> list[str]:
        return [s.address for s in self.sentinel_nodes]

    @property
    def agent_metrics_url(self) -> str:
        return f"http://{HOST}:{self.agent_metrics_port}/metrics"

    @property
    def env(self) -> dict[str, str]:
        """The environment a service (or a test) uses: HN_PG_DSN and HN_REDIS_URL, plus the direct
        addresses for tests and chaos (as they were at start: a failover moves Redis masters)."""
        env: dict[str, str] = {}
        if self.config.postgres and self.pg_nodes:
            env.update(
                HN_PG_DSN=self.pg_dsn,
                HN_PG_ADMIN_DSN=self.pg_admin_dsn,
                HN_PG_PRIMARY_DSN=self.pg_direct_dsn(self.pg_primary),
                HN_PG_REPLICA_DSN=self.pg_direct_dsn(self.pg_replica),
                HN_PG_PRIMARY=self.pg_primary.address,
                HN_PG_REPLICA=self.pg_replica.address,
                HN_PGPOOL=f"{HOST}:{self.pgpool_port}",
                HN_PGPOOL_PCP=f"{HOST}:{self.pcp_port}",
            )
        if self.config.redis and self.shards:
            env.update(
                HN_REDIS_URL=self.redis_url,
                HN_REDIS_SHARDS=",".join(f"{s.name}={s.nodes[0].address}" for s in self.shards),
                HN_REDIS_REPLICAS=",".join(f"{s.name}={n.address}" for s in self.shards for n in s.nodes[1:]),
                HN_SENTINELS=",".join(self.sentinel_addresses),
                HN_TWEMPROXY=f"{HOST}:{self.twemproxy_port}",
                HN_TWEMPROXY_CONFIG=self.twemproxy_config,
                HN_TWEMPROXY_AGENT_METRICS=self.agent_metrics_url,
            )
        return env

    def processes(self) -> list[ManagedProcess]:
        """Every server process of the tier (the agent's nutcracker runs in the agent's group)."""
        procs = [n.process for n in self.pg_nodes]
        procs += [self.pgpool] if self.pgpool else []
        procs += [n.process for s in self.shards for n in s.nodes]
        procs += [s.process for s in self.sentinel_nodes]
        procs += [self.agent] if self.agent else []
        return procs

    def listening_ports(self) -> list[int]:
        """Every TCP port the tier listens on."""
        ports = [n.port for n in self.pg_nodes] + [s.port for s in self.sentinel_nodes]
        ports += [n.port for s in self.shards for n in s.nodes]
        if self.pgpool:
            ports += [self.pgpool_port, self.pcp_port]
        if self.agent:
            ports += [self.twemproxy_port, self.twemproxy_stats_port, self.agent_metrics_port]
        return ports

    def shard(self, name: str) -> Shard:
        for s in self.shards:
            if s.name == name:
                return s
        raise KeyError(name)

    def redis_node(self, port: int) -> RedisNode:
        for s in self.shards:
            for n in s.nodes:
                if n.port == port:
                    return n
        raise KeyError(port)

    def sentinel_master(self, shard: str) -> RedisNode | None:
        """The shard's master as the Sentinels see it now (the newest config epoch wins)."""
        import redis

        best: tuple[int, int] | None = None
        for sentinel in self.sentinel_nodes:
            try:
                with _redis(sentinel.port) as client:
                    # Epoch first, then the current address (see hn_datatier.agent's Agent._ask).
                    epoch = int(client.sentinel_master(shard).get("config-epoch", 0))
                    address = client.sentinel_get_master_addr_by_name(shard)
            except (redis.RedisError, OSError):  # a killed or restarting sentinel
                continue
            if address and (best is None or epoch > best[0]):
                best = (epoch, int(address[1]))
        return self.redis_node(best[1]) if best else None

    def twemproxy_servers(self) -> dict[str, str]:
        """Shard name -> the address Twemproxy's configuration points at now."""
        with open(self.twemproxy_config) as fh:
            return {s.name: s.address for s in parse_servers(fh.read())}

    def restart_redis(self, node: RedisNode, *, replica_of: RedisNode | None = None) -> None:
        """Start a stopped Redis node again on its port, as a replica of `replica_of` if given
        (a killed master comes back as a replica of the one Sentinel promoted)."""
        if node.process.alive:
            raise RuntimeError(f"{node.name} is running")
        self._write_redis_conf(node, replica_of.port if replica_of else None)
        node.process.start()
        node.process.wait_ready(lambda: _ping(node.port), timeout=self.config.start_timeout, what="PING")

    def restart_postgres(self, node: PgNode, *, kill: bool = False) -> None:
        """Stop a PostgreSQL node (fast shutdown, or kill -9) and start it again on its port; the
        replica resumes streaming. Waits until Pgpool sees every backend up again."""
        if kill:
            node.process.kill()
        else:
            node.process.stop(timeout=self.config.stop_timeout)
        node.process.start()
        recovery = node is not self.pg_primary
        node.process.wait_ready(
            lambda: self._pg_ready(node.port, recovery=recovery), timeout=self.config.start_timeout, what="PostgreSQL"
        )
        if self.pgpool is not None and self.pgpool.alive:
            # A node Pgpool detached meanwhile comes back through auto_failback once it streams.
            self.pgpool.wait_ready(
                self._pool_nodes_up, timeout=self.config.start_timeout, what="Pgpool sees every backend up"
            )

    def restart_pgpool(self, *, kill: bool = False) -> None:
        """Stop Pgpool (fast shutdown, or kill -9) and start it again on its port."""
        assert self.pgpool is not None
        if kill:
            self.pgpool.kill()
        else:
            self.pgpool.stop(timeout=self.config.stop_timeout)
        self.pgpool.start()
        self.pgpool.wait_ready(self._pool_nodes_up, timeout=self.config.start_timeout, what="Pgpool up")

    def _pool_nodes_up(self) -> bool:
        rows = self.pool_nodes()
        roles = sorted(r["role"] for r in rows)
        return (
            len(rows) == len(self.pg_nodes)
            and roles == ["primary", "standby"]
            and all(r["status"] in ("up", "waiting") for r in rows)
        )

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> DataTier:
        if self._started:
            return self
        self._started = True
        parent = self.config.workdir or None
        if parent:
            os.makedirs(parent, exist_ok=True)
        self.scratch = tempfile.mkdtemp(prefix="hn-datatier-", dir=parent)
        os.chmod(self.scratch, 0o755)  # PostgreSQL may run as another user (see _pg_identity)
        self.watchdog = Watchdog()
        if not self.config.keep_workdir:
            self.watchdog.remove_on_death(self.scratch)
        try:
            if self.config.redis:
                self._spawn_redis()  # no waiting: Redis and Sentinel settle while PostgreSQL starts
            if self.config.postgres:
                self._start_postgres()
                self._start_pgpool()
            if self.config.redis:
                self._wait_redis()
                self._start_agent()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop everything, front to back, and remove the scratch directory. Idempotent."""
        if not self._started:
            return
        timeout = self.config.stop_timeout
        # Front first (no new work), Sentinels before Redis (no failover during shutdown),
        # replicas before their primary.
        order: list[ManagedProcess | None] = [self.agent, *[s.process for s in self.sentinel_nodes]]
        order += [n.process for s in self.shards for n in reversed(s.nodes)]
        order += [self.pgpool, *[n.process for n in reversed(self.pg_nodes)]]
        errors = []
        for proc in order:
            if proc is None:
                continue
            try:
                proc.stop(timeout=timeout)
            except Exception as exc:  # noqa: BLE001  (keep going: leave nothing behind)
                errors.append(f"{proc.name}: {exc!r}")
        self.ports.release()
        if self.watchdog is not None:
            self.watchdog.close()
        if not self.config.keep_workdir and self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
        self._started = False
        if errors:
            raise RuntimeError("data tier stop: " + "; ".join(errors))

    # -- PostgreSQL ----------------------------------------------------------------------

    def _pg_identity(self) -> tuple[int, int] | None:
        """PostgreSQL refuses to run as root: when we are root, it runs as `postgres` (Debian's)."""
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                entry = pwd.getpwnam(name)
                return entry.pw_uid, entry.pw_gid
        raise RuntimeError("running as root and no 'postgres' user to run PostgreSQL as")

    def _pg_dir(self, name: str) -> str:
        path = os.path.join(self.scratch, name)
        os.makedirs(path, mode=0o700)
        if self._pg_user:
            os.chown(path, *self._pg_user)
        return path

    def _pg_run(self, name: str, argv: Sequence[str], log_path: str) -> None:
        """Run a PostgreSQL tool to completion (as the PostgreSQL user), failing with its output."""
        proc = ManagedProcess(
            name,
            argv,
            log_path=log_path,
            user=self._pg_user[0] if self._pg_user else None,
            group=self._pg_user[1] if self._pg_user else None,
            watchdog=self.watchdog,
        ).start()
        assert proc.process is not None
        try:
            code = proc.process.wait(timeout=self.config.start_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise ProcessFailed(f"{name} timed out:\n{proc.log_tail()}") from None
        finally:
            proc.stop()
        if code != 0:
            raise ProcessFailed(f"{name} failed ({code}):\n{proc.log_tail()}")

    def _write_pg_conf(self, data_dir: str, port: int, socket_dir: str) -> None:
        files = {
            "highnoon.conf": render(
                "postgresql.conf.tmpl",
                listen_addresses=HOST,
                port=port,
                socket_dir=socket_dir,
                max_connections=self.config.pg_max_connections,
                shared_buffers="32MB",
                wal_keep_size="256MB",
                fsync="on" if self.config.fsync else "off",
                synchronous_commit="on" if self.config.fsync else "off",
            ),
            "pg_hba.conf": render("pg_hba.conf.tmpl", auth_method="trust", client_cidr=f"{HOST}/32"),
        }
        for name, text in files.items():
            path = os.path.join(data_dir, name)
            with open(path, "w") as fh:
                fh.write(text)
            if self._pg_user:
                os.chown(path, *self._pg_user)

    def _pg_process(self, name: str, node_dir: str, data_dir: str) -> ManagedProcess:
        return ManagedProcess(
            name,
            [os.path.join(self.pg_bin, "postgres"), "-D", data_dir],
            log_path=os.path.join(node_dir, "postgres.log"),
            user=self._pg_user[0] if self._pg_user else None,
            group=self._pg_user[1] if self._pg_user else None,
            stop_signal=signal.SIGINT,  # "fast" shutdown: roll back sessions, exit
            deathsig=signal.SIGQUIT,  # "immediate" shutdown if the launcher dies
            watchdog=self.watchdog,
        )

    def _pg_ready(self, port: int, *, recovery: bool) -> bool:
        with contextlib.closing(_pg_connect(f"postgresql://postgres@{HOST}:{port}/postgres")) as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_is_in_recovery()")
                row = cur.fetchone()
                return row is not None and row[0] is recovery

    def _start_postgres(self) -> None:
        cfg = self.config
        self.pg_bin = cfg.pg_bin_dir or find_pg_bin_dir()
        self._pg_user = self._pg_identity()
        timeout = cfg.start_timeout

        # Primary: initdb, our settings (included from postgresql.conf), start.
        dir0 = self._pg_dir("pg0")
        data0 = os.path.join(dir0, "data")
        self._pg_run(
            "initdb",
            [
                os.path.join(self.pg_bin, "initdb"),
                "-D",
                data0,
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            os.path.join(dir0, "initdb.log"),
        )
        with open(os.path.join(data0, "postgresql.conf"), "a") as fh:
            fh.write("\n# HighNoon settings (hn_datatier/templates/postgresql.conf.tmpl)\ninclude 'highnoon.conf'\n")
        port0 = self.ports.allocate()
        self._write_pg_conf(data0, port0, dir0)
        primary = PgNode("pg0", port0, data0, self._pg_process("pg0", dir0, data0))
        self.pg_nodes.append(primary)
        primary.process.start()
        primary.process.wait_ready(lambda: self._pg_ready(port0, recovery=False), timeout=timeout, what="primary")
        with contextlib.closing(_pg_connect(self.pg_direct_dsn(primary, admin=True))) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE ROLE "{cfg.user}" LOGIN')
                cur.execute(f'CREATE DATABASE "{cfg.database}" OWNER "{cfg.user}"')

        # Replica: a base backup of the primary, streaming from it (-R writes primary_conninfo and
        # standby.signal; application_name lets Pgpool match it in pg_stat_replication).
        dir1 = self._pg_dir("pg1")
        data1 = os.path.join(dir1, "data")
        self._pg_run(
            "pg_basebackup",
            [
                os.path.join(self.pg_bin, "pg_basebackup"),
                "-d",
                f"host={HOST} port={port0} user=postgres application_name=pg1",
                "-D",
                data1,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
            os.path.join(dir1, "basebackup.log"),
        )
        port1 = self.ports.allocate()
        self._write_pg_conf(data1, port1, dir1)
        replica = PgNode("pg1", port1, data1, self._pg_process("pg1", dir1, data1))
        self.pg_nodes.append(replica)
        replica.process.start()
        replica.process.wait_ready(lambda: self._pg_ready(port1, recovery=True), timeout=timeout, what="replica")

        def streaming() -> bool:
            with contextlib.closing(_pg_connect(self.pg_direct_dsn(primary, admin=True))) as conn:
                with conn.cursor() as cur:
                    cur.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
                    row = cur.fetchone()
                    return row is not None and row[0] >= 1

        replica.process.wait_ready(streaming, timeout=timeout, what="replica streaming")

    def _start_pgpool(self) -> None:
        cfg = self.config
        run_dir = os.path.join(self.scratch, "pgpool")
        os.makedirs(run_dir)
        self.pgpool_port = self.ports.allocate()
        self.pcp_port = self.ports.allocate()
        backends = "\n".join(
            render(
                "pgpool-backend.conf.tmpl",
                index=i,
                host=HOST,
                port=node.port,
                weight=cfg.read_weights[min(i, 1)],
                application_name=node.name,
            )
            for i, node in enumerate(self.pg_nodes)
        )
        conf = render(
            "pgpool.conf.tmpl",
            listen_addresses=HOST,
            port=self.pgpool_port,
            pcp_port=self.pcp_port,
            run_dir=run_dir,
            backends=backends,
            num_init_children=cfg.pgpool_children,
            max_pool=cfg.pgpool_max_pool,
            enable_pool_hba="off",
            pool_passwd="",
            delay_threshold=10 * 1024 * 1024,
            check_period=cfg.pgpool_check_period,
            health_check_timeout=5,
            health_check_max_retries=3,
            auto_failback_interval=5,
            admin_user="postgres",
        )
        paths = {"pgpool.conf": conf, "pcp.conf": "# no PCP users in the local tier\n", "pool_hba.conf": ""}
        for name, text in paths.items():
            with open(os.path.join(run_dir, name), "w") as fh:
                fh.write(text)
        self.pgpool = ManagedProcess(
            "pgpool",
            [
                "pgpool",
                "-n",  # stay in the foreground: we are its supervisor
                "-D",  # forget node states of an earlier run (pgpool_status)
                "-f",
                os.path.join(run_dir, "pgpool.conf"),
                "-F",
                os.path.join(run_dir, "pcp.conf"),
                "-a",
                os.path.join(run_dir, "pool_hba.conf"),
            ],
            log_path=os.path.join(run_dir, "pgpool.log"),
            stop_signal=signal.SIGINT,  # "fast" mode
            deathsig=signal.SIGINT,
            watchdog=self.watchdog,
        ).start()

        self.pgpool.wait_ready(
            self._pool_nodes_up, timeout=cfg.start_timeout, what="SHOW POOL_NODES: primary and standby up"
        )

    def pool_nodes(self) -> list[dict[str, str]]:
        """Pgpool's `SHOW POOL_NODES`, one dict per backend."""
        with contextlib.closing(_pg_connect(self.pg_admin_dsn)) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SHOW POOL_NODES")
                names = [d[0] for d in cur.description or ()]
                return [dict(zip(names, map(str, row), strict=False)) for row in cur.fetchall()]

    # -- Redis, Sentinel, Twemproxy ------------------------------------------------------

    def _write_redis_conf(self, node: RedisNode, master_port: int | None) -> None:
        node.replica_of = master_port
        text = render(
            "redis.conf.tmpl",
            bind=HOST,
            port=node.port,
            dir=node.dir,
            persistence_comment="none in the local tier (production: RDB snapshots on the replica)",
            save='""',
            appendonly="no",
            maxmemory="64mb",
            maxmemory_policy="noeviction",
            diskless_sync_delay=0,
            replica_priority=100,
            replicaof=f"replicaof {HOST} {master_port}" if master_port else "",
        )
        with open(os.path.join(node.dir, "redis.conf"), "w") as fh:
            fh.write(text)

    def _spawn_redis(self) -> None:
        cfg = self.config
        for i in range(cfg.shards):
            name = f"shard{i}"
            shard = Shard(name, [])
            for j, suffix in enumerate("ab"):
                node_name = f"{name}-{suffix}"
                node_dir = os.path.join(self.scratch, "redis", node_name)
                os.makedirs(node_dir)
                port = self.ports.allocate()
                proc = ManagedProcess(
                    node_name,
                    ["redis-server", os.path.join(node_dir, "redis.conf")],
                    log_path=os.path.join(node_dir, "redis.log"),
                    watchdog=self.watchdog,
                )
                node = RedisNode(node_name, name, port, node_dir, proc)
                self._write_redis_conf(node, shard.nodes[0].port if j else None)
                shard.nodes.append(node)
                proc.start()
            self.shards.append(shard)
        monitors = "\n".join(
            render(
                "sentinel-monitor.conf.tmpl",
                name=s.name,
                host=HOST,
                port=s.nodes[0].port,
                quorum=cfg.quorum,
                down_after_ms=cfg.down_after_ms,
                failover_timeout_ms=cfg.failover_timeout_ms,
            )
            for s in self.shards
        )
        for k in range(cfg.sentinels):
            sdir = os.path.join(self.scratch, "sentinel", str(k))
            os.makedirs(sdir)
            port = self.ports.allocate()
            conf = os.path.join(sdir, "sentinel.conf")
            with open(conf, "w") as fh:
                fh.write(render("sentinel.conf.tmpl", bind=HOST, port=port, dir=sdir, monitors=monitors))
            proc = ManagedProcess(
                f"sentinel{k}",
                ["redis-sentinel", conf],
                log_path=os.path.join(sdir, "sentinel.log"),
                watchdog=self.watchdog,
            )
            self.sentinel_nodes.append(_Sentinel(port, sdir, proc))
            proc.start()

    def _wait_redis(self) -> None:
        timeout = self.config.start_timeout
        for shard in self.shards:
            master, *replicas = shard.nodes
            master.process.wait_ready(functools.partial(_ping, master.port), timeout=timeout, what="PING")
            for replica in replicas:
                replica.process.wait_ready(
                    functools.partial(_replica_linked, replica.port),
                    timeout=timeout,
                    what="replication link up",
                )
        others = len(self.sentinel_nodes) - 1

        def sentinel_knows_all(port: int) -> bool:
            with _redis(port) as client:
                for shard in self.shards:
                    state = client.sentinel_master(shard.name)
                    if int(state["num-other-sentinels"]) < others or int(state["num-slaves"]) < len(shard.nodes) - 1:
                        return False
            return True

        for sentinel in self.sentinel_nodes:
            sentinel.process.wait_ready(
                functools.partial(sentinel_knows_all, sentinel.port),
                timeout=timeout,
                what="sentinel sees the other sentinels and every replica",
            )

    def _start_agent(self) -> None:
        cfg = self.config
        agent_dir = os.path.join(self.scratch, "twemproxy")
        os.makedirs(agent_dir)
        self.twemproxy_port = self.ports.allocate()
        self.twemproxy_stats_port = self.ports.allocate()
        self.agent_metrics_port = self.ports.allocate()
        self.twemproxy_config = os.path.join(agent_dir, "nutcracker.yml")
        with open(self.twemproxy_config, "w") as fh:
            fh.write(
                render_config(
                    pool="highnoon",
                    listen=f"{HOST}:{self.twemproxy_port}",
                    servers=[TwemproxyServer(s.name, HOST, s.nodes[0].port) for s in self.shards],
                    timeout_ms=cfg.twemproxy_timeout_ms,
                )
            )
        ready_file = os.path.join(agent_dir, "agent.ready")
        env = dict(os.environ)
        # The agent imports what this process imports (a test sandbox, a PEX, a venv).
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in sys.path if p)
        self.agent = ManagedProcess(
            "twemproxy-agent",
            [
                sys.executable,
                "-m",
                "hn_datatier.agent",
                "--sentinels",
                ",".join(self.sentinel_addresses),
                "--config",
                self.twemproxy_config,
                "--supervise",
                "--stats-port",
                str(self.twemproxy_stats_port),
                "--reconcile-interval",
                str(cfg.agent_reconcile_interval),
                "--sentinel-timeout",
                "0.5",
                "--metrics-port",
                str(self.agent_metrics_port),
                "--ready-file",
                ready_file,
            ],
            log_path=os.path.join(agent_dir, "agent.log"),
            env=env,
            cwd=agent_dir,
            watchdog=self.watchdog,
        ).start()
        self.agent.wait_ready(lambda: os.path.exists(ready_file), timeout=cfg.start_timeout, what="agent ready")
        wait_until(lambda: port_accepts(self.twemproxy_port), timeout=cfg.start_timeout, what="twemproxy")

        def round_trip() -> bool:
            with _redis(self.twemproxy_port) as client:
                for i in range(4 * len(self.shards)):  # a few keys: very likely every shard
                    key = f"hn-datatier:probe:{i}:{time.monotonic_ns()}"
                    client.set(key, "1", ex=60)
                    if client.get(key) != "1":
                        return False
            return True

        self.agent.wait_ready(round_trip, timeout=cfg.start_timeout, what="SET/GET through twemproxy")

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly picture of the tier (the `up` CLI prints it)."""
        return {
            "scratch": self.scratch,
            "env": self.env,
            "postgres": [{"name": n.name, "address": n.address, "pid": n.process.pid} for n in self.pg_nodes],
            "pgpool": {"address": f"{HOST}:{self.pgpool_port}", "pid": self.pgpool.pid if self.pgpool else None},
            "redis": [
                {
                    "shard": s.name,
                    "nodes": [{"name": n.name, "address": n.address, "pid": n.process.pid} for n in s.nodes],
                }
                for s in self.shards
            ],
            "sentinels": [{"address": s.address, "pid": s.process.pid} for s in self.sentinel_nodes],
            "twemproxy": {"address": f"{HOST}:{self.twemproxy_port}", "config": self.twemproxy_config},
            "agent": {"pid": self.agent.pid if self.agent else None, "metrics": self.agent_metrics_url},
        }

    def logs(self) -> Iterator[tuple[str, str]]:
        """(process name, last lines of its log) for every process: attach to a failing test."""
        for proc in self.processes():
            yield proc.name, proc.log_tail()

    def dump(self) -> str:
        return json.dumps(self.describe(), indent=2)


def _pg_connect(dsn: str) -> Any:
    import psycopg2

    return psycopg2.connect(dsn, connect_timeout=5)


def _redis(port: int) -> Any:
    return redis_client(HOST, port, socket_timeout=2, socket_connect_timeout=2, decode_responses=True)


def _ping(port: int) -> bool:
    with _redis(port) as client:
        return bool(client.ping())


def _replica_linked(port: int) -> bool:
    with _redis(port) as client:
        return bool(client.info("replication").get("master_link_status") == "up")
