"""hn-sso: accounts, login and session tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hn_process import lazy_exports

__version__ = "0.1.0"
__all__ = ["Sessions", "SsoConfig", "SsoService", "__version__"]

if TYPE_CHECKING:
    from hn_sso._service import SsoConfig, SsoService
    from hn_sso._sessions import Sessions

# Loaded on first use, so that the entry point patches gevent before anything imports the runtime.
__getattr__ = lazy_exports(
    __name__, {"SsoConfig": "hn_sso._service", "SsoService": "hn_sso._service", "Sessions": "hn_sso._sessions"}
)
