"""A tier spread over hosts (network namespaces of hn_netns), driven from a host of its own:
every process on its role's host, bound to its address, every address handed out that host's;
SQL through Pgpool and Redis through Twemproxy work across the links, and a Sentinel failover
after the master's host is cut off completes, Twemproxy following. Needs root (it fails without)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import psycopg2
import pytest

from hn_datatier import redis_from_url
from hn_datatier.local import DataTier, Place
from hn_datatier.testing import pg_rejoined, start_data_tier
from hn_netns import Host, Network
from hn_process import WaitTimeout, no_process_left, wait_until

from _helpers import logs

pytestmark = pytest.mark.integration

# Masters and replicas on two hosts: cutting the masters' host off leaves the replicas to promote.
HOSTS = ["db-a", "db-b", "proxy", "cache-a", "cache-b", "watch", "client"]


def _host_of(role: str) -> str:
    if role.startswith("postgres-"):
        return "db-a" if role.endswith("-0") else "db-b"
    if role in ("pgpool", "twemproxy"):
        return "proxy"
    if role.startswith("redis-"):
        return "cache-a" if role.endswith("-0") else "cache-b"
    if role.startswith("sentinel-"):
        return "watch"
    raise KeyError(role)


def _placement(net: Network) -> Callable[[str], Place]:
    def place(role: str) -> Place:
        host = net[_host_of(role)]
        return Place(host.address, host.command)

    return place


def _netns_of(pid: int | None) -> int:
    assert pid is not None, "not running"
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def _namespace(host: Host) -> int:
    return os.stat(f"/run/netns/{host.namespace}").st_ino


@pytest.fixture(scope="module")
def placed() -> Iterator[tuple[Network, DataTier]]:
    with Network(HOSTS) as net:
        net.enter("client")  # before the tier starts its keeper (and any thread)
        with start_data_tier(placement=_placement(net), exporters=True) as tier:
            yield net, tier
            pids = [p.pid for p in tier.processes() if p.pid]
        assert no_process_left(pids)
    assert not net.leftovers()


def test_every_role_runs_on_its_host_and_every_address_is_that_hosts(placed: tuple[Network, DataTier]) -> None:
    net, tier = placed
    at = {name: net[name].address for name in HOSTS}
    places = tier.places()
    assert set(places) == {
        "postgres-0", "postgres-1", "pgpool", "redis-shard0-0", "redis-shard0-1", "redis-shard1-0",
        "redis-shard1-1", "sentinel-0", "sentinel-1", "sentinel-2", "twemproxy",
    }  # fmt: skip
    assert {role: place.address for role, place in places.items()} == {r: at[_host_of(r)] for r in places}
    assert tier.describe()["places"] == {r: at[_host_of(r)] for r in places}

    # Each process in its host's namespace (exporters with the server they export).
    for node, host in zip(tier.pg_nodes, ("db-a", "db-b"), strict=True):
        assert node.host == at[host] and _netns_of(node.process.pid) == _namespace(net[host])
    assert tier.pgpool is not None and tier.pgpool.pid and _netns_of(tier.pgpool.pid) == _namespace(net["proxy"])
    for shard in tier.shards:
        for redis_node, host in zip(shard.nodes, ("cache-a", "cache-b"), strict=True):
            assert redis_node.address == f"{at[host]}:{redis_node.port}"
            assert _netns_of(redis_node.process.pid) == _namespace(net[host])
    for sentinel in tier.sentinel_nodes:
        assert sentinel.host == at["watch"] and _netns_of(sentinel.process.pid) == _namespace(net["watch"])
    assert tier.agent is not None and tier.agent.pid and _netns_of(tier.agent.pid) == _namespace(net["proxy"])
    for exporter in tier.exporters.exporters:
        assert _netns_of(exporter.process.pid) == _namespace(net.host_at(exporter.place.address))
        assert exporter.reaches_its_server()

    # What the tier hands out.
    env = tier.env
    assert env["HN_PGPOOL"] == f"{at['proxy']}:{tier.pgpool_port}"
    assert env["HN_TWEMPROXY"] == f"{at['proxy']}:{tier.twemproxy_port}"
    assert f"@{at['proxy']}:{tier.twemproxy_port}/" in env["HN_REDIS_URL"]
    assert f"@{at['proxy']}:{tier.pgpool_port}/" in env["HN_PG_DSN"]
    assert all(s.split(":")[0] == at["watch"] for s in env["HN_SENTINELS"].split(","))
    assert all(s.split("=")[1].split(":")[0] == at["cache-a"] for s in env["HN_REDIS_SHARDS"].split(","))
    assert all(s.split("=")[1].split(":")[0] == at["cache-b"] for s in env["HN_REDIS_REPLICAS"].split(","))
    assert env["HN_PG_PRIMARY"].startswith(f"{at['db-a']}:") and env["HN_PG_REPLICA"].startswith(f"{at['db-b']}:")
    assert env["HN_TWEMPROXY_AGENT_METRICS"].startswith(f"http://{at['proxy']}:")
    assert set(tier.twemproxy_servers().values()) <= {s.nodes[0].address for s in tier.shards}
    assert {row["hostname"] for row in tier.pool_nodes()} == {at["db-a"], at["db-b"]}
    for node in tier.pg_nodes:  # pg_hba: the hosts' subnet, not the loopback
        with open(os.path.join(node.data_dir, "pg_hba.conf")) as fh:
            assert f"{net.subnet}" in fh.read()


def test_sql_through_pgpool_and_redis_through_twemproxy_cross_the_links(placed: tuple[Network, DataTier]) -> None:
    net, tier = placed
    table = f"t_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(tier.pg_dsn, connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (id serial PRIMARY KEY, name text NOT NULL)")
            cur.execute(f"INSERT INTO {table} (name) VALUES ('harry') RETURNING id")
            cur.execute(
                f"/*NO LOAD BALANCE*/ SELECT name, inet_server_addr()::text, inet_client_addr()::text FROM {table}"
            )
            row = cur.fetchone()
            assert row is not None
            name, server, client = row
    finally:
        conn.close()
    assert name == "harry"
    assert server.split("/")[0] == net["db-a"].address and client.split("/")[0] == net["proxy"].address
    with redis_from_url(tier.redis_url, decode_responses=True, socket_timeout=5) as client_:
        for i in range(8):
            client_.set(f"placed:{i}", str(i))
        assert [client_.get(f"placed:{i}") for i in range(8)] == [str(i) for i in range(8)]
    master = tier.sentinel_master("shard0")
    assert master is not None and master.host == net["cache-a"].address


def test_a_failover_after_the_masters_host_is_cut_off_and_twemproxy_follows(placed: tuple[Network, DataTier]) -> None:
    net, tier = placed
    with redis_from_url(tier.redis_url, decode_responses=True, socket_timeout=2) as client:
        client.set("placed:before", "1")
    net.isolate("cache-a")
    try:
        replicas = {s.name: s.nodes[1] for s in tier.shards}

        def failed_over() -> bool:
            return all(tier.sentinel_master(name) is replicas[name] for name in replicas)

        _wait(tier, failed_over, timeout=60, what="sentinels promote the replicas")
        _wait(
            tier,
            lambda: tier.twemproxy_servers() == {name: node.address for name, node in replicas.items()},
            timeout=30,
            what="twemproxy repointed",
        )

        def round_trip() -> bool:
            try:
                with redis_from_url(tier.redis_url, decode_responses=True, socket_timeout=2) as client:
                    client.set("placed:after", "2")
                    return bool(client.get("placed:after") == "2")
            except OSError:
                return False
            except Exception:  # noqa: BLE001 - a redis error while nutcracker restarts
                return False

        _wait(tier, round_trip, timeout=30, what="SET/GET through twemproxy after the failover")
        assert all(node.host == net["cache-b"].address for node in replicas.values())
    finally:
        net.heal()


def test_the_postgres_primarys_host_cut_off_pgpool_promotes_and_the_old_one_rejoins_after_the_heal(
    placed: tuple[Network, DataTier]
) -> None:
    net, tier = placed
    old, replica = tier.pg_primary, tier.pg_replica
    assert old.host == net["db-a"].address
    net.isolate("db-a")
    try:
        # Pgpool's checks give up on it, the failover script fences it and promotes the replica.
        _wait(
            tier,
            lambda: tier.postgres.pool is not None and tier.postgres.pool.primary_port() == replica.port,
            timeout=90,
            what=f"pgpool promotes {replica.name}",
        )
        _wait(tier, lambda: _writes(tier.pg_dsn), timeout=30, what="writes through pgpool")
    finally:
        net.heal()
    # The keeper rewinds (or clones) the old primary on its host, from the new one, across the link.
    _wait(tier, lambda: pg_rejoined(tier, old, replica), timeout=120, what=f"{old.name} rejoins")
    assert tier.pg_primary is replica and tier.pg_replica is old


def _writes(dsn: str) -> bool:
    try:
        conn = psycopg2.connect(dsn, connect_timeout=5)
    except psycopg2.Error:
        return False
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS placed_writes (at timestamptz DEFAULT now())")
            cur.execute("INSERT INTO placed_writes DEFAULT VALUES")
        return True
    except psycopg2.Error:
        return False
    finally:
        conn.close()


def _keeper(tier: DataTier) -> str:
    keeper = tier.postgres.keeper
    return f"actions {keeper.actions}, errors {keeper.errors}" if keeper else "none"


def _wait(tier: DataTier, condition: Callable[[], object], *, timeout: float, what: str) -> None:
    """wait_until (scaled), failing with the keeper's record and every process's log as they are then."""
    try:
        wait_until(condition, timeout=timeout, scaled=True, message=what)
    except WaitTimeout as exc:
        raise AssertionError(f"{exc}\nkeeper: {_keeper(tier)}\n{logs(tier)}") from None
