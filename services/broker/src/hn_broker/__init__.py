"""hn-broker: edge: keeps game-client connections and routes framed Thrift packets to services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hn_process import lazy_exports

__version__ = "0.1.0"
__all__ = [
    "BrokerConfig",
    "BrokerService",
    "ClientLimits",
    "LocalCa",
    "__version__",
    "make_local_ca",
]

if TYPE_CHECKING:
    from hn_broker._config import BrokerConfig, ClientLimits
    from hn_broker._local_ca import LocalCa, make_local_ca
    from hn_broker._service import BrokerService

# Loaded on first use, so that the entry point patches gevent before anything imports the runtime.
__getattr__ = lazy_exports(
    __name__,
    {
        "BrokerConfig": "hn_broker._config",
        "ClientLimits": "hn_broker._config",
        "BrokerService": "hn_broker._service",
        "LocalCa": "hn_broker._local_ca",
        "make_local_ca": "hn_broker._local_ca",
    },
)
