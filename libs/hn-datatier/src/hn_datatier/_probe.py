"""A look at the data tier's health, for a status page: what the Sentinels and Pgpool say now.

- Redis: each Sentinel's `SENTINEL MASTERS` and `SENTINEL REPLICAS`, asked concurrently. A shard's
  master is the one the newest config epoch names (the agent's rule); `agree` counts the
  Sentinels naming it. Replica lag comes from `SENTINEL INFO-CACHE`, the master's last INFO as
  that Sentinel saw it: seconds since each replica's last acknowledgement and bytes behind (as of
  the cached INFO, whose age is given), so the probe needs the Sentinels' password only, never a
  Redis user's.
- PostgreSQL: Pgpool's `SHOW POOL_NODES` (status, role, replication delay), as a role that may
  log in through Pgpool (the health-check role `hn_pgpool`, `pg_monitor`, suits it).

Every question has a timeout and every failure is part of the answer (a dead Sentinel is a
report with its error, not an exception), so a page built from it always renders.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import gevent

from hn_datatier._client import redis_client

__all__ = [
    "DataTierReport",
    "PoolNodeReport",
    "ProbeConfig",
    "RedisNodeReport",
    "SentinelReport",
    "ShardReport",
    "probe_data_tier",
]


def _secret(env: Mapping[str, str], name: str) -> str:
    """`<name>_FILE` (a file holding it: the local launcher's way) or `<name>` itself (systemd's
    environment file in production); never a command-line argument, which every user can read."""
    path = env.get(f"{name}_FILE", "")
    if not path:
        return env.get(name, "")
    with open(path) as fh:
        return fh.read().strip()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.strip().rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"not a host:port address: {text!r}")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class ProbeConfig:
    """Where the tier's watchers are and the credentials they want.

    From the environment (`from_env`): HN_SENTINELS (host:port,...) and HN_SENTINEL_PASSWORD(_FILE)
    (the agent's names); HN_PGPOOL (host:port), HN_PGPOOL_MONITOR_USER and
    HN_PGPOOL_MONITOR_PASSWORD(_FILE); HN_DATATIER_PROBE_TIMEOUT (seconds, default 2).
    """

    sentinels: tuple[str, ...] = ()
    sentinel_password: str = field(default="", repr=False)
    pgpool: str = ""
    pg_user: str = ""
    pg_password: str = field(default="", repr=False)
    pg_database: str = "postgres"
    #: the whole probe's bound; each connection gets the same
    timeout: float = 2.0

    def __post_init__(self) -> None:
        for address in (*self.sentinels, *([self.pgpool] if self.pgpool else [])):
            _address(address)

    @property
    def configured(self) -> bool:
        return bool(self.sentinels or self.pgpool)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProbeConfig:
        env = os.environ if env is None else env
        return cls(
            sentinels=tuple(s.strip() for s in env.get("HN_SENTINELS", "").split(",") if s.strip()),
            sentinel_password=_secret(env, "HN_SENTINEL_PASSWORD"),
            pgpool=env.get("HN_PGPOOL", "").strip(),
            pg_user=env.get("HN_PGPOOL_MONITOR_USER", ""),
            pg_password=_secret(env, "HN_PGPOOL_MONITOR_PASSWORD"),
            timeout=float(env.get("HN_DATATIER_PROBE_TIMEOUT", "2")),
        )


@dataclass
class SentinelReport:
    address: str
    ok: bool
    error: str = ""


@dataclass
class RedisNodeReport:
    address: str
    role: str  # master, replica
    up: bool
    flags: str = ""  # Sentinel's flags: s_down, o_down, disconnected, ...
    #: a replica's replication link as it reports it (ok, err); "" for a master
    link: str = ""
    #: seconds since the replica's last acknowledgement, bytes behind the master (None: unknown)
    lag_seconds: float | None = None
    lag_bytes: int | None = None


@dataclass
class ShardReport:
    name: str
    master: str  # host:port, as the newest config epoch says
    epoch: int
    quorum: int
    #: Sentinels naming `master`, of `answered` that answered about this shard
    agree: int
    answered: int
    nodes: list[RedisNodeReport] = field(default_factory=list)
    #: how old the INFO behind the lag figures is, in seconds (None: no INFO cached)
    info_age: float | None = None


@dataclass
class PoolNodeReport:
    node_id: str
    address: str
    status: str  # up, waiting, down, unused
    role: str  # primary, standby
    replication_delay: str  # bytes (or seconds, with delay_threshold_by_time)
    replication_state: str = ""
    last_status_change: str = ""


@dataclass
class DataTierReport:
    configured: bool
    sentinels: list[SentinelReport] = field(default_factory=list)
    shards: list[ShardReport] = field(default_factory=list)
    pgpool: str = ""
    pgpool_error: str = ""
    pool_nodes: list[PoolNodeReport] = field(default_factory=list)
    seconds: float = 0.0  # how long the probe took


@dataclass
class _SentinelView:
    """What one Sentinel said: its masters, their replicas, the master's cached INFO."""

    masters: dict[str, dict[str, str]] = field(default_factory=dict)
    replicas: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    info: dict[str, tuple[float, str]] = field(default_factory=dict)


def _pairs(flat: Any) -> dict[str, str]:
    """A Sentinel reply's flat [key, value, key, value, ...] as a dict of strings."""
    items = [x.decode() if isinstance(x, bytes) else str(x) for x in flat]
    return dict(zip(items[::2], items[1::2], strict=False))


def _ask_sentinel(address: str, config: ProbeConfig) -> _SentinelView:
    host, port = _address(address)
    view = _SentinelView()
    # Raw replies (no redis-py parsing): the fields are Sentinel's own names, flags unparsed.
    with redis_client(
        host,
        port,
        password=config.sentinel_password or None,
        socket_timeout=config.timeout,
        socket_connect_timeout=config.timeout,
    ) as client:
        for flat in client.execute_command("SENTINEL", "MASTERS") or []:
            master = _pairs(flat)
            view.masters[master["name"]] = master
        for name in view.masters:
            raw = client.execute_command("SENTINEL", "REPLICAS", name) or []
            view.replicas[name] = [_pairs(flat) for flat in raw]
            view.info[name] = _master_info(client.execute_command("SENTINEL", "INFO-CACHE", name))
    return view


def _master_info(reply: Any) -> tuple[float, str]:
    """(age in seconds, INFO text) of the master in a `SENTINEL INFO-CACHE <name>` reply:
    [name, [[age_ms, info], ...]] with the master's entry among the nodes'."""
    try:
        entries = reply[1]
    except (IndexError, TypeError):
        return (0.0, "")
    for entry in entries or ():
        if not entry or len(entry) < 2 or entry[1] is None:
            continue
        text = entry[1].decode() if isinstance(entry[1], bytes) else str(entry[1])
        if "\nrole:master" in text or text.startswith("role:master"):
            return (int(entry[0]) / 1000.0, text)
    return (0.0, "")


def _info_fields(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith("#"):
            fields[key.strip()] = value.strip()
    return fields


def replica_lags(info_text: str) -> dict[str, tuple[float, int]]:
    """From a master's INFO: replica host:port -> (seconds since its last ack, bytes behind)."""
    fields = _info_fields(info_text)
    try:
        master_offset = int(fields.get("master_repl_offset", ""))
    except ValueError:
        return {}
    lags = {}
    for key, value in fields.items():
        if not key.startswith("slave") or not key[5:].isdigit():
            continue
        replica = dict(part.split("=", 1) for part in value.split(",") if "=" in part)
        try:
            lags[f"{replica['ip']}:{replica['port']}"] = (
                float(replica["lag"]),
                max(0, master_offset - int(replica["offset"])),
            )
        except (KeyError, ValueError):
            continue
    return lags


_DOWN_FLAGS = ("s_down", "o_down", "disconnected")


def _is_down(flags: str) -> bool:
    return any(flag in flags.split(",") for flag in _DOWN_FLAGS)


def merge_shards(views: list[_SentinelView]) -> list[ShardReport]:
    """One report per shard from the Sentinels that answered: the newest epoch's master, how many
    agree, and that Sentinel's view of the nodes."""
    names = sorted({name for view in views for name in view.masters})
    shards = []
    for name in names:
        seen = [view for view in views if name in view.masters]
        best = max(seen, key=lambda v: int(v.masters[name].get("config-epoch", "0")))
        state = best.masters[name]
        master = f"{state['ip']}:{state['port']}"
        agree = sum(1 for v in seen if f"{v.masters[name]['ip']}:{v.masters[name]['port']}" == master)
        age, info = best.info.get(name, (0.0, ""))
        lags = replica_lags(info)
        nodes = [RedisNodeReport(master, "master", not _is_down(state.get("flags", "")), state.get("flags", ""))]
        for replica in sorted(best.replicas.get(name, []), key=lambda r: (r.get("ip", ""), int(r.get("port", "0")))):
            address = f"{replica.get('ip')}:{replica.get('port')}"
            lag = lags.get(address)
            nodes.append(
                RedisNodeReport(
                    address,
                    "replica",
                    not _is_down(replica.get("flags", "")),
                    replica.get("flags", ""),
                    link=replica.get("master-link-status", ""),
                    lag_seconds=lag[0] if lag else None,
                    lag_bytes=lag[1] if lag else None,
                )
            )
        shards.append(
            ShardReport(
                name=name,
                master=master,
                epoch=int(state.get("config-epoch", "0")),
                quorum=int(state.get("quorum", "0")),
                agree=agree,
                answered=len(seen),
                nodes=nodes,
                info_age=age if info else None,
            )
        )
    return shards


def _pool_nodes(config: ProbeConfig) -> list[PoolNodeReport]:
    import psycopg2

    host, port = _address(config.pgpool)
    conn = psycopg2.connect(
        host=host,
        port=port,
        user=config.pg_user,
        password=config.pg_password,
        dbname=config.pg_database,
        connect_timeout=max(1, round(config.timeout)),
        application_name="hn-datatier-probe",
    )
    with contextlib.closing(conn):
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SHOW POOL_NODES")
            names = [d[0] for d in cur.description or ()]
            rows = [dict(zip(names, map(str, row), strict=False)) for row in cur.fetchall()]
    return [
        PoolNodeReport(
            node_id=row.get("node_id", ""),
            address=f"{row.get('hostname', '')}:{row.get('port', '')}",
            status=row.get("status", ""),
            role=row.get("role", ""),
            replication_delay=row.get("replication_delay", ""),
            replication_state=row.get("replication_state", ""),
            last_status_change=row.get("last_status_change", ""),
        )
        for row in rows
    ]


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def probe_data_tier(config: ProbeConfig) -> DataTierReport:
    """Ask every Sentinel and Pgpool at once; back within about `config.timeout` seconds whatever
    answered or not."""
    report = DataTierReport(configured=config.configured, pgpool=config.pgpool)
    if not config.configured:
        return report
    started = time.monotonic()
    asks = {address: gevent.spawn(_ask_sentinel, address, config) for address in config.sentinels}
    pool = gevent.spawn(_pool_nodes, config) if config.pgpool else None
    jobs = [*asks.values(), *([pool] if pool is not None else [])]
    # A little over the connections' own timeouts: a connect and a read may each take one.
    gevent.joinall(jobs, timeout=2 * config.timeout + 0.5)
    gevent.killall([job for job in jobs if not job.ready()], block=False)
    views = []
    for address, job in asks.items():
        if job.successful():
            views.append(job.value)
            report.sentinels.append(SentinelReport(address, True))
        else:
            error = _error(job.exception) if job.exception is not None else "no answer in time"
            report.sentinels.append(SentinelReport(address, False, error))
    report.shards = merge_shards(views)
    if pool is not None:
        if pool.successful():
            report.pool_nodes = pool.value
        else:
            report.pgpool_error = _error(pool.exception) if pool.exception is not None else "no answer in time"
    report.seconds = round(time.monotonic() - started, 3)
    return report
