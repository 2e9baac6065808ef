"""hn-yellow: discovery and presence: service instances register, heartbeat and are found here."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["YellowService", "__version__"]

if TYPE_CHECKING:
    from hn_yellow._service import YellowService

# Loaded on first use, so that `python -m hn_yellow` patches gevent before anything imports the runtime.
_HOMES = {"YellowService": "hn_yellow._service"}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
