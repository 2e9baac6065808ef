"""What a local tier starts, and how."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HOST", "SYNC_MODES", "DataTierConfig"]

#: Every server of a local tier listens on the loopback only.
HOST = "127.0.0.1"

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
    # Prometheus exporters, one per server (hn_datatier.local._exporters): `hn up` and the ops tests
    exporters: bool = False
    # Process management
    workdir: str = ""  # parent of the scratch directory (default: the system temp dir)
    keep_workdir: bool = False
    start_timeout: float = 60.0
    stop_timeout: float = 15.0

    def __post_init__(self) -> None:
        if self.pg_synchronous not in SYNC_MODES:
            raise ValueError(f"pg_synchronous must be one of {SYNC_MODES}, not {self.pg_synchronous!r}")
