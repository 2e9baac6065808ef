"""Chaos: lose the PostgreSQL primary under a writer; Pgpool promotes the replica, no acknowledged
write is lost (synchronous replication), the old primary is fenced and comes back as the new
primary's replica (pg_rewind), and the pair fails over again the other way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hn_datatier.local import DataTier
from hn_datatier.testing import fail_pg_primary, start_data_tier
from hn_process import time_factor

from _helpers import logs

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

#: Pgpool gives up on a node after about (timeout + period) x (retries + 1) seconds; then the
#: promotion and Pgpool's reconnection. Generous: a shared 2-core machine.
SERVED_AGAIN_S = 30.0


@pytest.fixture(scope="module")
def tier() -> Iterator[DataTier]:
    # Its own tier: these tests break things.
    with start_data_tier() as tier:
        yield tier


def test_kill_9_the_primary_the_replica_takes_over_and_nothing_acknowledged_is_lost(tier: DataTier) -> None:
    old, replica = tier.pg_primary, tier.pg_replica
    report = fail_pg_primary(tier, "kill")
    print(f"\nPOSTGRES FAILOVER: {report}")
    assert report.promoted == replica.address
    assert tier.pg_primary is replica
    assert report.acknowledged > 0
    assert report.lost == 0, logs(tier)
    assert 0 < report.promoted_after <= report.served_after < SERVED_AGAIN_S * time_factor()
    # The old primary came back through pg_rewind onto the new one, not as a second primary.
    assert tier.postgres.keeper is not None
    assert ("rewind-start", old.name) in tier.postgres.keeper.actions, tier.postgres.keeper.actions
    assert tier.pg_replica is old


def test_sigstop_the_primary_it_is_fenced_and_rewound_and_the_pair_fails_back(tier: DataTier) -> None:
    old, replica = tier.pg_primary, tier.pg_replica
    report = fail_pg_primary(tier, "stop")
    print(f"\nPOSTGRES FAILOVER: {report}")
    assert report.promoted == replica.address
    assert report.fenced is True, "the thawed old primary acknowledged a write"
    assert report.lost == 0, logs(tier)
    assert report.served_after < SERVED_AGAIN_S * time_factor()
    assert tier.postgres.keeper is not None
    # The failover script fenced it (kill -9: a frozen primary would otherwise hold Pgpool's
    # replication check, and with it the failover); the keeper rewound it onto the new primary.
    assert not old.process.alive or ("rewind-start", old.name) in tier.postgres.keeper.actions
    assert tier.pg_primary is replica and tier.pg_replica is old
