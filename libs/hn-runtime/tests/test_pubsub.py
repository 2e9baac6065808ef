"""Pub-sub: events a handler publishes reach subscribers of the topic prefix, in order."""

from __future__ import annotations

import pytest

from hn_idl.echo import Echo  # pants: no-infer-dep (generated service module)
from hn_idl.echo.ttypes import Tick
from hn_runtime import subscribe
from hn_runtime.testing import running, wait_for
from hn_runtime.testing.echo import EchoService


@pytest.fixture
def svc():
    with running(EchoService()) as running_service:
        yield running_service


class Collector:
    def __init__(self) -> None:
        self.events: list[tuple[str, Tick]] = []

    def __call__(self, topic: str, event: Tick) -> None:
        self.events.append((topic, event))

    def on(self, topic: str) -> list[Tick]:
        return [event for t, event in self.events if t == topic]


def connected(svc, sub_topic: str, warm_topic: str):
    """Subscribe, then emit on `warm_topic` until an event arrives (zmq's slow joiner)."""
    collector = Collector()
    sub = subscribe(Echo, sub_topic, collector, endpoints=[svc.endpoints["pub"]])
    echo = svc.proxy()

    def warmed() -> bool:
        echo.emit(topic=warm_topic, count=1)
        return bool(collector.on(warm_topic))

    wait_for(warmed, message="the subscription to connect")
    return collector, sub, echo


def test_events_arrive_in_order_and_only_for_the_topic(svc):
    collector, sub, echo = connected(svc, "scores", "scores.warmup")
    try:
        # Published before the batch on the same socket: were it delivered, it would come first.
        echo.emit(topic="chat", count=5)
        echo.emit(topic="scores.batch", count=100)
        wait_for(lambda: len(collector.on("scores.batch")) == 100, message="100 events")
        batch = collector.on("scores.batch")
        assert [tick.n for tick in batch] == list(range(100))
        assert all(isinstance(tick, Tick) and tick.note == "scores.batch" for tick in batch)
        assert collector.on("chat") == []
        assert {topic for topic, _ in collector.events} <= {"scores.warmup", "scores.batch"}
    finally:
        sub.close()


def test_two_subscribers_each_get_every_event(svc):
    first, sub1, echo = connected(svc, "t", "t.warm")
    second, sub2, _ = connected(svc, "t", "t.warm")
    try:
        echo.emit(topic="t.go", count=30)
        wait_for(lambda: len(first.on("t.go")) == 30 and len(second.on("t.go")) == 30)
        assert [e.n for e in first.on("t.go")] == [e.n for e in second.on("t.go")] == list(range(30))
    finally:
        sub1.close()
        sub2.close()


def test_a_failing_event_handler_does_not_stop_delivery(svc):
    seen: list[int] = []

    def handler(topic: str, event: Tick) -> None:
        if event.n == 0:
            raise RuntimeError("handler bug")
        seen.append(event.n)

    sub = subscribe(Echo, "h", handler, endpoints=[svc.endpoints["pub"]])
    echo = svc.proxy()
    try:
        wait_for(lambda: echo.emit(topic="h", count=2) or seen, message="an event past the failing one")
        echo.emit(topic="h.more", count=3)
        wait_for(lambda: seen[-2:] == [1, 2] and len(seen) >= 3)
    finally:
        sub.close()


def test_publishing_a_struct_the_idl_does_not_declare_is_refused(svc):
    class Tick:  # the IDL's name, not the IDL's class
        thrift_spec = (None, (1, 10, "n", None, None))

    with pytest.raises(TypeError, match="Tick"):
        svc.service.publish("x", Tick())
