"""The layouts of `hn up --hosts N` (hn_cli._hosts): every role on exactly one host, the parts of
the platform apart, bots alone; and what a caller's own layout must satisfy."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from hn_cli import Cluster, ClusterSpec
from hn_cli._hosts import HOSTS, LayoutError, check_layout, cluster_roles, default_layout, normalize_layout
from hn_process import child_env, time_factor

DATA = ("postgres", "pgpool", "redis", "sentinel", "twemproxy")


def _kind(role: str) -> str:
    return role.split("-", 1)[0]


def _hosts_of(layout: dict[str, list[str]], *kinds: str) -> set[str]:
    return {host for host, roles in layout.items() for role in roles if _kind(role) in kinds}


@pytest.mark.parametrize("n", list(HOSTS))
@pytest.mark.parametrize("counts", [{}, {"yellows": 2, "brokers": 3, "sso": 1, "match": 3}])
def test_every_role_is_on_exactly_one_of_n_hosts(n: int, counts: dict[str, Any]) -> None:
    roles = cluster_roles(**counts)
    layout = default_layout(n, roles)
    assert len(layout) == n
    placed = [role for held in layout.values() for role in held]
    assert sorted(placed) == sorted(roles)
    assert all(layout.values()), f"an empty host: {layout}"


@pytest.mark.parametrize("n", list(HOSTS))
def test_the_parts_of_the_platform_are_on_different_hosts(n: int) -> None:
    layout = default_layout(n, cluster_roles(yellows=2))
    assert layout["bots"] == ["bots"], "bots alone on their host"
    data = _hosts_of(layout, *DATA)
    yellows = _hosts_of(layout, "yellow", "brokerlist")
    services = _hosts_of(layout, "sso", "match")
    brokers = _hosts_of(layout, "broker")
    groups = [data, yellows, services, brokers, {"bots"}]
    for i, group in enumerate(groups):
        for other in groups[i + 1 :]:
            assert not group & other, f"{group} and {other} share a host in {layout}"


def test_larger_layouts_separate_each_part() -> None:
    eleven = default_layout(11)
    one_each = ["postgres-0", "postgres-1", "pgpool", "redis-shard0-0", "redis-shard0-1", "sso-1", "match-1"]
    holders = {role: next(h for h, roles in eleven.items() if role in roles) for role in one_each}
    assert len(set(holders.values())) == len(one_each), holders
    # each broker on a host of its own, the Sentinels spread over three hosts
    assert len(_hosts_of(eleven, "broker")) == 2
    assert len(_hosts_of(eleven, "sentinel")) == 3
    # the Redis masters apart from their replicas from N=9 on
    for n in (9, 10, 11):
        layout = default_layout(n)
        masters = {h for h, roles in layout.items() for r in roles if r.startswith("redis-") and r.endswith("-0")}
        replicas = {h for h, roles in layout.items() for r in roles if r.startswith("redis-") and r.endswith("-1")}
        assert not masters & replicas


@pytest.mark.parametrize("n", [-1, 0, 1, 4, 12, 50])
def test_a_host_count_out_of_range_is_refused(n: int) -> None:
    with pytest.raises(LayoutError, match=f"--hosts {n}: the platform spreads over 5 to 11 hosts"):
        default_layout(n)


def test_a_callers_layout_must_place_every_role_once() -> None:
    roles = cluster_roles()
    good = default_layout(5, roles)
    check_layout(good, roles)
    twice = {**good, "extra": ["pgpool"]}
    with pytest.raises(LayoutError, match=r"more than one host: pgpool \(data, extra\)"):
        check_layout(twice, roles)
    missing = {host: [r for r in held if r != "sso-2"] for host, held in good.items()}
    with pytest.raises(LayoutError, match="on no host: sso-2"):
        check_layout(missing, roles)
    unknown = {**good, "svc": [*good["svc"], "sso-9"]}
    with pytest.raises(LayoutError, match="does not have: sso-9"):
        check_layout(unknown, roles)
    with pytest.raises(LayoutError, match="host name 'Data'"):
        check_layout({"Data" if h == "data" else h: held for h, held in good.items()}, roles)
    assert normalize_layout({"a": ["brokerlist", "yellow-1"]}) == {"a": ["brokerlist-1", "yellow-1"]}


def test_a_cluster_checks_its_layout_before_starting_anything() -> None:
    with pytest.raises(LayoutError, match="5 to 11"):
        Cluster(ClusterSpec(hosts=3))
    with pytest.raises(LayoutError, match="on no host: bots"):
        Cluster(ClusterSpec(layout={"a": [r for r in cluster_roles() if r != "bots"]}))
    with pytest.raises(ValueError, match="hosts=6 but the layout has 1 hosts"):
        Cluster(ClusterSpec(hosts=6, layout={"a": cluster_roles()}))
    cluster = Cluster(ClusterSpec(yellows=2, layout={"a": [*cluster_roles(yellows=2)[:-1]], "b": ["bots"]}))
    assert cluster.network is None and cluster.layout == {}, "nothing made before start()"
    assert "yellow-2" in cluster.roles()


def _hn_up(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hn_cli", "up", *args],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60 * time_factor(),
    )


def test_hn_up_refuses_a_host_count_out_of_range_before_starting_anything() -> None:
    for n in ("4", "12"):
        up = _hn_up("--hosts", n)
        assert up.returncode == 2, up.stderr
        assert up.stderr == f"hn up: --hosts {n}: the platform spreads over 5 to 11 hosts (code USAGE)\n"
        assert "starting" not in up.stdout


def test_hn_up_with_hosts_says_it_needs_root(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hn_cli.__main__ import main

    monkeypatch.setattr("os.geteuid", lambda: 1000)  # this test runs as root on CI: act as a user
    assert main(["up", "--hosts", "5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hn up: --hosts needs root: the hosts are network namespaces"), err
    assert err.endswith("(code NOT_ROOT)\n")


class _Hosts:
    """The part of hn_netns.Network `Cluster.host_of` reads: hosts by name (the real one needs root
    and runs in e2e/test_hosts.py)."""

    def __init__(self, names: list[str]) -> None:
        self.hosts = [type("Host", (), {"name": name, "address": f"10.0.0.{i}"})() for i, name in enumerate(names, 1)]

    def __getitem__(self, name: str) -> object:
        return next(h for h in self.hosts if h.name == name)


def test_instances_added_later_go_round_robin_over_the_hosts_of_their_kind() -> None:
    cluster = Cluster(ClusterSpec(hosts=8))
    layout = default_layout(8, cluster.roles())
    cluster.network = _Hosts(list(layout))  # type: ignore[assignment]
    cluster._placed = {role: host for host, roles in layout.items() for role in roles}
    assert [cluster._host_for(f"broker-{i}").name for i in range(3, 7)] == ["edge-1", "edge-2", "edge-1", "edge-2"]
    assert cluster._host_for("sso-3").name == "sso"
    assert "broker-5" in cluster.layout["edge-1"] and cluster.host_of("broker-6").name == "edge-2"
    with pytest.raises(KeyError, match="no host holds 'nosuch'"):
        cluster.host_of("nosuch")
    with pytest.raises(ValueError, match="runs on loopback"):
        Cluster(ClusterSpec()).host_of("bots")
