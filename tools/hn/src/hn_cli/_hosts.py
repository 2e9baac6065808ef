"""Which host holds which role when the local cluster spreads over hosts (`hn up --hosts N`).

One job: layouts. A layout maps a host's name to the roles it holds; a role is a data-tier
process ("postgres-0", "pgpool", "redis-shard0-1", "sentinel-2", "twemproxy": the names
`hn_datatier.local` places), a service process of the cluster ("yellow-1", "brokerlist-1",
"sso-2", "match-1", "broker-1", ...) or "bots" (the `hn up` process itself: its health checks
and bot players). `default_layout(n, roles)` spreads a cluster over 5 to 11 hosts; `check_layout`
says whether a caller's own layout (the chaos tier's) places every role exactly once.

The default layouts, as N grows each one splits a host of the one before:

    N=5   data | yellow (yellows, brokerlist) | svc (sso, match) | edge (brokers) | bots
    N=6   data -> pg (PostgreSQL, Pgpool) + redis (Redis, Sentinels, Twemproxy)
    N=7   svc -> sso + match
    N=8   edge -> edge-1 + edge-2 (brokers alternate)
    N=9   redis -> redis-m (masters, Twemproxy) + redis-r (replicas); Sentinels spread
          over redis-m, redis-r and pg
    N=10  pg -> postgres (both nodes) + pgpool (with the third Sentinel)
    N=11  postgres -> pg-0 (primary) + pg-1 (replica)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = [
    "BOTS",
    "HOSTS",
    "LayoutError",
    "check_layout",
    "cluster_roles",
    "default_layout",
    "normalize_layout",
]

#: the role of the `hn up` process itself: health checks, yellow calls, bot players
BOTS = "bots"
#: how many hosts `hn up --hosts N` spreads the platform over
HOSTS = range(5, 12)
#: what a layout may call a role besides its own name
_ALIASES = {"brokerlist": "brokerlist-1"}
# hn-netns' host names: they end up in namespace names
_HOST_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


class LayoutError(ValueError):
    """A layout that cannot be used: the message says what is wrong."""


def cluster_roles(
    *, yellows: int = 1, sso: int = 2, match: int = 2, brokers: int = 2, data: Sequence[str] | None = None
) -> list[str]:
    """Every role of a cluster of these counts, in start order (the data tier first, bots last);
    `data`: the data tier's roles (default: those of a default `DataTierConfig`)."""
    if data is None:
        from hn_datatier.local import DataTierConfig

        data = DataTierConfig().roles()
    roles = list(data)
    roles += [f"yellow-{i}" for i in range(1, yellows + 1)]
    for kind, count in (("sso", sso), ("match", match), ("broker", brokers)):
        roles += [f"{kind}-{i}" for i in range(1, count + 1)]
    return [*roles, "brokerlist-1", BOTS]


# -- the default layouts --------------------------------------------------------------------------

Selector = Callable[[str], bool]


def _kind(role: str) -> str:
    """ "redis-shard0-1" -> "redis", "sso-2" -> "sso", "pgpool" -> "pgpool"."""
    return role.split("-", 1)[0]


def _postgres(n: int | None = None) -> Selector:
    return lambda r: _kind(r) == "postgres" and (n is None or r == f"postgres-{n}")


def _redis(replica: bool | None = None) -> Selector:
    return lambda r: _kind(r) == "redis" and (replica is None or r.endswith("-1") == replica)


def _of(*kinds: str) -> Selector:
    return lambda r: _kind(r) in kinds


def _sentinels(spread: int | None = None, slot: int = 0) -> Selector:
    """Every Sentinel, or (spread over `spread` hosts) those whose number falls in `slot`."""
    return lambda r: _kind(r) == "sentinel" and (spread is None or int(r.rsplit("-", 1)[1]) % spread == slot)


def _brokers(halves: int | None = None, slot: int = 0) -> Selector:
    return lambda r: _kind(r) == "broker" and (halves is None or (int(r.rsplit("-", 1)[1]) - 1) % halves == slot)


def _any(*selectors: Selector) -> Selector:
    return lambda r: any(s(r) for s in selectors)


