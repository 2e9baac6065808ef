"""The CURVE authority: which public keys may act as which service, and what each service may do.

One JSON file, the same for every process of a deployment (`HN_CURVE_AUTHORITY=path`):

    {
      "services": {"broker": ["<Z85 public key>", ...], "sso": ["..."], ...},
      "grants": {"session": ["broker"], "push": ["broker", "match", "sso"]}
    }

`services` names the keys allowed to act as each service (a service's instances may share a key
or hold one each; a key acts as one service only). `grants` names the services allowed to do
what a method requires (`Service.required_grants`); the runtime itself knows one grant,
`session`: only its holders may say, in a request's envelope, which player it is for.

It holds public keys only, so it is no secret; it must not be writable by the services it names.
A process reads it again when the file changes (handshakes check at once, per-message grant
checks at most once a second), so a key is added or revoked without a restart.
"""

from __future__ import annotations

import json
import os
import re
import struct
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import zmq.utils.z85

from hn_runtime._logging import get_logger

__all__ = ["Authority", "AuthorityDocument", "SESSION_GRANT", "check_key", "write_authority"]

#: The grant whose holders' envelopes may carry a player's session id (and client address).
SESSION_GRANT = "session"

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
#: Seconds between checks of the file from the per-message path.
_RECHECK_S = 1.0

_log = get_logger("hn.curve")


def check_key(key: str, what: str) -> str:
    """`key` if it is a 40-character Z85 CURVE key; ValueError otherwise."""
    if len(key) != 40:
        raise ValueError(f"{what} must be a 40-character Z85 CURVE key, got {len(key)} characters")
    try:
        zmq.utils.z85.decode(key.encode("ascii"))  # type: ignore[no-untyped-call]
    except (ValueError, KeyError, struct.error, UnicodeEncodeError) as exc:
        raise ValueError(f"{what} is not a Z85 CURVE key: {exc}") from None
    return key


def _names(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where} must be a list of strings")
    return value


@dataclass(frozen=True)
class AuthorityDocument:
    """One reading of the authority file."""

    #: public key -> the service it may act as
    services_by_key: Mapping[str, str]
    #: grant -> the services holding it
    grants: Mapping[str, frozenset[str]]

    @classmethod
    def parse(cls, text: str, source: str = "the CURVE authority") -> AuthorityDocument:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{source} is not JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
            raise ValueError(f'{source} must be an object with "services" (and optionally "grants")')
        unknown = set(data) - {"services", "grants"}
        if unknown:
            raise ValueError(f"{source} has unknown fields: {', '.join(sorted(unknown))}")
        by_key: dict[str, str] = {}
        for service, keys in data["services"].items():
            if not _NAME.match(service):
                raise ValueError(f"{source}: {service!r} is not a service name (lowercase, digits, - and _)")
            for key in _names(keys, f"{source}: services.{service}"):
                check_key(key, f"{source}: a key of {service}")
                if by_key.setdefault(key, service) != service:
                    raise ValueError(f"{source}: key {key} is listed for both {by_key[key]} and {service}")
        grants = data.get("grants", {})
        if not isinstance(grants, dict):
            raise ValueError(f"{source}: grants must be an object")
        return cls(
            by_key,
            {grant: frozenset(_names(holders, f"{source}: grants.{grant}")) for grant, holders in grants.items()},
        )

    @classmethod
    def read(cls, path: str) -> AuthorityDocument:
        with open(path) as fh:
            return cls.parse(fh.read(), path)


class Authority:
    """The authority file of this process, read again whenever it changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp = self._stat()
        self._checked = time.monotonic()
        self.document = AuthorityDocument.read(path)  # a bad file stops the start, not a handshake

    def _stat(self) -> tuple[int, int, int]:
        st = os.stat(self.path)
        return (st.st_mtime_ns, st.st_ino, st.st_size)

    def refresh(self) -> AuthorityDocument:
        """The current document, read again if the file changed; the last good one if it is bad."""
        self._checked = time.monotonic()
        try:
            stamp = self._stat()
            if stamp != self._stamp:
                self.document = AuthorityDocument.read(self.path)
                self._stamp = stamp
                _log.info("CURVE authority read again", path=self.path, keys=len(self.document.services_by_key))
        except (OSError, ValueError) as exc:
            # Keep the last good reading rather than let everyone in or lock everyone out.
            _log.error("cannot read the CURVE authority", path=self.path, error=str(exc))
        return self.document

    def service_of(self, key: str) -> str | None:
        """The service `key` may act as, or None. Asked once per handshake."""
        return self.refresh().services_by_key.get(key)

    def granted(self, service: str | None, grant: str) -> bool:
        """Whether `service` holds `grant`. Asked per message: the file is checked at most once a second."""
        if time.monotonic() - self._checked > _RECHECK_S:
            self.refresh()
        return service is not None and service in self.document.grants.get(grant, ())


def write_authority(path: str, services: Mapping[str, Iterable[str]], grants: Mapping[str, Iterable[str]]) -> None:
    """Write an authority file (atomically: a process reading it never sees half a file)."""
    document = {
        "services": {name: sorted(keys) for name, keys in sorted(services.items())},
        "grants": {grant: sorted(holders) for grant, holders in sorted(grants.items())},
    }
    AuthorityDocument.parse(json.dumps(document), path)  # refuse to write what no process would read
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        json.dump(document, fh, indent=1)
        fh.write("\n")
    os.replace(tmp, path)
