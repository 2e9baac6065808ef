"""hn-yellow: discovery and presence: service instances register, heartbeat and are found here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hn_process import lazy_exports

__version__ = "0.1.0"
__all__ = ["YellowService", "__version__"]

if TYPE_CHECKING:
    from hn_yellow._service import YellowService

# Loaded on first use, so that the entry point patches gevent before anything imports the runtime.
__getattr__ = lazy_exports(__name__, {"YellowService": "hn_yellow._service"})
