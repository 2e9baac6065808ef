"""Key pairs and the authority of a platform on one machine (`hn up`, test clusters, benchmarks).

A directory holding one secret key file per service (`<service>.key_secret`, zmq's certificate
format, readable by its owner only) and `authority.json` naming each service's public key. A
deploy does the same with a secret store (docs/security.md); this is the local equivalent.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import zmq.auth

from hn_runtime._authority import write_authority
from hn_runtime._curve import CurveConfig, CurveKeys

__all__ = ["LocalIdentities"]


class LocalIdentities:
    """One key pair per service under `directory`, and the authority naming them with `grants`.

    `add(service)` makes one more identity later (the file is rewritten; servers read it again).
    """

    def __init__(self, directory: str, services: Iterable[str], *, grants: Mapping[str, Iterable[str]]) -> None:
        self.directory = os.path.abspath(directory)
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        #: the authority file (HN_CURVE_AUTHORITY)
        self.path = os.path.join(self.directory, "authority.json")
        self._grants = {grant: list(holders) for grant, holders in grants.items()}
        self._keys: dict[str, CurveKeys] = {}
        for service in services:
            self._create(service)
        self._write()

    def _create(self, service: str) -> None:
        old = os.umask(0o077)  # the secret file readable by its owner only
        try:
            _, secret_file = zmq.auth.create_certificates(self.directory, service)
        finally:
            os.umask(old)
        self._keys[service] = CurveKeys.load(secret_file)

    def _write(self) -> None:
        write_authority(self.path, {name: [keys.public] for name, keys in self._keys.items()}, self._grants)

    def add(self, service: str) -> CurveKeys:
        """The key pair of `service`, made (and added to the authority) if it has none yet."""
        if service not in self._keys:
            self._create(service)
            self._write()
        return self._keys[service]

    @property
    def services(self) -> list[str]:
        return list(self._keys)

    def keys(self, service: str) -> CurveKeys:
        return self._keys[service]

    def key_file(self, service: str) -> str:
        return os.path.join(self.directory, f"{service}.key_secret")

    def curve_config(self, service: str) -> CurveConfig:
        """CURVE for a server of `service` in this process (`RuntimeConfig(curve=...)`)."""
        return CurveConfig(self._keys[service], authority=self.path)

    def env(self, service: str) -> dict[str, str]:
        """The environment of a process of `service`: its key pair, the authority, and yellow's
        public key when yellow is one of the identities."""
        env = {"HN_CURVE_KEY_FILE": self.key_file(service), "HN_CURVE_AUTHORITY": self.path}
        if "yellow" in self._keys:
            env["HN_YELLOW_CURVE_KEY"] = self._keys["yellow"].public
        return env
