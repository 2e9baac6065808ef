"""A private /24 for a harness's hosts, away from every network this machine already uses."""

from __future__ import annotations

import ipaddress
import random

from hn_netns._commands import run, tool

__all__ = ["machine_networks", "pick_subnet"]


def machine_networks() -> list[ipaddress.IPv4Network]:
    """The IPv4 networks of the calling namespace: its addresses' and its routes' (default excepted)."""
    networks = []
    for line in run([tool("ip"), "-4", "-o", "addr", "show"]).splitlines():
        words = line.split()
        if "inet" in words:
            networks.append(ipaddress.IPv4Interface(words[words.index("inet") + 1]).network)
    for line in run([tool("ip"), "-4", "route", "show", "table", "all"]).splitlines():
        words = line.split()
        prefix = words[1] if words and words[0] in ("local", "broadcast", "unicast") else (words[0] if words else "")
        try:
            network = ipaddress.ip_network(prefix, strict=False)
        except ValueError:  # "default", "unreachable", ...
            continue
        if isinstance(network, ipaddress.IPv4Network) and network.prefixlen > 0:
            networks.append(network)
    return networks


def pick_subnet(taken: list[ipaddress.IPv4Network], rng: random.Random | None = None) -> ipaddress.IPv4Network:
    """A random 10.x.y.0/24 that overlaps none of `taken`."""
    rng = rng or random.Random()
    for _ in range(1000):
        subnet = ipaddress.IPv4Network(f"10.{rng.randrange(256)}.{rng.randrange(256)}.0/24")
        if not any(subnet.overlaps(network) for network in taken):
            return subnet
    raise RuntimeError("no free 10.x.y.0/24 left on this machine")
