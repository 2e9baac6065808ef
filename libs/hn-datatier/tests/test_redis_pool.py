"""A process's connections to Twemproxy are bounded: many greenlets share a few connections, and a
caller who finds them all busy past its wait gets a clear error, not one more descriptor."""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Any

import gevent
import pytest
import redis

from hn_datatier import redis_from_url
from hn_datatier.local import DataTier

pytestmark = pytest.mark.integration

GREENLETS = 40
CALLS = 25


def connections_to(port: int) -> int:
    """This process's established TCP connections to `port`, as the kernel lists them (its socket
    table joined with our open descriptors): what a bound on connections has to hold down."""
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                ours.add(target[len("socket:[") : -1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                remote_port, state, inode = int(fields[2].rsplit(":", 1)[1], 16), fields[3], fields[9]
                count += remote_port == port and state == "01" and inode in ours
    return count


def hammer(client: Any, key: str) -> None:
    """GREENLETS greenlets at once, each making CALLS round trips: as many callers in flight as a
    broker has during a burst of logins."""

    def calls() -> None:
        for _ in range(CALLS):
            client.incr(key)

    gevent.joinall([gevent.spawn(calls) for _ in range(GREENLETS)], raise_error=True)


def test_many_greenlets_share_at_most_max_connections(data_tier: DataTier) -> None:
    key = f"test:pool:{uuid.uuid4().hex}"
    port = data_tier.twemproxy_port
    before = connections_to(port)
    with redis_from_url(data_tier.redis_url, max_connections=4) as bounded:
        hammer(bounded, key)
        assert int(bounded.get(key)) == GREENLETS * CALLS, "every call was made"
        opened = connections_to(port) - before
    assert 1 <= opened <= 4, opened

    # The control: redis-py's own pool under the same load opens a connection per caller in
    # flight, so the bound above is what kept the count down, not a load too gentle to need it.
    before = connections_to(port)
    no_greeting: dict[str, Any] = {"lib_name": None, "lib_version": None}  # Twemproxy refuses CLIENT
    with redis.Redis.from_url(data_tier.redis_url, **no_greeting) as unbounded:
        hammer(unbounded, key)
        opened_unbounded = connections_to(port) - before
    assert opened_unbounded > 4, opened_unbounded


def test_a_caller_finding_every_connection_busy_gets_a_clear_error(data_tier: DataTier) -> None:
    with redis_from_url(data_tier.redis_url, max_connections=1, pool_timeout=0.2) as client:
        held = client.connection_pool.get_connection("PING")
        try:
            with pytest.raises(redis.ConnectionError, match="No connection available"):
                client.ping()
        finally:
            client.connection_pool.release(held)
        assert client.ping() is True, "served again once a connection is free"


def test_the_bound_comes_from_the_environment_and_must_be_positive(
    data_tier: DataTier, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HN_REDIS_MAX_CONNECTIONS", "3")
    with redis_from_url(data_tier.redis_url) as client:
        assert client.connection_pool.max_connections == 3
    monkeypatch.setenv("HN_REDIS_MAX_CONNECTIONS", "0")
    with pytest.raises(ValueError, match="HN_REDIS_MAX_CONNECTIONS"):
        redis_from_url(data_tier.redis_url)


def test_replies_are_parsed_by_hiredis(data_tier: DataTier) -> None:
    # A C parser instead of redis-py's Python one per reply: it comes with redis (3rdparty BUILD).
    with redis_from_url(data_tier.redis_url) as client:
        connection = client.connection_pool.get_connection("PING")
        try:
            assert type(connection._parser).__name__ == "_HiredisParser"
        finally:
            client.connection_pool.release(connection)
