"""hn-sso: accounts, login and session tokens."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["Sessions", "SsoConfig", "SsoService", "__version__"]

if TYPE_CHECKING:
    from hn_sso._service import SsoConfig, SsoService
    from hn_sso._sessions import Sessions

# Loaded on first use, so that `python -m hn_sso` patches gevent before anything imports the runtime.
_HOMES = {"SsoConfig": "hn_sso._service", "SsoService": "hn_sso._service", "Sessions": "hn_sso._sessions"}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
