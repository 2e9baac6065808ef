"""Redis' min-replicas-to-write from DataTierConfig: with 1, a master whose replica is gone
refuses writes (NOREPLICAS); with 0 (the local default) it goes on accepting them. Every node
carries the setting, so a promoted replica keeps it."""

from __future__ import annotations

import pytest
import redis

from hn_datatier.testing import start_data_tier
from hn_process import wait_until

pytestmark = pytest.mark.integration


def _refused(client: redis.Redis[str]) -> bool:
    try:
        client.set("min-replicas:probe", "1")
    except redis.ResponseError as exc:
        assert str(exc).startswith("NOREPLICAS"), exc
        return True
    return False


@pytest.mark.parametrize("min_replicas", [1, 0])
def test_a_master_without_its_replica_refuses_writes_only_when_asked_to(min_replicas: int) -> None:
    with start_data_tier(
        postgres=False,
        shards=1,
        sentinels=1,
        quorum=1,
        redis_min_replicas_to_write=min_replicas,
        redis_min_replicas_max_lag=5,
    ) as tier:
        master, replica = tier.shards[0].nodes
        for node in (master, replica):
            with node.client() as client:
                assert client.config_get("min-replicas-*") == {
                    "min-replicas-to-write": str(min_replicas),
                    "min-replicas-max-lag": "5",
                }
        with master.client() as client:
            assert not _refused(client)  # the replica is there: written either way
            replica.process.stop()
            wait_until(lambda: client.info("replication")["connected_slaves"] == 0, timeout=10, scaled=True)
            if min_replicas:
                wait_until(lambda: _refused(client), timeout=10, scaled=True, message="NOREPLICAS")
            else:
                assert not _refused(client)
                assert client.get("min-replicas:probe") == "1"
