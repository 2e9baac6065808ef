"""hn-brokerlist: the one address a game client knows: the live brokers and their load, as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["BrokerlistService", "__version__"]

if TYPE_CHECKING:
    from hn_brokerlist._service import BrokerlistService


def __getattr__(name: str) -> object:
    # Lazy, so that `python -m hn_brokerlist` patches gevent before anything imports the runtime.
    if name == "BrokerlistService":
        from hn_brokerlist._service import BrokerlistService

        return BrokerlistService
    raise AttributeError(name)
