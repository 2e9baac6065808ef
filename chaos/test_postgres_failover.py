"""Losing the PostgreSQL primary under a steady load: kill -9 (its host then lost) and SIGSTOP (the
whole node frozen). Pgpool's failover_command fences it and promotes the synchronous replica, the
keeper rewinds the old primary (pg_rewind) into the new primary's replica, and nothing sso or
match acknowledged may be lost or applied twice (the must-be-0 columns, asserted by `run`).

"served again after" is the bound on the outage, measured from the moment the fault lands until a
fresh player's guest login (a write through Pgpool) works again; each row's notes say when the
replica was promoted. The bound asserted here is a generous ceiling for a shared 2-core machine:
the figure is what to read.
"""

from __future__ import annotations

import signal

import pytest

from hn_chaos import Figures
from hn_datatier.local import PgNode
from hn_datatier.testing import freeze
from hn_runtime.testing import time_factor

from _nemesis import Platform
from _scenario import Scenario, run

pytestmark = pytest.mark.chaos

#: Pgpool gives up on the primary after (health_check_timeout + period) x (retries + 1) seconds
#: (9 s as the tier is configured), then the fence, the promotion and the services' reconnections.
SERVED_AGAIN_CEILING_S = 60.0


def _promoted(s: Scenario, old: PgNode) -> None:
    """Keep the fault on until the other node is the primary and Pgpool sends writes to it."""
    tier = s.platform.tier
    other = next(n for n in tier.pg_nodes if n is not old)
    pool = tier.postgres.pool
    assert pool is not None
    began = s.history.now()

    def promoted() -> bool:
        state = tier.postgres.state(other, timeout=1.0)
        return state.answers and state.primary and pool.primary_port() == other.port

    s.hold_until(promoted, f"{other.name} promoted and Pgpool writing to it", timeout=60.0)
    s.notes[-1] = f"{other.name} promoted, Pgpool writing to it after {s.history.now() - began:.1f} s"


def kill_pg_primary(s: Scenario) -> None:
    tier = s.platform.tier
    old = tier.pg_primary
    with tier.hold_postgres(old):  # a lost host: nothing restarts it before the failover
        old.process.kill()  # reaps it: dead on return
        s.land()
        s.notes.append(f"killed {old.name}")
        _promoted(s, old)
    # From here the keeper rewinds it onto the new primary; healed = Pgpool sees both up again.


def stop_pg_primary(s: Scenario) -> None:
    tier = s.platform.tier
    old = tier.pg_primary
    with tier.hold_postgres(old):
        freeze(old, signal.SIGSTOP)
        assert old.process.pid is not None
        s.stopped(old.process.pid)
        s.notes.append(f"stopped {old.name} (postmaster and every backend)")
        try:
            _promoted(s, old)
        finally:
            freeze(old, signal.SIGCONT)
        s.notes.append("fenced: killed by the failover script" if not old.process.alive else "still running")


FAULTS = {"kill -9 pg-primary": kill_pg_primary, "SIGSTOP, SIGCONT pg-primary": stop_pg_primary}


@pytest.mark.parametrize("name", list(FAULTS))
def test_lose_the_postgres_primary(name: str, platform: Platform, report: list[Figures]) -> None:
    figures = run(platform, report, name, FAULTS[name])
    assert figures.recovered_s is not None
    assert figures.recovered_s < SERVED_AGAIN_CEILING_S * time_factor(), f"writes served again after {figures}"
