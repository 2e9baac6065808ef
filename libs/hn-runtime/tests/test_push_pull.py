"""Push-pull: fire-and-forget work reaches the instances' handlers; no instance is an error."""

from __future__ import annotations

import contextlib

import gevent
import pytest

from hn_idl.echo import Echo  # pants: no-infer-dep (generated service module)
from hn_runtime import ServiceUnavailable, get_service
from hn_runtime.discovery import StaticDirectory
from hn_runtime.testing import running, wait_for
from hn_runtime.testing.echo import EchoService

from _runtime_helpers import gated, scaled


def test_pushed_work_is_all_done_in_order():
    with running(EchoService()) as svc:
        push = svc.proxy("PUSH")
        for n in range(200):
            assert push.record(n=n) is None
        echo = svc.proxy()
        wait_for(lambda: len(echo.seen()) == 200, message="200 pushed records")
        assert echo.seen() == list(range(200))


def test_push_with_no_instance_raises():
    push = get_service(Echo, "PUSH", directory=StaticDirectory())
    with pytest.raises(ServiceUnavailable):
        push.record(n=1)


def test_push_to_an_unreachable_instance_raises():
    with running(EchoService()) as gone:
        instance = gone.instance
    push = get_service(Echo, "PUSH", directory=StaticDirectory({"echo": [instance]}))
    with gevent.Timeout(scaled(20), AssertionError("push hung on an unreachable instance")):
        with pytest.raises(ServiceUnavailable):
            push.record(n=1)


def test_pushes_spread_over_instances():
    with contextlib.ExitStack() as stack:
        services = [stack.enter_context(running(EchoService())) for _ in range(2)]
        directory = StaticDirectory({"echo": [s.instance for s in services]})
        push = get_service(Echo, "PUSH", directory=directory)
        for n in range(100):
            push.record(n=n)
        wait_for(lambda: sum(len(s.service.recorded) for s in services) == 100)
        assert all(s.service.recorded for s in services), [len(s.service.recorded) for s in services]
        assert sorted(services[0].service.recorded + services[1].service.recorded) == list(range(100))


def test_pushed_work_waits_while_the_pool_is_full():
    # pool_size=1 and the slot taken: pushed work is parked, not dropped, and runs once it frees.
    with gated(pool_size=1) as svc:
        slow = gevent.spawn(svc.proxy().slow, ms=1)
        wait_for(lambda: svc.server.in_flight == 1)
        push = svc.proxy("PUSH")
        for n in range(20):
            push.record(n=n)
        wait_for(lambda: svc.server._parked_push is not None, message="the first push to be parked")
        assert svc.service.recorded == []
        svc.service.gate.set()
        assert slow.get(timeout=scaled(10)) == 1
        wait_for(lambda: len(svc.service.recorded) == 20)
        assert svc.service.recorded == list(range(20))
