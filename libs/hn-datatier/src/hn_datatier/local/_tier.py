"""The data tier on one machine: its lifecycle and the face tests and the local cluster see.

Everything runs on free loopback ports, in a scratch directory, as children that die with the
launcher (`hn_process.dies_with_parent` and a `Watchdog`). Every server wants a password: the
tier makes its own at start (`Secrets`, in `<scratch>/secrets`, files readable by their owner
only) and hands them out only inside the URLs and DSNs of `tier.env`. The configuration files are rendered
from the templates production uses (`hn_datatier/templates`), so this is also the reference for
how the tier is wired: PostgreSQL in `_postgres` (its failover keeper in `_keeper`, pgBackRest in
`_backup`), Pgpool in `_pgpool`, Redis, Sentinel and Twemproxy in `_redis`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from hn_datatier.local._config import DataTierConfig
from hn_datatier.local._exporters import Exporters
from hn_datatier.local._place import Place
from hn_datatier.local._ports import PortPool
from hn_datatier.local._postgres import PgNode, PostgresNodes
from hn_datatier.local._redis import RedisNode, RedisNodes, SentinelNode, Shard
from hn_datatier.local._secrets import Secrets
from hn_process import ManagedProcess, Watchdog

__all__ = ["DataTier"]


@dataclass
class DataTier:
    """Start with `start()` or `with DataTier() as tier:`; `tier.env` holds what services need.

    `tier.postgres` (PostgresNodes) and `tier.redis` (RedisNodes) are its two halves; the tier's
    own attributes below are the parts of them tests and chaos use (`tier.pg_replica`,
    `tier.sentinel_master("shard0")`, ...).
    """

    config: DataTierConfig = field(default_factory=DataTierConfig)

    def __post_init__(self) -> None:
        self.scratch = ""
        self.secrets: Secrets | None = None
        self.ports = PortPool()
        self.watchdog: Watchdog | None = None
        self.postgres = PostgresNodes(self.config, self.ports)
        self.redis = RedisNodes(self.config, self.ports)
        self.exporters = Exporters(self.ports)
        self._started = False

    def __enter__(self) -> DataTier:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> DataTier:
        if self._started:
            return self
        self._started = True
        parent = self.config.workdir or None
        if parent:
            os.makedirs(parent, exist_ok=True)
        self.scratch = tempfile.mkdtemp(prefix="hn-datatier-", dir=parent)
        os.chmod(self.scratch, 0o755)  # PostgreSQL may run as another user (see PostgresNodes)
        self.watchdog = Watchdog()
        if not self.config.keep_workdir:
            self.watchdog.remove_on_death(self.scratch)
        try:
            self.secrets = Secrets(os.path.join(self.scratch, "secrets"))
            if self.config.redis:
                # No waiting: it settles while PostgreSQL starts.
                self.redis.spawn(self.scratch, self.watchdog, self.secrets)
            if self.config.postgres:
                self.postgres.start(self.scratch, self.watchdog, self.secrets)
            if self.config.redis:
                self.redis.wait()
                self.redis.start_agent()
            if self.config.exporters:
                self.exporters.start(
                    self.scratch,
                    self.watchdog,
                    self.secrets,
                    postgres=self.postgres if self.config.postgres else None,
                    redis=self.redis if self.config.redis else None,
                    timeout=self.config.start_timeout,
                )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop everything, front to back, and remove the scratch directory. Idempotent."""
        if not self._started:
            return
        errors = []
        self.postgres.quiesce()
        for proc in self.exporters.stop_order() + self.redis.stop_order() + self.postgres.stop_order():
            try:
                proc.stop(timeout=self.config.stop_timeout)
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

    # -- the whole tier ------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """The environment a service (or a test) uses: HN_PG_DSN and HN_REDIS_URL, each with the
        services' password, plus the direct addresses for tests and chaos (as they were at start:
        a failover moves Redis masters). No other password: those stay in `tier.secrets`."""
        return self.postgres.env() | self.redis.env()

    def places(self) -> dict[str, Place]:
        """Role -> the Place its processes run on (every role of this configuration; see
        hn_datatier.local._place for the names): callers print a layout from it."""
        return {role: self.config.place(role) for role in self.config.roles()}

    def processes(self) -> list[ManagedProcess]:
        """Every server process of the tier (the agent's nutcracker runs in the agent's group)."""
        return self.postgres.processes() + self.redis.processes() + self.exporters.processes()

    def listening_ports(self) -> list[int]:
        """Every TCP port the tier listens on."""
        return self.postgres.listening_ports() + self.redis.listening_ports() + self.exporters.listening_ports()

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly picture of the tier (the `up` CLI prints it)."""
        return {
            "scratch": self.scratch,
            "secrets": self.secrets.directory if self.secrets else "",
            "env": self.env,
            "places": {role: place.address for role, place in self.places().items()},
            **self.postgres.describe(),
            **self.redis.describe(),
            **self.exporters.describe(),
        }

    def logs(self) -> Iterator[tuple[str, str]]:
        """(process name, last lines of its log) for every process: attach to a failing test."""
        for proc in self.processes():
            yield proc.name, proc.log_tail()

    def dump(self) -> str:
        return json.dumps(self.describe(), indent=2)

    # -- PostgreSQL and Pgpool (see PostgresNodes) ---------------------------------------

    @property
    def pg_nodes(self) -> list[PgNode]:
        return self.postgres.nodes

    @property
    def pg_primary(self) -> PgNode:
        return self.postgres.primary

    @property
    def pg_replica(self) -> PgNode:
        return self.postgres.replica

    @property
    def pgpool(self) -> ManagedProcess | None:
        return self.postgres.pgpool

    @property
    def pgpool_port(self) -> int:
        return self.postgres.pgpool_port

    @property
    def pg_dsn(self) -> str:
        """Services' DSN: Pgpool."""
        return self.postgres.dsn

    def pg_direct_dsn(self, node: PgNode, *, admin: bool = False) -> str:
        return self.postgres.direct_dsn(node, admin=admin)

    def pool_nodes(self) -> list[dict[str, str]]:
        """Pgpool's `SHOW POOL_NODES`, one dict per backend."""
        return self.postgres.pool_nodes()

    def restart_postgres(self, node: PgNode, *, kill: bool = False) -> None:
        """Stop a PostgreSQL node (fast shutdown, or kill -9) and start it again on its port; the
        replica resumes streaming. Waits until Pgpool sees every backend up again."""
        self.postgres.restart(node, kill=kill)

    def restart_pgpool(self, *, kill: bool = False) -> None:
        """Stop Pgpool (fast shutdown, or kill -9) and start it again on its port."""
        self.postgres.restart_pgpool(kill=kill)

    def hold_postgres(self, node: PgNode) -> AbstractContextManager[None]:
        """Keep the keeper's hands off a node inside the block (a lost host: killed there, it
        stays down; on leaving, the keeper brings it back as the primary's replica)."""
        return self.postgres.hold(node)

    def pg_backup(self, kind: str = "full") -> dict[str, Any]:
        """A pgBackRest base backup of the primary (full, diff, incr): its info."""
        return self.postgres.backup(kind)

    def pg_archive_now(self) -> str:
        """Close the primary's WAL segment and wait until pgBackRest has archived it: every commit
        so far can be restored. Returns the segment's name."""
        return self.postgres.archive_now()

    def pg_restore(self, target_time: str) -> PgNode:
        """A fresh PostgreSQL node restored to `target_time` from backups and archived WAL (see
        PostgresNodes.restore); `tier.pg_direct_dsn(node)` reaches it."""
        return self.postgres.restore(target_time)

    # -- Redis, Sentinel, Twemproxy (see RedisNodes) -------------------------------------

    @property
    def shards(self) -> list[Shard]:
        return self.redis.shards

    @property
    def sentinel_nodes(self) -> list[SentinelNode]:
        return self.redis.sentinels

    @property
    def agent(self) -> ManagedProcess | None:
        return self.redis.agent

    @property
    def redis_url(self) -> str:
        """Services' Redis: Twemproxy, with its password (connect with `hn_datatier.redis_from_url`)."""
        return self.redis.url

    def redis_url_to(self, address: str) -> str:
        """HN_REDIS_URL for a client that reaches Twemproxy at another `host:port` (a fault proxy)."""
        return self.redis.url_to(address)

    @property
    def twemproxy_port(self) -> int:
        return self.redis.twemproxy_port

    @property
    def twemproxy_config(self) -> str:
        return self.redis.twemproxy_config

    @property
    def agent_metrics_url(self) -> str:
        return self.redis.agent_metrics_url

    def shard(self, name: str) -> Shard:
        return self.redis.shard(name)

    def sentinel_master(self, shard: str) -> RedisNode | None:
        """The shard's master as the Sentinels see it now (the newest config epoch wins)."""
        return self.redis.sentinel_master(shard)

    def twemproxy_servers(self) -> dict[str, str]:
        """Shard name -> the address Twemproxy's configuration points at now."""
        return self.redis.twemproxy_servers()

    def restart_redis(self, node: RedisNode, *, replica_of: RedisNode | None = None) -> None:
        """Start a stopped Redis node again on its port, as a replica of `replica_of` if given."""
        self.redis.restart(node, replica_of=replica_of)
