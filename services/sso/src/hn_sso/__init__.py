"""hn-sso: accounts, login and session tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["SsoService", "__version__"]

if TYPE_CHECKING:
    from hn_sso._service import SsoService


def __getattr__(name: str) -> object:
    # Lazy, so that `python -m hn_sso` patches gevent before anything imports the runtime.
    if name == "SsoService":
        from hn_sso._service import SsoService

        return SsoService
    raise AttributeError(name)
