"""Placement's parts that need no cluster: roles, places, the client network, ports off-loopback."""

from __future__ import annotations

import pytest

from hn_datatier.local import DataTierConfig, Place, PortPool
from hn_datatier.local._place import client_cidr


def _on(host: str) -> list[str]:
    return ["ip", "netns", "exec", host]


def test_the_roles_of_a_tier_and_the_place_of_each() -> None:
    config = DataTierConfig(shards=2, sentinels=3)
    assert config.roles() == [
        "postgres-0", "postgres-1", "pgpool",
        "redis-shard0-0", "redis-shard0-1", "redis-shard1-0", "redis-shard1-1",
        "sentinel-0", "sentinel-1", "sentinel-2", "twemproxy",
    ]  # fmt: skip
    assert DataTierConfig(redis=False).roles() == ["postgres-0", "postgres-1", "pgpool"]
    assert config.place("pgpool") == Place() and config.hba_cidr() == "127.0.0.1/32"

    def placement(role: str) -> Place:
        return Place("10.1.2.3" if role.startswith("postgres") else "10.1.2.40", lambda argv: [*_on(role), *argv])

    placed = DataTierConfig(placement=placement)
    assert placed.place("postgres-1").address == "10.1.2.3"
    assert placed.hba_cidr() == "10.1.2.0/24"
    assert DataTierConfig(placement=placement, client_cidr="10.1.0.0/16").hba_cidr() == "10.1.0.0/16"
    with pytest.raises(TypeError, match="not a Place"):
        DataTierConfig(placement=lambda role: "10.1.2.3").place("pgpool")  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError):
        Place("db.example")


def test_a_wrapped_command_switches_user_inside_the_wrap() -> None:
    assert Place().command(["postgres"], user=(5, 6)) == (["postgres"], (5, 6))  # the runner switches
    place = Place("10.1.2.3", lambda argv: [*_on("db"), *argv])
    assert place.wrapped and not Place().wrapped and not place.loopback
    assert place.command(["redis-server"]) == ([*_on("db"), "redis-server"], None)
    argv, user = place.command(["postgres", "-D", "x"], user=(5, 6), deathsig="QUIT")
    assert user is None
    assert argv == [
        *_on("db"), "setpriv", "--reuid=5", "--regid=6", "--clear-groups", "--pdeathsig=QUIT", "--", "postgres", "-D", "x"
    ]  # fmt: skip


def test_the_client_network_holds_every_placed_address() -> None:
    assert client_cidr([]) == "127.0.0.1/32"
    assert client_cidr([Place(), Place("127.0.0.1")]) == "127.0.0.1/32"
    assert client_cidr([Place("10.9.8.7"), Place("10.9.8.200")]) == "10.9.8.0/24"
    assert client_cidr([Place("10.9.8.7"), Place("10.9.9.1")]) == "10.9.8.0/23"


def test_ports_for_another_host_are_reserved_across_processes_but_not_probed() -> None:
    pool, other = PortPool(), PortPool()
    try:
        # Another host's namespace cannot be probed from here (and is fresh): only the reservation counts.
        ports = {pool.allocate("10.1.2.3") for _ in range(50)}
        assert len(ports) == 50 and set(pool.reserved) == ports
        assert not ports & {other.allocate("10.1.2.4") for _ in range(200)}  # the flocks keep them apart
    finally:
        pool.release()
        other.release()
    assert not pool.reserved
