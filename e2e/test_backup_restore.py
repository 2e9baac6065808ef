"""Point-in-time restore from pgBackRest: players register and duel, a moment is noted, more players
register and duel; PostgreSQL restored to that moment on a fresh data directory (the tier's base
backup and its archived WAL) holds the accounts and duel results from before it, and none after."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import gevent
import psycopg2
import pytest

from hn_client import Duelist, GameClient
from hn_datatier.local import DataTier

from _platform import Platform, platform_on

pytestmark = pytest.mark.integration

_devices = itertools.count()


@pytest.fixture(scope="module")
def platform(data_tier: DataTier) -> Iterator[Platform]:
    with platform_on(data_tier, brokers=1, matches=1) as p:
        yield p


def _duel(platform: Platform) -> tuple[str, list[int]]:
    """Two new guests (two accounts) play one duel: its match id and the two account ids."""
    clients = [GameClient(platform.brokerlist_url).connect() for _ in range(2)]
    try:
        for client in clients:
            client.guest_login(f"e2e-restore-{os.getpid()}-{next(_devices)}")
        duels = [gevent.spawn(Duelist(c).duel, timeout=60) for c in clients]
        gevent.joinall(duels, raise_error=True)
        outcome = duels[0].value
        assert outcome.result is not None, f"the duel ended without a result: {outcome}"
        return outcome.match_id, [c.account.account_id for c in clients]
    finally:
        for client in clients:
            client.close()


def _primary_clock(tier: DataTier) -> str:
    """The primary's clock now, as a timestamp with its time zone (what a restore targets)."""
    conn = psycopg2.connect(tier.pg_direct_dsn(tier.pg_primary), connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT clock_timestamp()::text")
            row = cur.fetchone()
            assert row is not None
            return str(row[0])
    finally:
        conn.close()


def test_a_point_in_time_restore_has_what_was_written_before_it_and_nothing_after(platform: Platform) -> None:
    tier = platform.tier
    backup = tier.pg_backup("full")
    assert backup["type"] == "full"

    before_match, before_accounts = _duel(platform)
    target = _primary_clock(tier)
    after_match, after_accounts = _duel(platform)
    tier.pg_archive_now()  # the WAL of both duels is in the repository

    restored = tier.pg_restore(target)
    conn = psycopg2.connect(tier.pg_direct_dsn(restored), connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_is_in_recovery()")
            assert cur.fetchone() == (False,), "the restored node is promoted at the target"
            cur.execute(
                "SELECT account_id FROM sso_accounts WHERE account_id = ANY(%s)", (before_accounts + after_accounts,)
            )
            accounts = {int(row[0]) for row in cur.fetchall()}
            cur.execute("SELECT match_id FROM match_results WHERE match_id = ANY(%s)", ([before_match, after_match],))
            results = {str(row[0]) for row in cur.fetchall()}
    finally:
        conn.close()
    assert accounts == set(before_accounts), f"accounts restored: {accounts}, before the target: {before_accounts}"
    assert results == {before_match}, f"duel results restored: {results}, before the target: {before_match}"
