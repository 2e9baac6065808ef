"""A Twemproxy (nutcracker) configuration rendered from the shipped template.

The agent rewrites the file's server lines afterwards (`hn_datatier.agent.replace_addresses`);
this writes the first one.
"""

from __future__ import annotations

from collections.abc import Iterable

from hn_datatier.agent import TwemproxyServer
from hn_datatier.local._templates import render

__all__ = ["render_config"]


def render_config(
    *, pool: str, listen: str, servers: Iterable[TwemproxyServer], redis_auth: str, timeout_ms: int = 1000
) -> str:
    """The nutcracker.yml of one pool, from the shipped template. `redis_auth`: the password
    clients must give, which nutcracker also logs in to every server with (Redis' default user)."""
    servers = list(servers)
    names = [s.name for s in servers]
    if len(set(names)) != len(names):
        raise ValueError(f"server names must be unique: {names}")
    return render(
        "nutcracker.yml.tmpl",
        pool=pool,
        listen=listen,
        timeout_ms=timeout_ms,
        redis_auth=redis_auth,
        servers="\n".join(s.line() for s in servers),
    )
