"""Auto-scaling on the local cluster: `hn up --autoscale`, bots ramp load up and down.

The brokers' capacity is set small (HN_BROKER_CAPACITY=100), so a few hundred bots are a real
load; sso is sized by its guest-login rate, scraped from its /metrics. The test checks that the
broker and sso counts follow the ramp within bounded time, that no player call fails while
instances are drained (scale-in happens with players still connected to the drained brokers),
and that the autoscaler does not flap: per service, every scale-up comes before every scale-in,
and each direction moves at most as far as the ramp requires.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest

from hn_cli import parse_ramp, read_cluster, run_ramp, use_cluster
from hn_runtime import HNError, get_service
from hn_runtime.testing import time_factor, wait_for

from _hn import hn, hn_up

_RULE = {
    "target": 0.4,
    "scale_up_above": 0.6,
    "scale_down_below": 0.2,
    "up_window_s": 2,
    "down_window_s": 5,
    "up_cooldown_s": 5,
    "down_cooldown_s": 8,
    "max_step_up": 2,
    "max_step_down": 1,
}
CONFIG = {
    "interval_s": 1.0,
    "services": {
        "broker": {"rule": {"min_instances": 2, "max_instances": 4, **_RULE}},
        "sso": {
            "rule": {"min_instances": 1, "max_instances": 3, **_RULE},
            "signals": [
                {"kind": "yellow_load"},
                {
                    "kind": "scraped_rate",
                    "metric": "hn_requests_total",
                    "labels": {"service": "sso", "method": "guest_login"},
                    "per_instance": 3,
                    "window_s": 4,
                },
            ],
        },
    },
}
#: seconds:bots. Up to 240 (2.4 brokers' worth at capacity 100: slow enough that new brokers
#: serve before the first two fill up), hold, down to a plateau of 40 (the brokers scale in while
#: those players stay connected), then everyone leaves.
RAMP = "0:0,40:240,50:240,62:40,82:40,85:0"
PEAK_ENDS, PLATEAU_ENDS = 50.0, 82.0


@pytest.fixture
def autoscaled() -> Iterator[tuple[Path, subprocess.Popen[str], Path]]:
    args = ("--bots", "0", "--sso", "1", "--autoscale", json.dumps(CONFIG), "--env", "HN_BROKER_CAPACITY=100")
    with hn_up(*args, ready="autoscaler ") as up:
        yield up.run_dir, up.process, up.out


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        body = response.read()
    return json.loads(body) if url.endswith("/status") else body.decode()


@pytest.mark.integration
def test_broker_and_sso_counts_follow_a_bot_ramp(autoscaled: tuple[Path, subprocess.Popen[str], Path]) -> None:
    run_dir, up, out = autoscaled
    cluster = read_cluster(str(run_dir))
    status_url = re.search(r"autoscaler\s+(http://\S+/status)", out.read_text()).group(1)  # type: ignore[union-attr]
    address, yellow_key = use_cluster(cluster)  # this test process acts as the run's "hn" identity
    yellow = get_service("yellow", endpoints=[address], timeout=2, curve_server_key=yellow_key)

    # Live counts as yellow sees them, twice a second, for the whole run.
    counts: list[tuple[float, dict[str, int]]] = []
    started = time.monotonic()

    def watch() -> None:
        while True:
            try:
                found = yellow.find("")
            except HNError:
                found = []
            now: dict[str, int] = {"broker": 0, "sso": 0}
            for i in found:
                if i.state == "up" and i.service_name in now:
                    now[i.service_name] += 1
            if found:
                counts.append((time.monotonic() - started, now))
            gevent.sleep(0.5)

    watcher = gevent.spawn(watch)
    try:
        stats = run_ramp(cluster["brokerlist"], parse_ramp(RAMP), out=io.StringIO())
        ramp_over = time.monotonic() - started
        # Back to the minimum once the players are gone.
        wait_for(
            lambda: bool(counts) and counts[-1][1] == {"broker": 2, "sso": 1},
            timeout=90,
            message="broker and sso counts back to their minimum after the ramp",
        )
    finally:
        watcher.kill()
    settled = time.monotonic() - started

    # No player call failed, while instances were added and drained under them.
    assert dict(stats.errors) == {}, stats.summary()
    assert len(stats.logged_in) == stats.players and stats.left == stats.players, stats.summary()
    assert stats.duels > 0
    assert stats.resumes > 0, "the drained brokers' players moved to the others"

    # The counts followed the ramp within bounded time: more brokers and sso during the peak...
    peak = [c for t, c in counts if t <= PEAK_ENDS + 5]
    assert max(c["broker"] for c in peak) >= 3, counts
    assert max(c["sso"] for c in peak) >= 2, counts
    first_more_brokers = next(t for t, c in counts if c["broker"] >= 3)
    crossed = next(t for t, n in stats.timeline if n > 0.6 * 2 * 100)  # utilization over the band
    # ...and fewer again before the players are all gone (scale-in with players connected).
    fewer = [t for t, c in counts if t > PEAK_ENDS and c["broker"] < max(x["broker"] for x in peak)]
    assert fewer and fewer[0] <= PLATEAU_ENDS + 5, counts

    # No flapping: per service, every scale-up before every scale-in, each bounded by the ramp.
    status = _get(status_url)
    decisions = status["decisions"]
    for service, rule in (("broker", CONFIG["services"]["broker"]["rule"]), ("sso", CONFIG["services"]["sso"]["rule"])):
        mine = [d for d in decisions if d["service"] == service]
        directions = "".join("u" if d["direction"] == "up" else "d" for d in mine)
        assert re.fullmatch(r"u+d+", directions), (service, mine)
        span = rule["max_instances"] - rule["min_instances"]
        assert directions.count("u") <= span and directions.count("d") <= span, (service, mine)
        assert status["services"][service]["desired"] == rule["min_instances"]
        metrics = _get(status_url.replace("/status", "/metrics"))
        for direction in ("up", "down"):
            line = f'hn_autoscale_decisions_total{{direction="{direction}",service="{service}"}} '
            assert f"{line}{float(directions.count(direction[0]))}" in metrics, metrics

    # `hn status` shows desired vs actual per service.
    shown = hn(run_dir, "status")
    assert shown.returncode == 0, shown.stderr
    rows = {line.split()[0]: line.split() for line in shown.stdout.split("autoscaler\n", 1)[1].splitlines()[1:]}
    assert rows["broker"][1:3] == ["2", "2"] and rows["sso"][1:3] == ["1", "1"], shown.stdout

    # Figures: how long the counts took to follow (printed; the assertions above are the deadlines).
    under = next(t for t, n in stats.timeline if t > PEAK_ENDS and n < 0.2 * 4 * 100)  # under the band at 4
    back = next(t for t, c in counts if t > PEAK_ENDS and c["broker"] == 2)
    sso_up = next(t for t, c in counts if c["sso"] >= 2)
    print(
        f"\nfigures: brokers >= 3 {first_more_brokers - crossed:.1f}s after utilization crossed the band "
        f"(t={crossed:.1f}s); sso >= 2 at t={sso_up:.1f}s; brokers back to 2 {back - under:.1f}s after "
        f"utilization fell under the band (t={under:.1f}s; first drain t={fewer[0]:.1f}s); "
        f"all at minimum {max(0.0, settled - ramp_over):.1f}s after the last player left; "
        f"decisions {[(d['service'], d['direction'], d['previous'], d['desired']) for d in decisions]}; "
        f"bots {stats.players}, duels {stats.duels}, aborted {dict(stats.aborted_why)}, "
        f"sessions resumed {stats.resumes}, calls sent again {stats.resent}"
    )
    down = hn(run_dir, "down", timeout=180)
    assert down.returncode == 0, down.stdout + down.stderr
    assert up.wait(60 * time_factor()) == 0, out.read_text()[-3000:]
