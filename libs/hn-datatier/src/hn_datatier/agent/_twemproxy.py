"""Twemproxy (nutcracker) YAML: read and rewrite its named server lines (the agent's surgery).

Only the `servers:` entries are touched, line by line, so everything else in a production file
(comments, other pools, tuning added by Terraform) stays as it is, and no YAML library is needed.
A server line reads `- host:port:weight name`; the name is the shard's Sentinel master name, and
ketama hashes names (not addresses), which is why the agent may change an address without moving
a single key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["TwemproxyServer", "listen_addresses", "parse_servers", "replace_addresses", "set_redis_auth"]

_SERVER_LINE = re.compile(
    r"""^(?P<lead>\s*-\s*)(?P<quote>["']?)(?P<host>\[[^\]]+\]|[^\s:"']+):(?P<port>\d+):(?P<weight>\d+)"""
    r"""(?:\s+(?P<name>[^\s"']+))?(?P=quote)(?P<trail>\s*(?:\#.*)?)$"""
)
_LISTEN_LINE = re.compile(r"""^\s+listen:\s*["']?(?P<host>[^\s:"']+):(?P<port>\d+)["']?\s*(?:#.*)?$""")
_AUTH_LINE = re.compile(r"""^(?P<lead>\s+redis_auth:\s*).*$""")


@dataclass(frozen=True)
class TwemproxyServer:
    """One server entry: the shard name (Sentinel master name) and its current master address."""

    name: str
    host: str
    port: int
    weight: int = 1

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def line(self, indent: str = "   ") -> str:
        return f"{indent}- {self.host}:{self.port}:{self.weight} {self.name}"


def parse_servers(text: str) -> list[TwemproxyServer]:
    """The named server entries of every pool, in file order."""
    servers = []
    for line in text.splitlines():
        match = _SERVER_LINE.match(line)
        if match and match.group("name"):
            servers.append(
                TwemproxyServer(
                    match.group("name"), match.group("host"), int(match.group("port")), int(match.group("weight"))
                )
            )
    return servers


def replace_addresses(text: str, addresses: Mapping[str, tuple[str, int]]) -> str:
    """`text` with the address of each named server replaced; names, weights, order and every
    other line unchanged. Names not in the file are ignored."""
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        ending = line[len(body) :]
        match = _SERVER_LINE.match(body)
        name = match.group("name") if match else None
        if match and name is not None and name in addresses:
            host, port = addresses[name]
            q = match.group("quote")
            body = f"{match.group('lead')}{q}{host}:{port}:{match.group('weight')} {name}{q}{match.group('trail')}"
        out.append(body + ending)
    return "".join(out)


def listen_addresses(text: str) -> list[tuple[str, int]]:
    """The `listen:` address of every pool (TCP only)."""
    found = []
    for line in text.splitlines():
        match = _LISTEN_LINE.match(line)
        if match:
            found.append((match.group("host"), int(match.group("port"))))
    return found


def set_redis_auth(text: str, password: str) -> str:
    """`text` with the `redis_auth:` of every pool set to `password` (double-quoted YAML: a
    password of letters and digits, as the tier makes them, needs no escaping; anything else
    is refused; so is a file without a `redis_auth:` line). Every other line unchanged."""
    if not password or not all(c.isascii() and c.isalnum() for c in password):
        raise ValueError("a Twemproxy password must be letters and digits only")
    out, found = [], False
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        match = _AUTH_LINE.match(body)
        if match:
            found = True
            line = f'{match.group("lead")}"{password}"' + line[len(body) :]
        out.append(line)
    if not found:  # nutcracker would let anyone in: never quietly
        raise ValueError("no redis_auth line to set")
    return "".join(out)
