"""Push-pull: fire-and-forget work reaches the instances' handlers; no instance is an error."""

from __future__ import annotations

import contextlib
import socket

import gevent
import pytest

from hn_idl.echo import Echo  # pants: no-infer-dep (generated service module)
from hn_runtime import ServiceUnavailable, get_service
from hn_runtime.discovery import Instance, StaticDirectory
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
    # A port held bound and never listened on: connections are refused, and no other process of
    # a parallel test run can take it (a stopped server's freed port could be reused meanwhile).
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        endpoint = f"tcp://127.0.0.1:{held.getsockname()[1]}"
        unreachable = Instance("echo", "echo-unreachable", {"pull": endpoint})
        push = get_service(Echo, "PUSH", directory=StaticDirectory({"echo": [unreachable]}))
        with gevent.Timeout(scaled(20), AssertionError("push hung on an unreachable instance")):
            with pytest.raises(ServiceUnavailable):
                push.record(n=1)


def test_pushes_spread_over_instances():
    with contextlib.ExitStack() as stack:
        services = [stack.enter_context(running(EchoService())) for _ in range(2)]
        directory = StaticDirectory({"echo": [s.instance for s in services]})
        push = get_service(Echo, "PUSH", directory=directory)
        sent = 0

        def push_one_more() -> bool:
            # A push goes to a connected instance: until both connections are up (a busy
            # machine), pushes all go to the first, so keep pushing until both got work.
            nonlocal sent
            push.record(n=sent)
            sent += 1
            return sent >= 100 and all(s.service.recorded for s in services)

        wait_for(push_one_more, message="pushes reaching both instances")
        wait_for(lambda: sum(len(s.service.recorded) for s in services) == sent, message="every push handled")
        assert sorted(services[0].service.recorded + services[1].service.recorded) == list(range(sent))


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
