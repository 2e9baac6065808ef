"""hn-brokerlist: the one address a game client knows: the live brokers and their load, as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hn_process import lazy_exports

__version__ = "0.1.0"
__all__ = ["BrokerlistConfig", "BrokerlistService", "Page", "PageError", "__version__"]

if TYPE_CHECKING:
    from hn_brokerlist._config import BrokerlistConfig
    from hn_brokerlist._page import Page, PageError
    from hn_brokerlist._service import BrokerlistService

# Loaded on first use, so that the entry point patches gevent before anything imports the runtime.
__getattr__ = lazy_exports(
    __name__,
    {
        "BrokerlistConfig": "hn_brokerlist._config",
        "BrokerlistService": "hn_brokerlist._service",
        "Page": "hn_brokerlist._page",
        "PageError": "hn_brokerlist._page",
    },
)
