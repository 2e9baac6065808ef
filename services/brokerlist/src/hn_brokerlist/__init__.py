"""hn-brokerlist: the one address a game client knows: the live brokers and their load, as JSON."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["BrokerlistService", "__version__"]

if TYPE_CHECKING:
    from hn_brokerlist._service import BrokerlistService

# Loaded on first use, so that `python -m hn_brokerlist` patches gevent before anything imports the runtime.
_HOMES = {"BrokerlistService": "hn_brokerlist._service"}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
