"""hn-yellow: discovery and presence: service instances register, heartbeat and are found here."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["YellowService", "__version__"]

if TYPE_CHECKING:
    from hn_yellow._service import YellowService


def __getattr__(name: str) -> object:
    # Lazy, so that `python -m hn_yellow` patches gevent before anything imports the runtime.
    if name == "YellowService":
        from hn_yellow._service import YellowService

        return YellowService
    raise AttributeError(name)
