"""The `up` CLI, and what happens when the process that started the tier dies without cleaning up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from hn_process import child_env, no_process_left, port_is_free, processes, time_factor, wait_until

pytestmark = pytest.mark.integration


def _children_of(pid: int) -> list[int]:
    """The processes `pid` started (its direct children)."""
    return [p.pid for p in processes() if p.ppid == pid]


def test_up_cli_then_kill_9_leaves_nothing_behind() -> None:
    cli = subprocess.Popen(
        [sys.executable, "-m", "hn_datatier.local", "up", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
        text=True,
    )
    try:
        assert cli.stdout is not None
        line = cli.stdout.readline()  # the tier is up once it prints
        assert line, cli.stderr.read() if cli.stderr else ""
        info = json.loads(line)
        assert set(info["env"]) >= {"HN_PG_DSN", "HN_REDIS_URL"}
        pids = [n["pid"] for n in info["postgres"]] + [info["pgpool"]["pid"], info["agent"]["pid"]]
        pids += [n["pid"] for s in info["redis"] for n in s["nodes"]] + [s["pid"] for s in info["sentinels"]]
        # pgpool's and the agent's own children (pool workers, nutcracker) must go too.
        pids += _children_of(info["pgpool"]["pid"]) + _children_of(info["agent"]["pid"])
        ports = [
            int(v.rsplit(":", 1)[1].split("/")[0]) for k, v in info["env"].items() if k in ("HN_PGPOOL", "HN_TWEMPROXY")
        ]
        assert all(not port_is_free(p) for p in ports)
        cli.send_signal(signal.SIGKILL)
        cli.wait()
        wait_until(
            lambda: no_process_left(pids),
            timeout=15,
            message="every tier process to die with the launcher",
            scaled=True,
        )
        wait_until(lambda: not os.path.exists(info["scratch"]), timeout=10, message="scratch removed", scaled=True)
        assert all(port_is_free(p) for p in ports)
    finally:
        if cli.poll() is None:
            cli.kill()
        cli.wait()


def test_up_cli_stops_cleanly_on_sigint() -> None:
    cli = subprocess.Popen(
        [sys.executable, "-m", "hn_datatier.local", "up", "--json", "--no-postgres", "--shards", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
        text=True,
    )
    try:
        assert cli.stdout is not None
        info = json.loads(cli.stdout.readline())
        pids = [info["agent"]["pid"]] + [s["pid"] for s in info["sentinels"]]
        cli.send_signal(signal.SIGINT)
        assert cli.wait(timeout=30 * time_factor()) == 0
        assert no_process_left(pids)
        assert not os.path.exists(info["scratch"])
    finally:
        if cli.poll() is None:
            cli.kill()
        cli.wait()
