"""The data tier on a network the attacker reaches (issue 16): Twemproxy, every Redis node, every
Sentinel, Pgpool and every PostgreSQL node refuse a client without the password, or with a wrong
one, and nothing of the platform listens beyond the loopback.

The attack was: `GET` of an account's token key through Twemproxy gave a live token, and
`broker.resume` with it made the attacker that player. Here a player is logged in, the attacker
asks every door for that key (and tries to plant a token, reconfigure a node, promote one, fail a
shard over, change the player's password in PostgreSQL), and then the token, the shards' masters
and the account are read back unchanged. `libs/hn-datatier/tests/test_auth.py` checks each door's
users and grants in more depth.
"""

from __future__ import annotations

import os
import urllib.parse

import psycopg2
import pytest

from hn_client.testing import RawClient

from _attacker import account, descendants, listening_sockets, redis_command, token_of
from _platform import Platform

pytestmark = pytest.mark.security

WRONG = "not-the-password-0123456789"


@pytest.fixture(autouse=True)
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The attacker really has no password: no libpq fallback from the environment."""
    for name in ("PGPASSWORD", "PGSERVICE", "HN_REDIS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PGPASSFILE", os.devnull)


def refused(replies: list[bytes]) -> bool:
    """Every reply an error about authentication."""
    return all(
        r.startswith(b"-") and any(w in r.upper() for w in (b"AUTH", b"PASSWORD", b"WRONGPASS")) for r in replies
    )


def test_no_redis_door_gives_or_takes_a_token_without_the_password(platform: Platform, guest: RawClient) -> None:
    tier = platform.tier
    account_id = guest.account.account_id
    token = token_of(tier, account_id)
    assert token == guest.token
    token_keys = (f"sso:acct:{account_id}:tok", f"sso:tok:{token}")
    steal = [("GET", key) for key in token_keys] + [("SET", token_keys[0], f"{account_id}.planted")]
    masters = {shard.name: tier.sentinel_master(shard.name) for shard in tier.shards}

    for password in (None, WRONG):
        login = [] if password is None else [("AUTH", password)]
        assert refused(redis_command(tier.twemproxy_port, *login, *steal)), "Twemproxy"
        takeover = [("CONFIG", "SET", "dir", "/tmp"), ("REPLICAOF", "127.0.0.1", "1"), ("FLUSHALL",)]
        for node in (node for shard in tier.shards for node in shard.nodes):
            as_admin = [] if password is None else [("AUTH", "admin", password)]
            assert refused(redis_command(node.port, *as_admin, *steal, *takeover)), node.name
        for sentinel in tier.sentinel_nodes:
            fail_over = [("SENTINEL", "FAILOVER", shard.name) for shard in tier.shards]
            assert refused(redis_command(sentinel.port, *login, ("SENTINEL", "MASTERS"), *fail_over)), sentinel.port

    # The same commands with the services' password are answered: the refusals above are the password's.
    services = urllib.parse.urlsplit(tier.env["HN_REDIS_URL"]).password or ""
    assert redis_command(tier.twemproxy_port, ("AUTH", services), steal[0])[1] == b"$%d" % len(token)
    assert token_of(tier, account_id) == token, "the token neither read nor replaced"
    assert {shard.name: tier.sentinel_master(shard.name) for shard in tier.shards} == masters, "no failover"
    guest.ping()  # the player's session goes on


def test_no_postgresql_door_opens_without_the_password(platform: Platform, guest: RawClient) -> None:
    tier = platform.tier
    before = account(tier, guest.account.account_id)
    database = "highnoon"
    ports = [tier.pgpool_port, *(node.port for node in tier.pg_nodes)]
    for port in ports:
        for user in ("highnoon", "postgres"):
            for password in (None, WRONG):
                options = {} if password is None else {"password": password}
                with pytest.raises(psycopg2.OperationalError, match="password") as failed:
                    psycopg2.connect(
                        host="127.0.0.1", port=port, user=user, dbname=database, connect_timeout=5, **options
                    )
                assert "authentication failed" in str(failed.value) or "no password" in str(failed.value)
    assert account(tier, guest.account.account_id) == before


def test_nothing_of_the_platform_listens_beyond_the_loopback(platform: Platform) -> None:
    """Every listening socket of this process (yellow, sso, the brokers, brokerlist) and of the data
    tier's processes (and theirs: nutcracker under its agent) is bound to 127.0.0.1."""
    pids = {
        pid for root in (os.getpid(), *(p.pid for p in platform.tier.processes() if p.pid)) for pid in descendants(root)
    }
    listening = listening_sockets(sorted(pids))
    ports = {port for _, port in listening}
    assert set(platform.tier.listening_ports()) <= ports, "the tier's own ports are among those read"
    assert int(platform.brokers[0].endpoints["client"].rpartition(":")[2]) in ports
    assert {address for address, _ in listening} == {"127.0.0.1"}, sorted(listening)
