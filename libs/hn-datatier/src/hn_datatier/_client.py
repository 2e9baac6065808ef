"""Clients for the tier's two front doors, configured for what sits behind them."""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

__all__ = ["DEFAULT_REDIS_MAX_CONNECTIONS", "redis_client", "redis_from_url"]

#: connections one process opens to Twemproxy at most (HN_REDIS_MAX_CONNECTIONS overrides it)
DEFAULT_REDIS_MAX_CONNECTIONS = 32


def redis_client(host: str, port: int, **options: Any) -> Any:
    """A redis-py client to one server (a Redis node, a Sentinel, Twemproxy), without the
    `CLIENT SETINFO` greeting (see `redis_from_url`)."""
    import redis

    options.setdefault("lib_name", None)
    options.setdefault("lib_version", None)
    return redis.Redis(host=host, port=port, **options)


def redis_from_url(url: str | None = None, **options: Any) -> Any:
    """A redis-py client for HN_REDIS_URL (Twemproxy).

    redis-py 5 announces itself with `CLIENT SETINFO` on every new connection; Twemproxy does not
    proxy CLIENT and closes the connection, so `redis.from_url(url)` alone fails. This turns that
    off. Keep to what Twemproxy proxies: no MULTI/EXEC, no pub/sub, no blocking commands, no
    SELECT, and multi-key commands only on keys sharing a {hash tag}.

    Twemproxy wants a password (its `redis_auth`) before any command: the URL carries it
    (`redis://:password@host:port/0`, as the local tier hands it out), or, when the URL has none,
    HN_REDIS_PASSWORD does (production, where HN_REDIS_URL is published in plain SSM parameters and
    the password comes from a SecureString).

    Connections are pooled and bounded: `max_connections` (HN_REDIS_MAX_CONNECTIONS, default 32)
    at most, and a caller finding them all busy waits up to `pool_timeout` (default: the socket
    timeout, else 2 s) for one, then gets redis.ConnectionError. redis-py's default pool has no
    bound: a greenlet per request means a connection (and a descriptor, on both ends) per request
    in flight, so a burst of logins once took a broker past its open-file limit. Twemproxy
    pipelines whatever arrives on a connection, so a few dozen carry a process's traffic.
    """
    import redis

    options.setdefault("lib_name", None)
    options.setdefault("lib_version", None)
    url = url or os.environ["HN_REDIS_URL"]
    password = os.environ.get("HN_REDIS_PASSWORD")
    if password and "password" not in options and not urllib.parse.urlsplit(url).password:
        options["password"] = password
    max_connections = options.pop("max_connections", None) or int(
        os.environ.get("HN_REDIS_MAX_CONNECTIONS", DEFAULT_REDIS_MAX_CONNECTIONS)
    )
    if max_connections < 1:
        raise ValueError(f"HN_REDIS_MAX_CONNECTIONS must be at least 1, not {max_connections}")
    pool_timeout = options.pop("pool_timeout", None) or options.get("socket_timeout") or 2.0
    pool = redis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=pool_timeout, **options)
    # from_pool: the client owns the pool and closes it with itself, as from_url's clients do (the
    # types-redis stubs predate it)
    return redis.Redis.from_pool(pool)  # type: ignore[attr-defined]
