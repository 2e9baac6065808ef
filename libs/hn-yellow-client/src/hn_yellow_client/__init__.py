"""hn-yellow-client: find services through yellow, and be found.

A process needs only the yellow addresses (`HN_YELLOW=tcp://host:port[,tcp://...]`), and when
yellow runs with CURVE, yellow's public key (`HN_YELLOW_CURVE_KEY`, Z85; the yellows of one
deployment share a key pair). Every other service's key comes from its registration in yellow.

    from hn_runtime import run
    from hn_yellow_client import discovery_from_env

    run(SsoService(), discovery=discovery_from_env())
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

from hn_runtime.curve import CurveKeys
from hn_runtime.discovery import Instance
from hn_yellow_client._directory import YellowDirectory
from hn_yellow_client._registration import YellowRegistration

__version__ = "0.1.0"
__all__ = ["YellowDirectory", "YellowDiscovery", "YellowRegistration", "discovery_from_env", "yellow_addresses"]


class YellowDiscovery:
    """`hn_runtime.Discovery` through yellow: a merged directory, and heartbeat registrations."""

    def __init__(
        self,
        addresses: Sequence[str],
        *,
        heartbeat_interval: float = 1.0,
        curve_server_key: str | None = None,
        curve_keys: CurveKeys | None = None,
    ) -> None:
        self.addresses = list(addresses)
        self.heartbeat_interval = heartbeat_interval
        #: Yellow's CURVE public key, when yellow runs with CURVE.
        self.curve_server_key = curve_server_key or None
        #: The key pair presented to yellow (default: the process's, `hn_runtime.curve.client_keys()`).
        self.curve_keys = curve_keys
        self.directory = YellowDirectory(self.addresses, curve_server_key=self.curve_server_key, curve_keys=curve_keys)

    def register(self, describe: Callable[[], Instance]) -> YellowRegistration:
        return YellowRegistration(
            self.addresses,
            describe,
            interval=self.heartbeat_interval,
            curve_server_key=self.curve_server_key,
            curve_keys=self.curve_keys,
        )


def yellow_addresses(env: Mapping[str, str] | None = None) -> list[str]:
    raw = (os.environ if env is None else env).get("HN_YELLOW", "")
    return [a.strip() for a in raw.split(",") if a.strip()]


def discovery_from_env(env: Mapping[str, str] | None = None) -> YellowDiscovery | None:
    """Discovery through the yellows in HN_YELLOW (CURVE with HN_YELLOW_CURVE_KEY), or None when
    HN_YELLOW is not set (fixed endpoints)."""
    env = os.environ if env is None else env
    addresses = yellow_addresses(env)
    key = env.get("HN_YELLOW_CURVE_KEY", "").strip() or None
    return YellowDiscovery(addresses, curve_server_key=key) if addresses else None
