"""What a local tier starts, and how."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hn_datatier.local._place import LOOPBACK, Place, roles
from hn_datatier.local._place import client_cidr as _client_cidr

__all__ = ["HOST", "SYNC_MODES", "DataTierConfig"]

#: Without placement, every server of a local tier listens on the loopback only.
HOST = LOOPBACK

#: What the PostgreSQL primary waits for before it acknowledges a commit (hn-datatier's README,
#: "Failover"): "available" and "durable" wait for the replica while it streams, and differ once
#: it is gone (the primary stops waiting / writes wait for its return); "off" never waits.
SYNC_MODES = ("available", "durable", "off")


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
    # A node failing this many more health checks in a row, each answered within the timeout
    # (seconds), is detached; if it was the primary, the replica is promoted. A frozen node
    # accepts connections and then says nothing: about (timeout + 1) x (retries + 1) seconds.
    pgpool_health_check_timeout: int = 2
    pgpool_health_check_retries: int = 2
    pg_synchronous: str = "available"  # one of SYNC_MODES
    # Automatic failover (Pgpool's failover_command promotes the replica); off: an operator's call.
    pg_failover: bool = True
    # The keeper (what systemd and hn-pg-keeper do on a host): restarts a dead node and rewinds an
    # old primary onto the new one, checking every this many seconds.
    pg_keeper_interval: float = 0.5
    # pgBackRest: WAL archiving and base backups into a repository directory (default: in the
    # scratch directory; `hn up` keeps it in its run directory).
    pg_backups: bool = True
    pg_backup_repo: str = ""
    # Redis / Sentinel / Twemproxy
    shards: int = 2
    sentinels: int = 3
    quorum: int = 2
    down_after_ms: int = 1000
    failover_timeout_ms: int = 4000  # also: a shard fails over again 2x this after the last time
    twemproxy_timeout_ms: int = 1000
    agent_reconcile_interval: float = 1.0
    # A master acknowledges a write only while this many replicas are connected and acknowledged
    # replication within `max_lag` seconds (Redis' min-replicas-to-write / min-replicas-max-lag;
    # every node has them, so a promoted replica keeps them). It bounds the writes a master cut off
    # from the Sentinels acknowledges before it is replaced: about max_lag seconds' worth. Off (0)
    # locally: each shard has one replica, and a lost replica would then stop every write to its
    # shard until it is back. Production, with one replica per shard, chooses between those two
    # (1 and a lag of a few seconds: writes stop while the replica is gone, none is lost on a
    # partition beyond the lag); with two replicas or more, 1 costs no availability.
    redis_min_replicas_to_write: int = 0
    redis_min_replicas_max_lag: int = 10
    # Prometheus exporters, one per server (hn_datatier.local._exporters): `hn up` and the ops tests
    exporters: bool = False
    # Placement: role -> Place (the address a role's processes bind and are advertised as, and
    # how to run a command on that host); None: everything on the loopback. Roles: see _place.py.
    placement: Callable[[str], Place] | None = None
    # Who may connect to PostgreSQL and Pgpool (pg_hba / pool_hba): empty for the loopback alone
    # without placement, or the smallest network (a /24 at most) holding every placed address.
    client_cidr: str = ""
    # Process management
    workdir: str = ""  # parent of the scratch directory (default: the system temp dir)
    keep_workdir: bool = False
    start_timeout: float = 60.0
    stop_timeout: float = 15.0

    def __post_init__(self) -> None:
        if self.pg_synchronous not in SYNC_MODES:
            raise ValueError(f"pg_synchronous must be one of {SYNC_MODES}, not {self.pg_synchronous!r}")
        if self.redis_min_replicas_to_write < 0 or self.redis_min_replicas_max_lag < 1:
            raise ValueError("redis_min_replicas_to_write must be >= 0 and redis_min_replicas_max_lag >= 1")

    @property
    def shard_names(self) -> list[str]:
        return [f"shard{i}" for i in range(self.shards)]

    def roles(self) -> list[str]:
        """The placement roles this configuration starts (see hn_datatier.local._place)."""
        return roles(postgres=self.postgres, redis=self.redis, shards=self.shard_names, sentinels=self.sentinels)

    def place(self, role: str) -> Place:
        """Where `role` runs: `placement(role)`, or the loopback without placement."""
        if self.placement is None:
            return Place()
        place = self.placement(role)
        if not isinstance(place, Place):
            raise TypeError(f"placement({role!r}) returned {place!r}, not a Place")
        return place

    def hba_cidr(self) -> str:
        """The client network of pg_hba.conf and pool_hba.conf."""
        places = [self.place(role) for role in self.roles()] if self.placement else []
        return _client_cidr(places, self.client_cidr)