_YELLOW = _of("yellow", "brokerlist")
_BOTS: Selector = lambda r: r == BOTS  # noqa: E731 - one of a table of selectors


def _plan(n: int) -> list[tuple[str, Selector]]:
    """Host names and what each holds, for n hosts (see the module's docstring)."""
    if n == 5:
        data: list[tuple[str, Selector]] = [("data", _of("postgres", "pgpool", "redis", "sentinel", "twemproxy"))]
    elif n in (6, 7, 8):
        data = [("pg", _of("postgres", "pgpool")), ("redis", _of("redis", "sentinel", "twemproxy"))]
    else:
        # Sentinels spread: one with the masters, one with the replicas, one with PostgreSQL's side.
        masters = ("redis-m", _any(_redis(replica=False), _of("twemproxy"), _sentinels(3, 0)))
        replicas = ("redis-r", _any(_redis(replica=True), _sentinels(3, 1)))
        if n == 9:
            data = [("pg", _any(_of("postgres", "pgpool"), _sentinels(3, 2))), masters, replicas]
        elif n == 10:
            data = [("postgres", _postgres()), ("pgpool", _any(_of("pgpool"), _sentinels(3, 2))), masters, replicas]
        else:
            data = [
                ("pg-0", _postgres(0)),
                ("pg-1", _postgres(1)),
                ("pgpool", _any(_of("pgpool"), _sentinels(3, 2))),
                masters,
                replicas,
            ]
    services: list[tuple[str, Selector]] = (
        [("svc", _of("sso", "match"))] if n in (5, 6) else [("sso", _of("sso")), ("match", _of("match"))]
    )
    edge: list[tuple[str, Selector]] = (
        [("edge", _brokers())] if n < 8 else [("edge-1", _brokers(2, 0)), ("edge-2", _brokers(2, 1))]
    )
    return [*data, ("yellow", _YELLOW), *services, *edge, (BOTS, _BOTS)]


def default_layout(n: int, roles: Sequence[str] | None = None) -> dict[str, list[str]]:
    """The platform over `n` hosts (5 to 11): host name -> its roles, every role of `roles`
    (default: `cluster_roles()`) on exactly one host; bots alone on theirs."""
    if n not in HOSTS:
        raise LayoutError(f"--hosts {n}: the platform spreads over {HOSTS.start} to {HOSTS.stop - 1} hosts")
    roles = list(cluster_roles() if roles is None else roles)
    plan = _plan(n)
    layout: dict[str, list[str]] = {host: [] for host, _ in plan}
    for role in roles:
        host = next((host for host, holds in plan if holds(role)), None)
        if host is None:
            raise LayoutError(f"no default host for role {role!r}")
        layout[host].append(role)
    check_layout(layout, roles)
    return layout


# -- callers' layouts --------------------------------------------------------------------------


def normalize_layout(layout: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """A copy with aliases resolved ("brokerlist" is "brokerlist-1")."""
    return {host: [_ALIASES.get(role, role) for role in roles] for host, roles in layout.items()}


def check_layout(layout: Mapping[str, Sequence[str]], roles: Iterable[str]) -> None:
    """LayoutError unless every one of `roles` is on exactly one host, no host holds a role not
    in `roles`, and every host name is one hn-netns takes."""
    wanted = list(roles)
    if not layout:
        raise LayoutError("a layout needs at least one host")
    for host in layout:
        if not _HOST_NAME.match(host):
            raise LayoutError(f"host name {host!r}: lowercase letters, digits and '-', at most 32")
    where: dict[str, list[str]] = {}
    for host, held in layout.items():
        for role in held:
            where.setdefault(role, []).append(host)
    twice = {role: hosts for role, hosts in where.items() if len(hosts) > 1}
    if twice:
        raise LayoutError(
            "roles on more than one host: " + ", ".join(f"{r} ({', '.join(h)})" for r, h in twice.items())
        )
    unknown = sorted(set(where) - set(wanted))
    if unknown:
        raise LayoutError(f"roles this cluster does not have: {', '.join(unknown)} (it has {', '.join(wanted)})")
    missing = [role for role in wanted if role not in where]
    if missing:
        raise LayoutError(f"roles on no host: {', '.join(missing)}")
