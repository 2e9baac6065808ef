"""The tier as services see it: PostgreSQL through Pgpool, Redis through Twemproxy."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
import redis

from hn_datatier import redis_from_url
from hn_datatier.agent import Agent, AgentConfig
from hn_datatier.local import DataTier, Secrets
from hn_datatier.testing import direct_redis
from hn_process import wait_until

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def pg(dsn: str) -> Iterator[Any]:
    conn = psycopg2.connect(dsn, connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def test_env_points_services_at_pgpool_and_twemproxy(data_tier_env: dict[str, str], data_tier: DataTier) -> None:
    assert data_tier_env["HN_PG_DSN"].endswith(f":{data_tier.pgpool_port}/highnoon")
    assert data_tier_env["HN_REDIS_URL"].endswith(f"@127.0.0.1:{data_tier.twemproxy_port}/0")
    assert os.environ["HN_PG_DSN"] == data_tier.pg_dsn
    with pg(os.environ["HN_PG_DSN"]) as cur:
        cur.execute("SELECT current_user, current_database()")
        assert cur.fetchone() == ("highnoon", "highnoon")
    with redis_from_url() as r:  # HN_REDIS_URL
        assert r.ping()
    assert len(data_tier_env["HN_SENTINELS"].split(",")) == 3
    assert len(data_tier_env["HN_REDIS_SHARDS"].split(",")) == 2


def test_writes_through_pgpool_land_on_the_primary_and_replicate(data_tier: DataTier) -> None:
    table = f"t_{uuid.uuid4().hex[:8]}"
    with pg(data_tier.pg_dsn) as cur:
        cur.execute(f"CREATE TABLE {table} (id serial PRIMARY KEY, name text NOT NULL)")
        cur.execute(f"INSERT INTO {table} (name) VALUES ('harry'), ('hermione') RETURNING id")
        assert len(cur.fetchall()) == 2
        # A read in the writing transaction goes to the primary, so it sees the write.
        cur.execute("BEGIN")
        cur.execute(f"INSERT INTO {table} (name) VALUES ('ron')")
        cur.execute(f"SELECT count(*), inet_server_port() FROM {table}")
        assert cur.fetchone() == (3, data_tier.pg_primary.port)
        cur.execute("COMMIT")
    with pg(data_tier.pg_direct_dsn(data_tier.pg_primary)) as cur:
        cur.execute(f"SELECT name FROM {table} ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == ["harry", "hermione", "ron"]

    def replicated() -> bool:
        with pg(data_tier.pg_direct_dsn(data_tier.pg_replica)) as cur:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
            row = cur.fetchone()
            if not row or not row[0]:
                return False
            cur.execute(f"SELECT count(*) FROM {table}")
            return bool(cur.fetchone() == (3,))

    wait_until(replicated, timeout=10, message="rows on the replica", scaled=True)
    with pg(data_tier.pg_direct_dsn(data_tier.pg_replica)) as cur:
        with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
            cur.execute(f"INSERT INTO {table} (name) VALUES ('draco')")


def test_reads_are_balanced_over_primary_and_replica(data_tier: DataTier) -> None:
    def select_counts() -> dict[str, int]:
        return {row["port"]: int(row["select_cnt"]) for row in data_tier.pool_nodes()}

    before = select_counts()
    ports: Counter[int] = Counter()
    for _ in range(40):  # the load-balance node is chosen per session
        with pg(data_tier.pg_dsn) as cur:
            cur.execute("SELECT inet_server_port()")
            row = cur.fetchone()
            assert row is not None
            ports[row[0]] += 1
    assert set(ports) == {data_tier.pg_primary.port, data_tier.pg_replica.port}, ports
    assert min(ports.values()) >= 5, ports  # weights 1:1
    after = select_counts()
    for node in data_tier.pg_nodes:
        assert after[str(node.port)] > before.get(str(node.port), 0), (before, after)
    roles = {row["port"]: row["role"] for row in data_tier.pool_nodes()}
    assert roles == {str(data_tier.pg_primary.port): "primary", str(data_tier.pg_replica.port): "standby"}


def test_keys_spread_over_both_shards_and_hash_tags_keep_keys_together(data_tier: DataTier) -> None:
    masters = [shard.nodes[0] for shard in data_tier.shards]
    prefix = f"spread:{uuid.uuid4().hex[:6]}:"
    with redis_from_url(data_tier.redis_url, decode_responses=True) as proxy:
        for i in range(200):
            proxy.set(f"{prefix}{i}", i, ex=600)
        placed: Counter[str] = Counter()
        for node in masters:
            with direct_redis(node) as direct:
                placed[node.shard] = sum(direct.exists(f"{prefix}{i}") for i in range(200))
        assert sum(placed.values()) == 200
        assert min(placed.values()) >= 40, placed  # ketama: roughly even over two shards

        # Keys sharing a {tag} live on one shard: multi-key commands on them work through Twemproxy.
        for user in range(20):
            tag = f"{{user:{prefix}{user}}}"
            keys = [f"{tag}:session", f"{tag}:profile", f"{tag}:rating"]
            proxy.mset({k: user for k in keys})
            assert proxy.mget(keys) == [str(user)] * 3
            homes = set()
            for node in masters:
                with direct_redis(node) as direct:
                    if direct.exists(*keys) == 3:
                        homes.add(node.shard)
            assert len(homes) == 1, (tag, homes)
            for k in keys:
                proxy.expire(k, 600)


def test_replicas_follow_their_masters(data_tier: DataTier) -> None:
    for shard in data_tier.shards:
        master, replica = shard.nodes
        key = f"repl:{uuid.uuid4().hex}"
        with direct_redis(master) as m, direct_redis(replica) as r:
            m.set(key, "v", ex=600)
            wait_until(lambda: r.get(key) == "v", message=f"{shard.name} replica", scaled=True)  # noqa: B023


def test_plain_redis_py_needs_redis_from_url_through_twemproxy(data_tier: DataTier) -> None:
    """redis-py 5 sends CLIENT SETINFO on connect and Twemproxy drops such connections:
    `redis_from_url` is the way in. Commands Twemproxy does not proxy fail clearly."""
    plain = redis.Redis.from_url(data_tier.redis_url, socket_timeout=2)
    with pytest.raises(redis.ConnectionError):
        plain.ping()
    plain.close()
    with redis_from_url(data_tier.redis_url, socket_timeout=2) as r:
        assert r.ping()
        with pytest.raises(redis.RedisError):
            r.execute_command("MULTI")


def test_sentinels_watch_every_shard_with_quorum(data_tier: DataTier) -> None:
    for sentinel in data_tier.sentinel_nodes:
        with sentinel.client() as s:
            for shard in data_tier.shards:
                state = s.sentinel_master(shard.name)
                assert (state["ip"], state["port"]) == ("127.0.0.1", shard.nodes[0].port)
                assert state["quorum"] == 2
                assert state["num-other-sentinels"] == 2
    assert data_tier.twemproxy_servers() == {s.name: s.nodes[0].address for s in data_tier.shards}


class RecordingNutcracker:
    """A fake at a seam the agent owns (its Nutcracker protocol): counts restarts."""

    def __init__(self) -> None:
        self.restarts = 0

    def start(self) -> None:
        pass

    def restart(self) -> None:
        self.restarts += 1

    def stop(self) -> None:
        pass


def test_agent_applies_a_switch_once_whichever_sentinels_report_it(data_tier: DataTier, tmp_path: Any) -> None:
    """Against the real Sentinels, in process: the same +switch-master from three Sentinels gives
    one rewrite and one restart; a reconcile finds and fixes a stale address."""
    config_path = tmp_path / "nutcracker.yml"
    shutil.copy(data_tier.twemproxy_config, config_path)
    shard0 = data_tier.shards[0]
    real = shard0.nodes[0]
    text = config_path.read_text().replace(f"{real.address}:1 shard0", "127.0.0.1:1:1 shard0")
    config_path.write_text(text)
    sentinels = [("127.0.0.1", s.port) for s in data_tier.sentinel_nodes]
    nutcracker = RecordingNutcracker()
    assert data_tier.secrets is not None
    config = AgentConfig(
        sentinels=sentinels,
        config=str(config_path),
        restart_command="true",
        sentinel_password=data_tier.secrets[Secrets.SENTINEL],
    )
    agent = Agent(config, nutcracker=nutcracker)
    message = f"shard0 127.0.0.1 1 127.0.0.1 {real.port}"
    outcomes = [agent.on_switch(s, message) for s in sentinels]
    assert outcomes == ["applied", "duplicate", "duplicate"]
    assert nutcracker.restarts == 1
    assert agent.current()["shard0"] == ("127.0.0.1", real.port)
    # A switch Sentinel does not confirm (it names another master) is not applied.
    assert agent.on_switch(sentinels[0], f"shard0 127.0.0.1 {real.port} 127.0.0.1 2") == "stale"
    assert agent.on_switch(sentinels[0], "not-ours 127.0.0.1 1 127.0.0.1 2") == "ignored"
    assert nutcracker.restarts == 1

    config_path.write_text(text)  # as if a switch had been missed while disconnected
    assert agent.reconcile() is True
    assert agent.current()["shard0"] == ("127.0.0.1", real.port)
    assert agent.reconcile() is False  # nothing left to do
    assert nutcracker.restarts == 2
    assert parse_names(config_path.read_text()) == [s.name for s in data_tier.shards]


def parse_names(text: str) -> list[str]:
    from hn_datatier.agent import parse_servers

    return [s.name for s in parse_servers(text)]


def test_get_batcher_coalesces_one_turns_gets_into_one_mget_through_twemproxy(data_tier: DataTier) -> None:
    import gevent

    from hn_datatier import GetBatcher

    client = redis_from_url(data_tier.redis_url)
    prefix = f"batch-{uuid.uuid4().hex}"
    for n in range(40):
        client.set(f"{prefix}:{n}", str(n), ex=60)
    mgets = Counter[int]()
    real_mget = client.mget

    def counting_mget(keys: list[str]) -> Any:
        mgets[len(keys)] += 1
        return real_mget(keys)

    client.mget = counting_mget  # type: ignore[method-assign]
    batcher = GetBatcher(client)
    singles = [gevent.spawn(batcher.get, f"{prefix}:{n}") for n in range(20)]
    pairs = [gevent.spawn(batcher.get_many, [f"{prefix}:{n}", f"{prefix}:missing"]) for n in range(20, 40)]
    gevent.joinall(singles + pairs, raise_error=True)
    assert [g.value for g in singles] == [str(n).encode() for n in range(20)]
    assert [g.value for g in pairs] == [[str(n).encode(), None] for n in range(20, 40)]
    assert mgets == Counter({60: 1}), "the 60 keys asked for in one turn went out as one MGET"


def test_get_batcher_waits_for_a_drain_that_hands_itself_on_through_callbacks(data_tier: DataTier) -> None:
    """hn-runtime's server drains requests from the hub, running each handler at once and, when
    it blocks (here, on the batcher), going on with the next request in a callback queued after
    the batcher's flush. The flush must wait for that chain, or every MGET carries one request."""
    import gevent

    from hn_datatier import GetBatcher
    from hn_runtime.workers import Workers

    client = redis_from_url(data_tier.redis_url)
    prefix = f"drain-{uuid.uuid4().hex}"
    for n in range(20):
        client.set(f"{prefix}:{n}", str(n), ex=60)
    sizes: list[int] = []
    real_mget = client.mget

    def counting_mget(keys: list[str]) -> Any:
        sizes.append(len(keys))
        return real_mget(keys)

    client.mget = counting_mget  # type: ignore[method-assign]
    batcher = GetBatcher(client)
    workers = Workers()
    answers: dict[int, Any] = {}
    loop = gevent.get_hub().loop

    def drain(n: int) -> None:  # in the hub, as the server's pump runs
        if n == 20:
            return
        workers.spawn(lambda: answers.__setitem__(n, batcher.get(f"{prefix}:{n}")))
        loop.run_callback(drain, n + 1)  # the handler blocked: the drain goes on

    loop.run_callback(drain, 0)
    wait_until(lambda: len(answers) == 20, message="every request answered", scaled=True)
    assert answers == {n: str(n).encode() for n in range(20)}
    assert sizes == [20], "one MGET for the whole drain"
