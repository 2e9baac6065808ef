"""Every door of the tier wants a password: Twemproxy, each Redis node, each Sentinel, Pgpool and
each PostgreSQL node refuse a client without one (or with a wrong one); the services' passwords
reach only what services need; the secrets sit in files only their owner reads."""

from __future__ import annotations

import os
import stat
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
import redis

from hn_datatier import redis_client, redis_from_url
from hn_datatier.local import DataTier, Secrets

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"


@pytest.fixture(autouse=True)
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """A client without a password really has none: no libpq or HN_REDIS_PASSWORD fallback."""
    for name in ("PGPASSWORD", "PGPASSFILE", "PGSERVICE", "HN_REDIS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PGPASSFILE", os.devnull)


def secrets_of(tier: DataTier) -> Secrets:
    assert tier.secrets is not None
    return tier.secrets


@pytest.fixture
def anonymous() -> Iterator[list[Any]]:
    opened: list[Any] = []
    yield opened
    for client in opened:
        client.close()


def _anonymous(port: int, opened: list[Any], **options: object) -> Any:
    client = redis_client(HOST, port, socket_timeout=2, socket_connect_timeout=2, decode_responses=True, **options)
    opened.append(client)
    return client


def _redis_nodes(tier: DataTier) -> list[int]:
    return [node.port for shard in tier.shards for node in shard.nodes]


# -- Twemproxy ---------------------------------------------------------------------------------


def test_twemproxy_refuses_a_client_without_the_password(data_tier: DataTier, anonymous: list[Any]) -> None:
    key = f"sso:tok:{uuid.uuid4().hex}"
    with redis_from_url(data_tier.redis_url, decode_responses=True) as services:
        services.set(key, "account 42", ex=60)
        assert services.get(key) == "account 42"
    stranger = _anonymous(data_tier.twemproxy_port, anonymous)
    with pytest.raises(redis.AuthenticationError, match="Authentication required"):
        stranger.get(key)
    with pytest.raises(redis.AuthenticationError, match="Authentication required"):
        stranger.set(key, "mine")
    with pytest.raises(redis.AuthenticationError):
        _anonymous(data_tier.twemproxy_port, anonymous, password="not-the-password").get(key)
    with redis_from_url(data_tier.redis_url, decode_responses=True) as services:
        assert services.get(key) == "account 42", "nothing was changed"


