"""The fence's decisions, tick by tick, on a clock and probes the test drives (the seams the fence
owns: what it hears from yellow and from the services comes in through them). The broker's side,
with real processes and real cuts, is e2e/test_broker_fence.py."""

from __future__ import annotations

from collections.abc import Iterator

import gevent
import pytest

from hn_broker._fence import YELLOW, Fence
from hn_runtime.discovery import DOWN, UP, ClientRoute, Instance

ROUTES = (ClientRoute("echo", "session"),)
AFTER = 5.0
HOLD = 3.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Yellow:
    """What the directory heard from yellow last (the fence reads `last_heard`)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.heard = clock.now
        self.speaking = True

    def last_heard(self) -> float:
        return self.heard


class World:
    """The fence under test, the instances it can reach, and what it did."""

    def __init__(self, *, yellow: bool = True) -> None:
        self.clock = Clock()
        self.yellow = Yellow(self.clock) if yellow else None
        #: instance id -> does it answer
        self.answers: dict[str, bool] = {}
        self.fences: list[tuple[str, dict[str, float]]] = []
        self.lifts = 0
        self.fence = Fence(
            after_s=AFTER,
            hold_s=HOLD,
            instance_id="broker-1",
            probe=self.probe,
            on_fence=lambda reason, cut: self.fences.append((reason, cut)),
            on_lift=self.lift,
            yellow=self.yellow,
            clock=self.clock,
        )
        self.fence.instances_changed("broker", [Instance("broker", "broker-1", {"client": "x"}, state=UP)])

    def probe(self, service: str, instance_id: str, timeout: float) -> bool:
        return self.answers[instance_id]

    def lift(self) -> bool:
        self.lifts += 1
        return True

    def serve(self, service: str, **answering: bool) -> None:
        self.answers.update(answering)
        instances = [Instance(service, iid, {"rep": f"tcp://{iid}"}, client_routes=ROUTES) for iid in answering]
        self.fence.instances_changed(service, instances)

    def run(self, seconds: float) -> None:
        """Ticks for `seconds` of the fence's time; yellow ticks every second while it speaks."""
        end = self.clock.now + seconds
        while self.clock.now < end:
            self.clock.now += self.fence.tick_s
            if self.yellow is not None and self.yellow.speaking and self.clock.now - self.yellow.heard >= 1.0:
                self.yellow.heard = self.clock.now
            self.fence.tick()
            gevent.sleep(0)  # the probes it spawned answer (at once: the fakes do not block)
            gevent.sleep(0)


@pytest.fixture
def world() -> Iterator[World]:
    yield World()


def test_one_dead_instance_does_not_fence(world: World) -> None:
    world.serve("echo", **{"echo-1": True, "echo-2": False})
    world.run(4 * AFTER)
    assert world.fences == [] and not world.fence.fenced


def test_a_service_none_of_whose_live_instances_answers_fences_after_the_window(world: World) -> None:
    world.serve("echo", **{"echo-1": True, "echo-2": True})
    world.run(1.0)
    world.answers.update({"echo-1": False, "echo-2": False})
    world.run(AFTER - 2 * world.fence.tick_s)
    assert world.fences == [], "not before the window"
    world.run(4 * world.fence.tick_s)
    assert [reason for reason, _ in world.fences] == ["services"]
    assert "echo" in world.fences[0][1] and world.fence.fenced


def test_answered_requests_are_reach_enough_without_probes(world: World) -> None:
    world.serve("echo", **{"echo-1": False})
    for _ in range(int(3 * AFTER / world.fence.tick_s)):
        world.fence.heard.add("echo")  # what the broker's request path does on every answer
        world.run(world.fence.tick_s)
    assert world.fences == []


def test_a_service_with_no_live_instance_anywhere_is_not_this_brokers_cut(world: World) -> None:
    world.serve("echo", **{"echo-1": True})
    world.fence.instances_changed("echo", [Instance("echo", "echo-1", {"rep": "tcp://x"}, state=DOWN)])
    world.run(3 * AFTER)
    assert world.fences == []


def test_silent_yellow_fences_and_the_fence_lifts_after_the_hold(world: World) -> None:
    world.serve("echo", **{"echo-1": True})
    world.run(1.0)
    world.yellow.speaking = False  # type: ignore[union-attr]
    world.run(AFTER + 1.0 + 2 * world.fence.tick_s)  # its tick's one-second gap is not silence
    assert [reason for reason, _ in world.fences] == [YELLOW]
    world.yellow.speaking = True  # type: ignore[union-attr]
    world.run(HOLD - 0.5)
    assert world.lifts == 0 and world.fence.fenced, "held a while first"
    world.run(1.0 + 2 * world.fence.tick_s)
    assert world.lifts == 1 and not world.fence.fenced


def test_yellow_listing_this_broker_down_fences(world: World) -> None:
    world.run(1.0)
    world.fence.instances_changed("broker", [Instance("broker", "broker-1", {}, state=DOWN)])
    world.run(AFTER + 2 * world.fence.tick_s)
    assert [reason for reason, _ in world.fences] == [YELLOW]


def test_a_flapping_link_restarts_the_hold_and_doubles_it_after_a_quick_refence(world: World) -> None:
    world.serve("echo", **{"echo-1": True})
    world.answers["echo-1"] = False
    world.run(AFTER + 1.0)
    assert len(world.fences) == 1
    for _ in range(3):  # back for less than the hold, then cut again: never lifts
        world.answers["echo-1"] = True
        world.run(HOLD / 2)
        world.answers["echo-1"] = False
        world.run(1.0)
    assert world.lifts == 0
    world.answers["echo-1"] = True
    world.run(HOLD + 1.0)
    assert world.lifts == 1
    world.answers["echo-1"] = False
    world.run(AFTER + 1.0)
    assert len(world.fences) == 2
    world.answers["echo-1"] = True
    world.run(HOLD + 1.0)
    assert world.lifts == 1, "a fence soon after a lift holds twice as long"
    world.run(HOLD + 1.0)
    assert world.lifts == 2


def test_a_pause_of_the_broker_itself_is_not_silence(world: World) -> None:
    world.serve("echo", **{"echo-1": True})
    world.run(1.0)
    world.clock.now += 3 * AFTER  # SIGSTOP, SIGCONT: nothing ran, nothing was heard
    world.fence.tick()
    assert world.fences == []


def test_without_yellow_only_the_services_count() -> None:
    world = World(yellow=False)
    world.serve("echo", **{"echo-1": True})
    world.run(3 * AFTER)
    assert world.fences == [] and YELLOW not in world.fence.silences()


def test_zero_disables_the_fence() -> None:
    fence = Fence(after_s=0, hold_s=1, instance_id="b", probe=lambda *a: False, on_fence=print, on_lift=lambda: True)
    fence.start()
    assert not fence.enabled and fence._loop is None
