"""hn-yellow-client: find services through yellow, and be found.

A process needs only the yellow addresses (`HN_YELLOW=tcp://host:port[,tcp://...]`):

    from hn_runtime import run
    from hn_yellow_client import discovery_from_env

    run(SsoService(), discovery=discovery_from_env())
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

from hn_runtime import Instance
from hn_yellow_client._directory import YellowDirectory
from hn_yellow_client._registration import YellowRegistration

__version__ = "0.1.0"
__all__ = ["YellowDirectory", "YellowDiscovery", "YellowRegistration", "discovery_from_env", "yellow_addresses"]


class YellowDiscovery:
    """`hn_runtime.Discovery` through yellow: a merged directory, and heartbeat registrations."""

    def __init__(self, addresses: Sequence[str], *, heartbeat_interval: float = 1.0) -> None:
        self.addresses = list(addresses)
        self.heartbeat_interval = heartbeat_interval
        self.directory = YellowDirectory(self.addresses)

    def register(self, describe: Callable[[], Instance]) -> YellowRegistration:
        return YellowRegistration(self.addresses, describe, interval=self.heartbeat_interval)


def yellow_addresses(env: Mapping[str, str] | None = None) -> list[str]:
    raw = (os.environ if env is None else env).get("HN_YELLOW", "")
    return [a.strip() for a in raw.split(",") if a.strip()]


def discovery_from_env(env: Mapping[str, str] | None = None) -> YellowDiscovery | None:
    """Discovery through the yellows in HN_YELLOW, or None when it is not set (fixed endpoints)."""
    addresses = yellow_addresses(env)
    return YellowDiscovery(addresses) if addresses else None
