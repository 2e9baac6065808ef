"""The hn CLI's own parts: bot ramps, the autoscaler's local driver, the status tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gevent
import pytest

from hn_autoscale import Decision
from hn_cli._autoscale import ClusterDriver, describe
from hn_cli._bots import parse_ramp, ramp_target
from hn_cli._inspect import autoscale_table


def test_ramps_parse_and_interpolate() -> None:
    ramp = parse_ramp("0:0, 30:300,60:300,90:0")
    assert ramp == [(0.0, 0), (30.0, 300), (60.0, 300), (90.0, 0)]
    assert [ramp_target(ramp, t) for t in (0, 15, 30, 45, 75, 90, 200)] == [0, 150, 300, 300, 150, 0, 0]
    with pytest.raises(ValueError, match="time order"):
        parse_ramp("10:5,5:0")


@dataclass
class _Proc:
    name: str
    module: str


@dataclass
class _Cluster:
    """The part of Cluster the driver uses (Cluster itself runs in e2e/test_autoscale.py)."""

    processes: list[_Proc] = field(default_factory=list)
    removing: set[str] = field(default_factory=set)
    removed: list[str] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for p in self.processes if p.module == f"hn_{kind}" and p.name not in self.removing)

    def add_instance(self, kind: str) -> str:
        name = f"{kind}-{len(self.processes) + 1}"
        self.processes.append(_Proc(name, f"hn_{kind}"))
        return name

    def remove_instance(self, name: str) -> int:
        self.removing.add(name)
        gevent.sleep(0.01)  # draining
        self.processes = [p for p in self.processes if p.name != name]
        self.removing.discard(name)
        self.removed.append(name)
        return 0


def test_the_local_driver_adds_processes_and_drains_the_victims() -> None:
    cluster = _Cluster([_Proc("broker-1", "hn_broker"), _Proc("broker-2", "hn_broker")])
    driver = ClusterDriver(cluster)  # type: ignore[arg-type]
    assert driver.current("broker") == 2 and driver.current("yellow") is None
    driver.scale_out("broker", 4)
    assert [p.name for p in cluster.processes] == ["broker-1", "broker-2", "broker-3", "broker-4"]
    driver.scale_in("broker", 3, ["broker-2", "broker-9"])
    assert driver.current("broker") == 3, "counted out at once, while it drains"
    gevent.joinall(list(driver.draining.values()))
    assert cluster.removed == ["broker-2"] and driver.current("broker") == 3


def test_desired_vs_actual_table() -> None:
    @dataclass
    class Info:
        service_name: str
        state: str

    instances: list[Any] = [Info("broker", "up"), Info("broker", "up"), Info("broker", "draining"), Info("sso", "up")]
    status = {
        "services": {
            "broker": {
                "desired": 2,
                "utilization": 0.1,
                "decisions": {"up": 1, "down": 1},
                "last_decision": "down 3->2",
            },
            "sso": {"desired": 2, "utilization": None, "decisions": {"up": 1, "down": 0}, "last_decision": ""},
        }
    }
    rows = [line.split()[:6] for line in autoscale_table(instances, status).splitlines()]
    assert rows[1] == ["broker", "2", "2", "1", "0.100", "1/1"]
    assert rows[2] == ["sso", "2", "1", "0", "-", "1/0"]
    decision = Decision("broker", "down", 2, 3, 3, 0.1, "idle", ("broker-3",))
    assert describe(decision) == "autoscale: broker down 3 -> 2 (idle, draining broker-3)"


def test_the_latency_plot_is_a_png_with_a_bar_per_message_type(tmp_path: Any) -> None:
    from PIL import Image

    from hn_cli._bots import BotStats, write_plot
    from hn_cli._plot import P50, P99

    stats = BotStats(players=3, logins=3, duels=1)
    stats.latency_ms = {"sso.guest_login": [4.0, 5.0, 30.0], "match.enqueue": [1.0, 2.0], "match.status": []}
    path = str(tmp_path / "latency.png")
    write_plot(stats, path)
    with Image.open(path) as image:
        assert image.format == "PNG"
        rgb = image.convert("RGB")
        # One row per message type that has calls: count the rows holding the p50 colour.
        rows = [y for y in range(rgb.height) if any(rgb.getpixel((x, y)) == P50 for x in range(rgb.width))]
        bands = sum(1 for i, y in enumerate(rows) if i == 0 or y != rows[i - 1] + 1)
        assert bands == 2
        assert any(rgb.getpixel((x, y)) == P99 for x in range(rgb.width) for y in rows)
