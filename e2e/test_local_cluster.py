"""The main job, end to end: `hn up` in a subprocess, bots play on it, `hn down` leaves nothing.

Everything here goes through the CLI as a studio engineer would use it: `hn up`, `hn status`,
`hn call`, `hn bots`, `hn down`, and the yellow status page in a real headless Chromium.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from hn_cli import read_cluster
from hn_datatier import PgPool, redis_from_url
from hn_runtime.testing import time_factor

from _hn import HnUp, hn, hn_up, run_processes

#: 200 bots is the main job's bar (issue 7); 1,000 queueing at once is match's (issue 6).
BOTS = 1000


def _accepts(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def _addresses(cluster: dict[str, Any], brokers: list[str]) -> list[str]:
    tier = cluster["data_tier"]
    found = [
        cluster["yellow"].removeprefix("tcp://"),
        cluster["yellow_status_page"].removeprefix("http://").rstrip("/"),
        cluster["brokerlist"].removeprefix("http://").rstrip("/"),
        tier["pgpool"]["address"],
        tier["twemproxy"]["address"],
        *brokers,
        *(n["address"] for n in tier["postgres"]),
        *(n["address"] for s in tier["redis"] for n in s["nodes"]),
        *(s["address"] for s in tier["sentinels"]),
    ]
    return found


@pytest.fixture
def platform_up() -> Iterator[HnUp]:
    with hn_up("--bots", "0") as up:
        yield up


@pytest.mark.integration
def test_hn_up_serves_bots_until_hn_down_leaves_nothing(platform_up: HnUp) -> None:
    run_dir, up, out = platform_up.run_dir, platform_up.process, platform_up.out
    cluster = read_cluster(str(run_dir))
    names = list(cluster["processes"])
    assert sorted(names) == sorted(
        ["yellow-1", "sso-1", "sso-2", "match-1", "match-2", "broker-1", "broker-2", "brokerlist-1"]
    ), names

    status = hn(run_dir, "status")
    assert status.returncode == 0, status.stderr
    for name in names:
        if not name.startswith("yellow"):
            assert any(line.split()[1:3] == [name, "up"] for line in status.stdout.splitlines()[1:]), status.stdout

    health = hn(run_dir, "call", "sso", "health")
    assert health.returncode == 0, health.stderr
    assert json.loads(health.stdout)["service_name"] == "sso"

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed (scripts/install-system-packages.sh installs it)"
    page = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", cluster["yellow_status_page"]],
        capture_output=True,
        text=True,
        timeout=60 * time_factor(),
    )
    for name in names:
        if not name.startswith("yellow"):
            assert name in page.stdout, f"{name} missing from the status page:\n{page.stdout[:2000]}"

    with urllib.request.urlopen(cluster["brokerlist"], timeout=10) as response:
        broker_addresses = list(json.load(response)["brokerList"])
    assert len(broker_addresses) == 2

    bots = hn(
        run_dir,
        "bots",
        cluster["brokerlist"],
        "--players",
        str(BOTS),
        "--rate",
        "50",
        "--duration",
        "300",
        "--duels",
        "1",
        timeout=420,
    )
    summary = bots.stdout[-3000:]
    assert bots.returncode == 0, f"{summary}\n{bots.stderr[-3000:]}"
    assert f"players who logged in {BOTS}, who finished a duel {BOTS}" in summary, summary
    redis = redis_from_url(cluster["env"]["HN_REDIS_URL"])
    assert redis.zcard("hn:match:{duel}:queue") == 0, "bots that stopped left the queue"
    pool = PgPool(cluster["env"]["HN_PG_DSN"], size=1)
    try:
        players, rating_sum, duels = pool.fetchone(
            "SELECT count(*), sum(rating), sum(duels) FROM match_ratings", primary=True
        )
        (results,) = pool.fetchone("SELECT count(*) FROM match_results", primary=True)
    finally:
        pool.close()
    assert players >= BOTS and rating_sum == 1200 * players, "Elo moves points between players, never makes any"
    assert duels == 2 * results, "every stored result rated both players once"

    down = hn(run_dir, "down", timeout=180)
    assert down.returncode == 0, down.stdout + down.stderr
    assert up.wait(60 * time_factor()) == 0, out.read_text()[-3000:]
    assert "nothing left running" in out.read_text()
    assert run_processes(cluster["run_dir"]) == []
    still = [a for a in _addresses(cluster, broker_addresses) if _accepts(a)]
    assert still == [], f"ports still open after hn down: {still}"
