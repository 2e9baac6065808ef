"""Pub-sub: events a handler publishes reach subscribers of the topic prefix, in order."""

from __future__ import annotations

import pytest

from hn_idl.echo import Echo  # pants: no-infer-dep (generated service module)
from hn_idl.echo.ttypes import Tick
from hn_runtime import _wire, subscribe
from hn_runtime._server import _send_event
from hn_runtime.testing import running, wait_for
from hn_runtime.testing.echo import EchoService
from hn_runtime.wire import encode, spec_of

from _runtime_helpers import metric


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


def test_events_published_and_received_are_counted_for_prometheus(svc):
    collector, sub, echo = connected(svc, "counted", "counted.warm")
    published = metric("hn_events_published_total", service="echo", topic="counted.go")
    received = metric("hn_events_received_total", service="echo", outcome="ok")
    try:
        echo.emit(topic="counted.go", count=7)
        wait_for(lambda: len(collector.on("counted.go")) == 7, message="7 events")
        assert metric("hn_events_published_total", service="echo", topic="counted.go") == published + 7
        wait_for(
            lambda: metric("hn_events_received_total", service="echo", outcome="ok") >= received + 7,
            message="7 deliveries counted",
        )
    finally:
        sub.close()


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


class HeldEcho(EchoService):
    """Echo whose events wait `publish_delay` for the ones after it."""

    publish_delay = 0.05


def test_held_events_leave_together_in_order():
    with running(HeldEcho()) as svc:
        collector, sub, echo = connected(svc, "held", "held.warm")
        try:
            echo.emit(topic="held.a", count=50)
            echo.emit(topic="held.b", count=50)
            wait_for(lambda: len(collector.on("held.b")) == 50, message="both batches")
            assert [tick.n for tick in collector.on("held.a")] == list(range(50))
            assert [t for t, _ in collector.events if t != "held.warm"] == ["held.a"] * 50 + ["held.b"] * 50
        finally:
            sub.close()


class LongHeldEcho(EchoService):
    """Events held far longer than the test runs: only stopping the server sends them."""

    publish_delay = 3600.0


def test_stopping_the_server_sends_the_events_it_held():
    collector = Collector()
    with running(LongHeldEcho()) as svc:
        sub = subscribe(Echo, "late", collector, endpoints=[svc.endpoints["pub"]])
        pub = svc.server._pub
        warm = (_wire.encode_event_envelope("Tick", None, "0" * 16, "test"), encode(Tick(n=-1), spec_of(Tick)))

        def warmed() -> bool:
            # zmq's slow joiner, past the hold: an event put on the socket directly.
            _send_event(pub, b"late.warm", *warm)
            return bool(collector.on("late.warm"))

        wait_for(warmed, message="the subscription to connect")
        svc.proxy().emit(topic="late", count=3)
    # The server stopped an hour before its hold ended: closing it sent what it held.
    try:
        wait_for(lambda: len(collector.on("late")) == 3, message="the held events")
        assert [tick.n for tick in collector.on("late")] == [0, 1, 2]
    finally:
        sub.close()


def test_publishing_a_struct_the_idl_does_not_declare_is_refused(svc):
    class Tick:  # the IDL's name, not the IDL's class
        thrift_spec = (None, (1, 10, "n", None, None))

    with pytest.raises(TypeError, match="Tick"):
        svc.service.publish("x", Tick())
