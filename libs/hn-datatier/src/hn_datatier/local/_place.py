"""Where each process of a tier runs: its host's address and how to start a command there.

A local tier runs everything on the loopback (`Place()`). Spread over several hosts (network
namespaces of `hn_netns`, for `hn up --hosts N` and the partition chaos tier), each *role* gets a
`Place`: the address its processes bind and are advertised as, and `wrap`, which turns a command
line into one that runs on that host (`hn_netns.Host.command`). `DataTierConfig.placement` maps
roles to places; the roles are fixed names (`roles()`), the same for every caller:

    postgres-0, postgres-1        the first primary and its first replica (a node keeps its host
                                  through failovers: the roles name where each node starts)
    pgpool                        Pgpool-II
    redis-<shard>-0, -1           a shard's first master and its replica (<shard>: shard0, ...)
    sentinel-<i>                  the Sentinels, from 0
    twemproxy                     the Sentinel agent and its nutcracker

Exporters run on the host of the server they export (no role of their own).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

__all__ = ["LOOPBACK", "Place", "client_cidr", "roles"]

#: A tier without placement: every server on the loopback.
LOOPBACK = "127.0.0.1"


def _same(argv: list[str]) -> list[str]:
    return list(argv)


@dataclass(frozen=True)
class Place:
    """Where a role's processes run: `address` is what they bind and are advertised as; `wrap`
    turns a command line into one that runs on that host (identity: this machine's namespace)."""

    address: str = LOOPBACK
    wrap: Callable[[list[str]], list[str]] = _same

    def __post_init__(self) -> None:
        ipaddress.IPv4Address(self.address)  # ValueError for anything else (a host name, IPv6)

    @property
    def loopback(self) -> bool:
        return ipaddress.IPv4Address(self.address).is_loopback

    @property
    def wrapped(self) -> bool:
        """True when commands run elsewhere than in the launcher's own namespace."""
        return self.wrap is not _same

    def command(
        self, argv: Sequence[str], *, user: tuple[int, int] | None = None, deathsig: str = "KILL"
    ) -> tuple[list[str], tuple[int, int] | None]:
        """`argv` on this place, run as `user` (uid, gid) if given: (the command line, the user the
        caller's process runner must still switch to). A wrapped command switches user itself,
        inside the wrap (`setpriv`): entering a namespace needs root, so the switch comes after it;
        the switch clears the kernel's parent-death signal, which setpriv sets again."""
        if not self.wrapped:
            return list(argv), user
        if user is None:
            return self.wrap(list(argv)), None
        uid, gid = user
        switch = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", f"--pdeathsig={deathsig}", "--"]
        return self.wrap([*switch, *argv]), None


def roles(*, postgres: bool, redis: bool, shards: Iterable[str], sentinels: int) -> list[str]:
    """The roles of a tier with these parts (see the module's docstring)."""
    names = ["postgres-0", "postgres-1", "pgpool"] if postgres else []
    if redis:
        for shard in shards:
            names += [f"redis-{shard}-0", f"redis-{shard}-1"]
        names += [f"sentinel-{i}" for i in range(sentinels)] + ["twemproxy"]
    return names


def client_cidr(places: Iterable[Place], explicit: str = "") -> str:
    """Who may connect to PostgreSQL and Pgpool (pg_hba, pool_hba): `explicit` if given; the
    loopback alone when every place is; else the smallest network, /24 at most, holding every
    place's address (the hosts' subnet)."""
    if explicit:
        return str(ipaddress.IPv4Network(explicit, strict=False))
    addresses = [ipaddress.IPv4Address(p.address) for p in places if not p.loopback]
    if not addresses:
        return f"{LOOPBACK}/32"
    network = ipaddress.IPv4Network(f"{addresses[0]}/24", strict=False)
    while not all(a in network for a in addresses):
        network = network.supernet()
    return str(network)