def test_the_url_carries_the_password_or_hn_redis_password_does(
    data_tier: DataTier, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = urllib.parse.urlsplit(data_tier.redis_url)
    assert url.password == secrets_of(data_tier)[Secrets.REDIS_DEFAULT]
    bare = f"redis://{HOST}:{data_tier.twemproxy_port}/0"  # as production publishes HN_REDIS_URL
    with redis_from_url(bare, socket_timeout=2) as client, pytest.raises(redis.AuthenticationError):
        client.ping()
    monkeypatch.setenv("HN_REDIS_PASSWORD", secrets_of(data_tier)[Secrets.REDIS_DEFAULT])
    with redis_from_url(bare, socket_timeout=2) as client:
        assert client.ping()


# -- Redis nodes and Sentinels -----------------------------------------------------------------


def test_every_redis_node_refuses_a_client_without_a_password(data_tier: DataTier, anonymous: list[Any]) -> None:
    for port in _redis_nodes(data_tier):
        stranger = _anonymous(port, anonymous)
        with pytest.raises(redis.AuthenticationError, match="Authentication required"):
            stranger.ping()
        with pytest.raises(redis.AuthenticationError, match="Authentication required"):
            stranger.execute_command("CONFIG", "SET", "dir", "/tmp")
        wrong = _anonymous(port, anonymous, username="admin", password="not-the-password")
        with pytest.raises(redis.AuthenticationError):
            wrong.ping()


def test_the_services_password_reaches_data_commands_only(data_tier: DataTier, anonymous: list[Any]) -> None:
    """Twemproxy's login (Redis' default user) is what every service holds: straight to a node it
    reads and writes keys, but cannot reconfigure, replicate, wipe or list the node."""
    master = data_tier.shards[0].nodes[0]
    services = _anonymous(master.port, anonymous, password=secrets_of(data_tier)[Secrets.REDIS_DEFAULT])
    key = f"hn-test:auth:{uuid.uuid4().hex}"
    services.set(key, "1", ex=60)
    assert services.get(key) == "1"
    for command in (
        ("CONFIG", "SET", "dir", "/tmp"),
        ("REPLICAOF", "127.0.0.1", "1"),
        ("FLUSHALL",),
        ("KEYS", "*"),
        ("CLIENT", "LIST"),
        ("INFO",),
        ("ACL", "LIST"),
        ("SUBSCRIBE", "__sentinel__:hello"),
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            services.execute_command(*command)
    with master.client() as admin:  # the admin user may
        assert admin.config_get("dir")


def test_the_exporters_user_reads_info_and_nothing_else(data_tier: DataTier, anonymous: list[Any]) -> None:
    """`monitor`, prometheus-redis-exporter's login: INFO and the slow and latency logs; no key, no
    CONFIG GET (it would show masterauth, the replica user's password)."""
    master = data_tier.shards[0].nodes[0]
    monitor = _anonymous(
        master.port, anonymous, username="monitor", password=secrets_of(data_tier)[Secrets.REDIS_MONITOR]
    )
    assert monitor.info("replication")["role"] == "master"
    assert monitor.slowlog_len() >= 0
    for command in (("CONFIG", "GET", "masterauth"), ("GET", "hn-test:auth"), ("KEYS", "*"), ("CLIENT", "LIST")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            monitor.execute_command(*command)


def test_every_sentinel_refuses_a_client_without_the_password(data_tier: DataTier, anonymous: list[Any]) -> None:
    for sentinel in data_tier.sentinel_nodes:
        stranger = _anonymous(sentinel.port, anonymous)
        with pytest.raises(redis.AuthenticationError, match="Authentication required"):
            stranger.sentinel_masters()
        with pytest.raises(redis.AuthenticationError, match="Authentication required"):
            stranger.execute_command("SENTINEL", "FAILOVER", "shard0")
        with pytest.raises(redis.AuthenticationError, match="Authentication required"):
            stranger.execute_command("SUBSCRIBE", "+switch-master")  # what the agent follows
        with sentinel.client() as client:
            assert set(client.sentinel_masters()) == {s.name for s in data_tier.shards}  # type: ignore[no-untyped-call]


# -- PostgreSQL and Pgpool ---------------------------------------------------------------------


def _without_password(dsn: str) -> str:
    url = urllib.parse.urlsplit(dsn)
    assert url.password, "the tier's DSNs carry their password"
    return url._replace(netloc=f"{url.username}@{url.hostname}:{url.port}").geturl()


def _with_password(dsn: str, password: str) -> str:
    url = urllib.parse.urlsplit(dsn)
    return url._replace(netloc=f"{url.username}:{password}@{url.hostname}:{url.port}").geturl()


def test_pgpool_refuses_a_client_without_the_password(data_tier: DataTier) -> None:
    for dsn in (data_tier.pg_dsn, data_tier.postgres.admin_dsn):
        with pytest.raises(psycopg2.OperationalError, match="no password supplied"):
            psycopg2.connect(_without_password(dsn), connect_timeout=5)
        with pytest.raises(psycopg2.OperationalError, match="authentication failed"):
            psycopg2.connect(_with_password(dsn, "not-the-password"), connect_timeout=5)
    # A role PostgreSQL knows but pool_passwd does not (the replication role) gets nowhere, even
    # with its right password.
    replicator = secrets_of(data_tier)[Secrets.PG_REPLICATION]
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(
            f"postgresql://replicator:{replicator}@{HOST}:{data_tier.pgpool_port}/postgres", connect_timeout=5
        )
    conn = psycopg2.connect(data_tier.pg_dsn, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone() == ("highnoon",)
    finally:
        conn.close()


def test_every_postgresql_node_refuses_a_client_without_the_password(data_tier: DataTier) -> None:
    for node in data_tier.pg_nodes:
        for admin in (False, True):
            dsn = data_tier.pg_direct_dsn(node, admin=admin)
            with pytest.raises(psycopg2.OperationalError, match="no password supplied"):
                psycopg2.connect(_without_password(dsn), connect_timeout=5)
            with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
                psycopg2.connect(_with_password(dsn, "not-the-password"), connect_timeout=5)
        # Over the Unix socket too: no trust or peer line anywhere.
        with pytest.raises(psycopg2.OperationalError, match="no password supplied"):
            psycopg2.connect(host=os.path.dirname(node.data_dir), port=node.port, user="postgres", dbname="postgres")
        # Replication wants the replicator's password as well.
        with pytest.raises(psycopg2.OperationalError, match="no password supplied"):
            psycopg2.connect(
                host=HOST,
                port=node.port,
                user="replicator",
                dbname="replication",
                replication="true",
                connect_timeout=5,
            )
    # Every role that may log in has a SCRAM verifier, never a plain or md5 password.
    conn = psycopg2.connect(data_tier.pg_direct_dsn(data_tier.pg_primary, admin=True), connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT rolname, rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolcanlogin")
            roles = dict(cur.fetchall())
    finally:
        conn.close()
    assert roles == {"postgres": True, "highnoon": True, "replicator": True, "hn_pgpool": True}


# -- secrets and listeners ---------------------------------------------------------------------


def test_secrets_are_readable_by_their_owner_only_and_never_on_a_command_line(data_tier: DataTier) -> None:
    secrets = secrets_of(data_tier)
    assert stat.S_IMODE(os.stat(secrets.directory).st_mode) == 0o700
    names = os.listdir(secrets.directory)
    assert Secrets.PG_APP in names and Secrets.REDIS_DEFAULT in names
    values = set()
    for name in names:
        mode = stat.S_IMODE(os.stat(os.path.join(secrets.directory, name)).st_mode)
        assert mode == 0o600, (name, oct(mode))
        values.add(secrets[name])
    assert len(values) == len(names), "one password per role"
    assert all(len(v) >= 32 for v in values)
    # Configuration files holding passwords sit in directories only their owner enters.
    for path in [n.dir for s in data_tier.shards for n in s.nodes] + [s.dir for s in data_tier.sentinel_nodes]:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700, path
    assert stat.S_IMODE(os.stat(os.path.dirname(data_tier.twemproxy_config)).st_mode) == 0o700
    # A command line is anyone's to read (/proc/<pid>/cmdline, ps).
    for proc in data_tier.processes():
        assert proc.pid is not None
        with open(f"/proc/{proc.pid}/cmdline", "rb") as fh:
            cmdline = fh.read().decode(errors="replace")
        assert not [v for v in values if v in cmdline], proc.name


def _listeners() -> dict[int, set[str]]:
    """Port -> the addresses a socket listens on it at (from /proc/net/tcp and tcp6)."""
    found: dict[int, set[str]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            for line in fh.readlines()[1:]:
                fields = line.split()
                if fields[3] != "0A":  # LISTEN
                    continue
                hex_address, hex_port = fields[1].split(":")
                if len(hex_address) == 8:
                    address = ".".join(str(int(hex_address[i : i + 2], 16)) for i in (6, 4, 2, 0))
                else:
                    address = "::" if set(hex_address) == {"0"} else hex_address
                found.setdefault(int(hex_port, 16), set()).add(address)
    return found


def test_nothing_listens_beyond_the_loopback(data_tier: DataTier) -> None:
    listening = _listeners()
    for port in data_tier.listening_ports():
        assert listening.get(port) == {"127.0.0.1"}, (port, listening.get(port))
