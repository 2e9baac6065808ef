"""`hn up --hosts 5` end to end: the platform spread over five hosts (network namespaces joined
by links with delay and loss, hn-netns), as a user runs it, then `hn down` leaves nothing.

The test process stays on the machine, which has no route to the hosts (by design): it looks
inside them with `ip netns exec` (what `hn up` prints for a user) — `ss` for what each host
listens on, `hn status` and `hn bots` run on the bots host. Needs root: it fails without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hn_cli import read_cluster
from hn_netns import leftovers
from hn_process import child_env
from hn_runtime.testing import time_factor

from _hn import hn, hn_up, run_processes

#: bots that must each finish a duel, every call crossing two links and more
BOTS = 40


def _in_host(namespace: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", namespace, *argv],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout * time_factor(),
    )


def _hn_in_host(namespace: str, run_dir: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return _in_host(namespace, sys.executable, "-m", "hn_cli", "--run-dir", str(run_dir), *args, timeout=timeout)


def _listening(namespace: str) -> set[str]:
    """The addresses TCP sockets listen on inside a host (`ss`), without their ports."""
    ss = _in_host(namespace, "ss", "-Hltn")
    assert ss.returncode == 0, ss.stderr
    return {line.split()[3].rsplit(":", 1)[0] for line in ss.stdout.splitlines() if line.strip()}


def _kind(role: str) -> str:
    return role.split("-", 1)[0]


@pytest.mark.integration
def test_hn_up_over_five_hosts_plays_across_links_and_leaves_nothing() -> None:
    assert os.geteuid() == 0, "hn up --hosts needs root (network namespaces): run this tier as root"
    with hn_up("--hosts", "5", "--bots", "0") as up:
        cluster: dict[str, Any] = read_cluster(str(up.run_dir))
        hosts, network = cluster["hosts"], cluster["network"]
        printed = up.out.read_text()

        # Five hosts, the parts of the platform apart, bots alone; and hn up said which holds what.
        assert len(hosts) == 5
        assert hosts["bots"]["roles"] == ["bots"]
        where = {role: name for name, host in hosts.items() for role in host["roles"]}
        parts = [
            {where[r] for r in where if _kind(r) in ("postgres", "pgpool", "redis", "sentinel", "twemproxy")},
            {where[r] for r in where if _kind(r) in ("yellow", "brokerlist")},
            {where[r] for r in where if _kind(r) in ("sso", "match")},
            {where[r] for r in where if _kind(r) == "broker"},
        ]
        assert all(len(part) == 1 for part in parts) and len(set().union(*parts)) == 4, hosts
        for name, host in hosts.items():
            assert any(
                line.split()[:2] == [name, host["address"]]
                and line.split()[2 : 2 + len(host["roles"])] == host["roles"]
                for line in printed.splitlines()
            ), f"hn up did not print host {name}:\n{printed}"
        assert f"ip netns exec {network['bots_namespace']}" in printed

        # Every address the platform gave out is a host's, never the loopback.
        assert cluster["yellow"].removeprefix("tcp://").rsplit(":", 1)[0] == hosts[where["yellow-1"]]["address"]
        assert cluster["brokerlist"].startswith(f"http://{hosts[where['brokerlist-1']]['address']}:")
        assert "127.0.0.1" not in json.dumps(cluster["env"]), cluster["env"]

        # Each host listens on its own address only (no 127.0.0.1, no wildcard): the services
        # and the data tier's servers alike; the bots host on none.
        for name, host in hosts.items():
            expected = set() if name == "bots" else {host["address"]}
            assert _listening(host["namespace"]) == expected, name
        # From the machine there is no route: hn says where to run it instead of timing out.
        outside = hn(up.run_dir, "status")
        assert (
            outside.returncode == 2 and f"sudo ip netns exec {network['bots_namespace']} hn" in outside.stderr
        ), outside.stderr
        # Every instance registered in yellow advertises its host's address.
        status = _hn_in_host(network["bots_namespace"], up.run_dir, "status", "--json")
        assert status.returncode == 0, status.stderr
        instances = json.loads(status.stdout)["instances"]
        registered = {i["instance_id"]: i for i in instances}
        for name in cluster["processes"]:
            if name.startswith("yellow"):
                continue
            assert registered[name]["state"] == "up", registered.get(name)
            own = hosts[where[name]]["address"]
            endpoints = registered[name]["endpoints"]
            assert endpoints and all(f"//{own}:" in e or e.startswith(f"{own}:") for e in endpoints.values()), (
                name,
                endpoints,
            )

        # Bots on the bots host play through brokerlist and brokers on other hosts: every one
        # logs in and finishes a duel, with no error.
        bots = _hn_in_host(
            network["bots_namespace"],
            up.run_dir,
            "bots",
            cluster["brokerlist"],
            "--players",
            str(BOTS),
            "--rate",
            "20",
            "--duration",
            "300",
            "--duels",
            "1",
            timeout=420,
        )
        summary = bots.stdout[-3000:]
        assert bots.returncode == 0, f"{summary}\n{bots.stderr[-3000:]}"
        assert f"players who logged in {BOTS}, who finished a duel {BOTS}" in summary, summary

        down = hn(up.run_dir, "down", timeout=180)
        assert down.returncode == 0, down.stdout + down.stderr
        assert up.process.wait(60 * time_factor()) == 0, up.out.read_text()[-3000:]
        assert "nothing left running" in up.out.read_text()

    left = leftovers(network["prefix"], network["namespace_ids"])
    assert not left, f"left behind: {left}"
    assert run_processes(cluster["run_dir"]) == []
