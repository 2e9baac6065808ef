"""Chaos: kill -9 Redis masters under a client of Twemproxy; then stop the tier and look for leftovers."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg2
import pytest

from hn_datatier.local import DataTier
from hn_datatier.testing import kill_redis_master, start_data_tier
from hn_process import no_process_left, port_is_free, time_factor, wait_until

from _helpers import logs, metric

pytestmark = [pytest.mark.integration, pytest.mark.chaos]


@pytest.fixture(scope="module")
def tier() -> Iterator[DataTier]:
    # Its own tier: these tests break things.
    with start_data_tier() as tier:
        yield tier


def test_kill_a_redis_master_twemproxy_follows_sentinel(tier: DataTier) -> None:
    report = kill_redis_master(tier, "shard0")
    print(f"\nREDIS FAILOVER (down-after {tier.config.down_after_ms} ms): {report}")
    assert report.promoted == tier.shard("shard0").nodes[1].address
    assert tier.twemproxy_servers()["shard0"] == report.promoted
    assert tier.twemproxy_servers()["shard1"] == tier.shard("shard1").nodes[0].address  # untouched
    assert 0 < report.promoted_after <= report.repointed_after <= report.recovered_after
    # Bounded: down-after + election + promotion + one nutcracker restart.
    assert report.recovered_after < 15 * time_factor()
    assert all("refused" in e.lower() or "connection" in e.lower() or "timeout" in e.lower() for e in report.errors)

    # Every Sentinel published the switch; the agent rewrote Twemproxy and restarted it once.
    wait_until(
        lambda: metric(tier, "hn_twemproxy_agent_events_total") >= 3,
        timeout=10,
        message="+switch-master from the three sentinels",
        scaled=True,
    )
    switches = (metric(tier, "hn_twemproxy_agent_switches_total", master=s) for s in ("shard0", "shard1"))
    assert tuple(switches) == (1, 0), logs(tier)
    assert metric(tier, "hn_twemproxy_agent_restarts_total", reason="switch") == 1, logs(tier)
    assert metric(tier, "hn_twemproxy_agent_sentinels_connected") == 3


def test_the_other_shard_and_then_the_restored_node_fail_over_too(tier: DataTier) -> None:
    report = kill_redis_master(tier, "shard1")
    print(f"\nREDIS FAILOVER (down-after {tier.config.down_after_ms} ms): {report}")
    assert tier.twemproxy_servers()["shard1"] == tier.shard("shard1").nodes[1].address
    switches = (metric(tier, "hn_twemproxy_agent_switches_total", master=s) for s in ("shard0", "shard1"))
    assert tuple(switches) == (1, 1), logs(tier)

    # shard0 again: its first master came back as a replica and gets promoted back. Sentinel
    # allows a new failover of a shard 2 x failover-timeout after the previous one.
    report = kill_redis_master(tier, "shard0", timeout=60)
    print(f"\nREDIS FAILOVER (down-after {tier.config.down_after_ms} ms): {report}")
    assert report.promoted == tier.shard("shard0").nodes[0].address
    assert tier.twemproxy_servers()["shard0"] == report.promoted
    assert metric(tier, "hn_twemproxy_agent_switches_total", master="shard0") == 2, logs(tier)


def test_replica_and_pgpool_restarts_clients_reconnect(tier: DataTier) -> None:
    """Restart the replica (kill -9), then Pgpool: a client that reconnects works again, and the
    replica is back in Pgpool's read rotation."""
    with psycopg2.connect(tier.pg_dsn, connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS restarts (n int)")
    tier.restart_postgres(tier.pg_replica, kill=True)
    tier.restart_pgpool()
    rows = {row["port"]: row for row in tier.pool_nodes()}
    assert rows[str(tier.pg_replica.port)]["status"] in ("up", "waiting"), rows

    def write_and_read() -> bool:
        conn = psycopg2.connect(tier.pg_dsn, connect_timeout=5)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("INSERT INTO restarts VALUES (1)")
            with conn, conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM restarts")
                row = cur.fetchone()
                return row is not None and row[0] >= 1
        finally:
            conn.close()

    wait_until(write_and_read, timeout=20, interval=0.2, message="writes and reads through Pgpool again", scaled=True)


def test_stop_leaves_no_process_and_no_port(tier: DataTier) -> None:
    pids = [p.pid for p in tier.processes() if p.pid]
    pids += [pid for pid in [tier.watchdog.pid if tier.watchdog else None] if pid]
    ports = tier.listening_ports()
    scratch = tier.scratch
    assert len(ports) == 2 + 2 + 3 + 4 + 3  # postgres, pgpool+pcp, sentinels, redis, twemproxy+stats+metrics
    tier.stop()
    assert no_process_left(pids)
    busy = [p for p in ports if not port_is_free(p)]
    assert not busy, f"ports still bound after stop: {busy}"
    assert tier.config.keep_workdir or not os.path.exists(scratch)
    tier.stop()  # idempotent
