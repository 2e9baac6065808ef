"""The registry's rules, on a fake clock: what is news, when an instance is down, forgotten."""

from __future__ import annotations

import pytest

from hn_idl.yellow.ttypes import InstanceInfo, InvalidRegistration
from hn_yellow._registry import DOWN, Registry


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def info(iid: str = "a-1", beat: int = 1, **kw: object) -> InstanceInfo:
    fields: dict[str, object] = dict(
        service_name="a", instance_id=iid, endpoints={"rep": "tcp://h:1"}, version="1", load=0.0, state="up", beat=beat
    )
    fields.update(kw)
    return InstanceInfo(**fields)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(clock: Clock) -> Registry:
    return Registry(server_id="y1", heartbeat_interval=1.0, missed_beats=3, forget_after=60.0, clock=clock)


def test_a_new_instance_is_news_and_a_repeat_heartbeat_is_not(registry: Registry, clock: Clock) -> None:
    first = registry.heartbeat(info(beat=1))
    assert first is not None and first.sequence == 1 and first.server_id == "y1"
    clock.now += 1
    assert registry.heartbeat(info(beat=2)) is None
    assert registry.instances("a")[0].last_seen_ms == 1_001_000


@pytest.mark.parametrize(
    "field, value",
    [("state", "draining"), ("version", "2"), ("load", 0.5), ("endpoints", {"rep": "tcp://h:2"})],
)
def test_a_material_change_is_published_with_the_next_sequence(registry: Registry, field: str, value: object) -> None:
    registry.heartbeat(info(beat=1))
    change = registry.heartbeat(info(beat=2, **{field: value}))
    assert change is not None and change.sequence == 2
    assert getattr(change.instance, field) == value


def test_load_jitter_below_a_hundredth_is_not_news(registry: Registry) -> None:
    registry.heartbeat(info(beat=1, load=0.500))
    assert registry.heartbeat(info(beat=2, load=0.503)) is None


def test_an_older_beat_cannot_overwrite_a_newer_one(registry: Registry) -> None:
    registry.heartbeat(info(beat=5, state="draining"))
    assert registry.heartbeat(info(beat=4, state="up")) is None
    assert registry.instances()[0].state == "draining"


def test_silent_for_three_heartbeats_means_down_then_forgotten(registry: Registry, clock: Clock) -> None:
    registry.heartbeat(info())
    clock.now += 2.9
    assert registry.sweep() == []
    clock.now += 0.2
    (down,) = registry.sweep()
    assert down.instance.state == DOWN and not down.removed and down.sequence == 2
    assert registry.sweep() == []  # said once
    clock.now += 61
    (gone,) = registry.sweep()
    assert gone.removed and gone.sequence == 3
    assert registry.instances() == []


def test_a_down_instance_that_beats_again_is_up_again(registry: Registry, clock: Clock) -> None:
    registry.heartbeat(info(beat=1))
    clock.now += 5
    registry.sweep()
    change = registry.heartbeat(info(beat=2))
    assert change is not None and change.instance.state == "up"


@pytest.mark.parametrize(
    "bad",
    [
        info(service_name=""),
        info(instance_id=""),
        info(state="sleeping"),
        info(endpoints={"ftp": "x"}),
        info(load=-1.0),
    ],
)
def test_invalid_registrations_are_refused_with_a_reason(registry: Registry, bad: InstanceInfo) -> None:
    with pytest.raises(InvalidRegistration) as raised:
        registry.heartbeat(bad)
    assert raised.value.reason
    assert len(registry) == 0 and registry.sequence == 0
