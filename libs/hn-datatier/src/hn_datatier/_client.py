"""Clients for the tier's two front doors, configured for what sits behind them."""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

__all__ = ["redis_client", "redis_from_url"]


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
    """
    import redis

    options.setdefault("lib_name", None)
    options.setdefault("lib_version", None)
    url = url or os.environ["HN_REDIS_URL"]
    password = os.environ.get("HN_REDIS_PASSWORD")
    if password and "password" not in options and not urllib.parse.urlsplit(url).password:
        options["password"] = password
    return redis.Redis.from_url(url, **options)
