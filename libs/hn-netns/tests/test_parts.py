"""The parts that need no namespace: subnets, link shapes, host names."""

from __future__ import annotations

import ipaddress
import random

import pytest

from hn_netns import Link, Network
from hn_netns._addresses import pick_subnet


def test_the_subnet_avoids_the_machines_networks() -> None:
    taken = [ipaddress.IPv4Network("10.0.0.0/9"), ipaddress.IPv4Network("10.200.0.0/16")]
    rng = random.Random(7)
    for _ in range(200):
        subnet = pick_subnet(taken, rng)
        assert subnet.prefixlen == 24 and subnet.subnet_of(ipaddress.IPv4Network("10.0.0.0/8"))
        assert not any(subnet.overlaps(network) for network in taken)
    with pytest.raises(RuntimeError):
        pick_subnet([ipaddress.IPv4Network("10.0.0.0/8")], rng)


def test_a_link_is_checked_and_changed_field_by_field() -> None:
    assert Link() == Link(delay_ms=2, jitter_ms=1, loss=0.001)
    assert Link().changed(delay_ms=50, jitter_ms=None, loss=None) == Link(50, 1, 0.001)
    assert Link.from_line(Link(3.5, 0.25, 0.01).line()) == Link(3.5, 0.25, 0.01)
    for bad in ({"delay_ms": -1}, {"loss": 1.5}, {"jitter_ms": float("nan")}):
        with pytest.raises(ValueError):
            Link(**bad)


@pytest.mark.parametrize("hosts", [0, ["a", "a"], ["A"], ["a b"], ["x" * 33]])
def test_bad_host_names_are_refused_before_anything_is_made(hosts: object) -> None:
    with pytest.raises(ValueError):
        Network(hosts)  # type: ignore[arg-type]
