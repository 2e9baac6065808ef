"""The data-tier probe (a status page's source) against a real tier: Sentinels with their password,
Pgpool as its health-check role, a dead Sentinel, wrong credentials, and a failover."""

from __future__ import annotations

import time

import pytest

from hn_datatier import DataTierReport, ProbeConfig, probe_data_tier
from hn_datatier._probe import merge_shards, replica_lags
from hn_datatier.local import DataTier, Secrets
from hn_datatier.testing import kill_redis_master
from hn_process import free_port, wait_until

pytestmark = pytest.mark.integration

MASTER_INFO = (
    "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n"
    "slave0:ip=10.0.0.2,port=6379,state=online,offset=5746,lag=1\r\n"
    "slave1:ip=10.0.0.3,port=6379,state=wait_bgsave,offset=0,lag=7\r\n"
    "master_repl_offset:5760\r\n"
)


def test_replica_lag_comes_from_the_masters_info() -> None:
    assert replica_lags(MASTER_INFO) == {"10.0.0.2:6379": (1.0, 14), "10.0.0.3:6379": (7.0, 5760)}
    assert replica_lags("role:slave\r\n") == {}


def _config(tier: DataTier, **overrides: object) -> ProbeConfig:
    assert tier.secrets is not None
    fields: dict[str, object] = dict(
        sentinels=tuple(s.address for s in tier.sentinel_nodes),
        sentinel_password=tier.secrets[Secrets.SENTINEL],
        pgpool=f"127.0.0.1:{tier.pgpool_port}",
        pg_user="hn_pgpool",
        pg_password=tier.secrets[Secrets.PG_CHECK],
    )
    fields.update(overrides)
    return ProbeConfig(**fields)  # type: ignore[arg-type]


def test_without_configuration_the_probe_says_so() -> None:
    assert probe_data_tier(ProbeConfig()) == DataTierReport(configured=False)
    assert not ProbeConfig.from_env({}).configured


def test_configuration_from_the_environment_reads_password_files(tmp_path: pytest.TempPathFactory) -> None:
    secret = tmp_path / "sentinel"  # type: ignore[operator]
    secret.write_text("s3cret\n")
    config = ProbeConfig.from_env(
        {"HN_SENTINELS": "127.0.0.1:1,127.0.0.1:2", "HN_SENTINEL_PASSWORD_FILE": str(secret), "HN_PGPOOL": "h:5"}
    )
    assert config.sentinels == ("127.0.0.1:1", "127.0.0.1:2") and config.sentinel_password == "s3cret"
    assert config.pgpool == "h:5" and "s3cret" not in repr(config)


def test_a_healthy_tier_every_shard_with_its_master_replica_lag_and_every_sentinel_agreeing(
    data_tier: DataTier,
) -> None:
    config = _config(data_tier)

    def complete() -> DataTierReport | None:
        report = probe_data_tier(config)
        # Sentinel caches a master's INFO every few seconds: lag figures once it has one.
        lagging = [n for s in report.shards for n in s.nodes if n.role == "replica" and n.lag_bytes is None]
        return report if report.shards and not lagging else None

    report = wait_until(complete, timeout=30, interval=0.2, message="the probe sees replica lag", scaled=True)
    assert [s.ok for s in report.sentinels] == [True, True, True], report.sentinels
    assert [s.name for s in report.shards] == [s.name for s in data_tier.shards]
    for shard, started in zip(report.shards, data_tier.shards, strict=True):
        assert shard.master == started.nodes[0].address
        assert (shard.agree, shard.answered, shard.quorum) == (3, 3, data_tier.config.quorum)
        master, replica = shard.nodes
        assert (master.role, master.up) == ("master", True)
        assert (replica.address, replica.role, replica.up, replica.link) == (
            started.nodes[1].address,
            "replica",
            True,
            "ok",
        )
        assert replica.lag_seconds is not None and 0 <= replica.lag_seconds < 10
        assert replica.lag_bytes is not None and replica.lag_bytes >= 0
    assert report.pgpool_error == ""
    roles = {n.role: n for n in report.pool_nodes}
    assert set(roles) == {"primary", "standby"}, report.pool_nodes
    assert roles["primary"].address == data_tier.pg_primary.address
    assert all(n.status in ("up", "waiting") for n in report.pool_nodes), report.pool_nodes
    assert roles["standby"].replication_delay.isdigit()


def test_dead_sentinel_and_wrong_passwords_are_reported_in_time_not_raised(data_tier: DataTier) -> None:
    dead = f"127.0.0.1:{free_port()}"
    live = data_tier.sentinel_nodes[0].address
    config = _config(data_tier, sentinels=(live, dead), timeout=1.0)
    report = probe_data_tier(config)
    assert [(s.address, s.ok) for s in report.sentinels] == [(live, True), (dead, False)]
    assert "Connection" in report.sentinels[1].error, report.sentinels[1]
    assert all(s.answered == 1 for s in report.shards)

    started = time.monotonic()
    wrong = probe_data_tier(_config(data_tier, sentinel_password="wrong", pg_password="wrong", timeout=1.0))
    assert time.monotonic() - started < 5
    assert not any(s.ok for s in wrong.sentinels) and wrong.shards == []
    assert all("password" in s.error.lower() or "auth" in s.error.lower() for s in wrong.sentinels), wrong.sentinels
    assert wrong.pgpool_error and wrong.pool_nodes == []


def test_after_a_failover_the_replica_is_master_and_the_old_master_a_down_replica(data_tier: DataTier) -> None:
    shard = data_tier.shard("shard1")
    old, new = shard.nodes[0].address, shard.nodes[1].address
    kill_redis_master(data_tier, "shard1", restore=False)
    config = _config(data_tier)

    def settled() -> bool:
        reports = [s for s in probe_data_tier(config).shards if s.name == "shard1"]
        if not reports:
            return False
        report, nodes = reports[0], {n.address: n for n in reports[0].nodes}
        return (
            report.master == new
            and report.agree == 3
            and nodes[new].role == "master"
            and old in nodes
            and nodes[old].role == "replica"
            and not nodes[old].up
        )

    wait_until(
        settled, timeout=30, interval=0.2, message="every Sentinel names the new master, the old one down", scaled=True
    )
    assert merge_shards([]) == []
