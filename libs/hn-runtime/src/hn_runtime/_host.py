"""What a `Service` sees of the server running it: the narrow side of the server/service pair.

`Server` runs a `Service` and hands itself to it as `service.server`; the service only reads a
few facts and publishes. Naming that here, rather than the `Server` class, keeps `_service`
free of the server's module (and the server's module free to import `_service`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from hn_runtime._config import RuntimeConfig

__all__ = ["ServiceHost"]


class ServiceHost(Protocol):
    """The server a service instance runs in, as its handlers and hooks see it."""

    @property
    def instance(self) -> str:
        """This instance's id (as registered in discovery)."""
        ...

    @property
    def config(self) -> RuntimeConfig: ...

    @property
    def endpoints(self) -> Mapping[str, str]:
        """What this instance serves on: "rep", "pull", "pub", then "metrics", "http" and the
        service's own once the process serves."""
        ...

    @property
    def draining(self) -> bool: ...

    @property
    def knows_callers(self) -> bool:
        """True when each request carries its caller's service identity (`Session.peer_service`):
        CURVE with an authority. False: identities are unknown and their rules not applied."""
        ...

    @property
    def in_flight(self) -> int:
        """Handlers running now."""
        ...

    @property
    def pool_size(self) -> int:
        """Handlers that may run at once."""
        ...

    def publish(self, topic: str, event: Any) -> None:
        """Send `event`, a struct of the service's IDL, to subscribers of `topic`."""
        ...
