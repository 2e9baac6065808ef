"""hn-broker: edge: keeps game-client connections and routes framed Thrift packets to services."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["BrokerConfig", "BrokerService", "ClientLimits", "__version__"]

if TYPE_CHECKING:
    from hn_broker._config import BrokerConfig, ClientLimits
    from hn_broker._service import BrokerService

# Loaded on first use, so that `python -m hn_broker` patches gevent before anything imports the runtime.
_HOMES = {
    "BrokerConfig": "hn_broker._config",
    "ClientLimits": "hn_broker._config",
    "BrokerService": "hn_broker._service",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
