"""hn-broker: edge: keeps game-client connections and routes framed Thrift packets to services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hn_broker._config import BrokerConfig, ClientLimits

__version__ = "0.1.0"
__all__ = ["BrokerConfig", "BrokerService", "ClientLimits", "__version__"]

if TYPE_CHECKING:
    from hn_broker._service import BrokerService


def __getattr__(name: str) -> object:
    # Lazy, so that `python -m hn_broker` patches gevent before anything imports the runtime.
    if name == "BrokerService":
        from hn_broker._service import BrokerService

        return BrokerService
    raise AttributeError(name)
