"""The Sentinel -> Twemproxy agent: repoints Twemproxy when Sentinel promotes a shard's replica.

Run it with `python -m hn_datatier.agent` (arguments or HN_* environment variables, see
`AgentConfig.from_args`). Production runs one agent next to each nutcracker: either supervising it
(`--supervise`) or restarting the system service (`--restart-command "systemctl restart nutcracker"`).

`TwemproxyServer`, `parse_servers`, `replace_addresses`, `set_redis_auth` and `listen_addresses`
read and rewrite nutcracker's YAML (the local launcher reads it too). The agent's own names load on first use:
`python -m hn_datatier.agent` imports this package before its `__main__` patches the standard
library for gevent, so nothing here may import redis (and ssl) early.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hn_datatier.agent._twemproxy import (
    TwemproxyServer,
    listen_addresses,
    parse_servers,
    replace_addresses,
    set_redis_auth,
)

if TYPE_CHECKING:
    from hn_datatier.agent._agent import Agent, CommandNutcracker, Nutcracker, SupervisedNutcracker, serve
    from hn_datatier.agent._config import AgentConfig

__all__ = [
    "Agent",
    "AgentConfig",
    "CommandNutcracker",
    "Nutcracker",
    "SupervisedNutcracker",
    "TwemproxyServer",
    "listen_addresses",
    "main",
    "parse_servers",
    "replace_addresses",
    "serve",
    "set_redis_auth",
]

_LAZY = {
    "Agent": "hn_datatier.agent._agent",
    "CommandNutcracker": "hn_datatier.agent._agent",
    "Nutcracker": "hn_datatier.agent._agent",
    "SupervisedNutcracker": "hn_datatier.agent._agent",
    "serve": "hn_datatier.agent._agent",
    "AgentConfig": "hn_datatier.agent._config",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> int:
    """Thin entry point: configuration from arguments/environment, then `serve()`."""
    from hn_datatier.agent._agent import serve
    from hn_datatier.agent._config import AgentConfig

    return serve(AgentConfig.from_args(argv))
