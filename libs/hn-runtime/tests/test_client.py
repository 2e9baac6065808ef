"""Client behaviour against in-process servers: timeouts, no instance, balancing, retries."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import gevent
import pytest

from hn_idl.echo import Echo  # pants: no-infer-dep (generated service module)
from hn_runtime import CallTimeout, Draining, ServiceUnavailable, _proxy, get_service
from hn_runtime.client import close_all, set_default_timeout
from hn_runtime.discovery import Instance, StaticDirectory
from hn_runtime.testing import running, wait_for
from hn_runtime.testing.echo import EchoService
from hn_runtime.wire import load_idl

from _runtime_helpers import (
    DeadlineEcho,
    all_connected,
    args_body,
    client_retries,
    gated,
    join_all,
    metric,
    pending_calls,
    scaled,
    served,
)


@contextlib.contextmanager
def many(count: int, *, gate: bool = False, **config):
    """`count` in-process Echo instances (GatedEcho ones with `gate`: opened at the end)."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(gated(**config) if gate else running(EchoService(), **config)) for _ in range(count)]


def directory_of(*services) -> StaticDirectory:
    return StaticDirectory({"echo": [svc.instance for svc in services]})


def test_call_timeout_when_the_server_is_slower():
    with gated() as svc:
        echo = svc.proxy().with_options(timeout=scaled(0.3))
        late_before = metric("hn_protocol_errors_total", service="echo", reason="late_reply")
        with pytest.raises(CallTimeout) as info:
            echo.slow(ms=1)
        assert info.value.method == "slow"
        assert info.value.trace_id
        # The handler still runs; its reply arrives late and is counted, not delivered to anyone.
        svc.service.gate.set()
        wait_for(lambda: metric("hn_protocol_errors_total", service="echo", reason="late_reply") == late_before + 1)
        assert echo.echo(payload=b"after") == b"after"


def test_with_options_keeps_the_original_proxy_unchanged():
    with gated() as svc:
        patient = svc.proxy()
        hasty = patient.with_options(timeout=scaled(0.2))
        with pytest.raises(CallTimeout):
            hasty.slow(ms=1)
        call = gevent.spawn(patient.slow, ms=2)
        wait_for(lambda: svc.server.in_flight == 2)
        svc.service.gate.set()
        assert call.get(timeout=scaled(10)) == 2


def test_a_proxy_given_no_timeout_follows_the_process_default():
    before = _proxy._default_timeout
    with running(DeadlineEcho()) as svc:
        echo = svc.proxy()  # made before the default changes: it is read at each call
        assert 0 < float(echo.whoami()) <= before
        set_default_timeout(123.0)
        try:
            assert 100 < float(echo.whoami()) <= 123
            assert float(echo.with_options(timeout=7.0).whoami()) <= 7
        finally:
            set_default_timeout(before)


def test_no_instance_is_service_unavailable_at_once():
    echo = get_service(Echo, directory=StaticDirectory(), timeout=3600)
    push = get_service(Echo, "PUSH", directory=StaticDirectory())
    # The call timeout is an hour: anything but an immediate failure trips the guard.
    with gevent.Timeout(scaled(10), AssertionError("waited for an instance instead of failing")):
        with pytest.raises(ServiceUnavailable, match="no live instance"):
            echo.echo(payload=b"x")
        with pytest.raises(ServiceUnavailable):
            push.record(n=1)


def test_unreachable_instance_is_service_unavailable_not_a_hang():
    # An instance the directory lists but nothing listens at (a port of a closed server).
    with running(EchoService()) as gone:
        instance = gone.instance
    echo = get_service(Echo, directory=StaticDirectory({"echo": [instance]}), timeout=3600)
    with gevent.Timeout(scaled(20), AssertionError("hung on an unreachable instance")):
        with pytest.raises(ServiceUnavailable, match="cannot connect"):
            echo.echo(payload=b"x")


def test_calls_are_balanced_over_instances():
    with many(3, gate=True) as services:
        echo = get_service(Echo, directory=directory_of(*services))
        wait_for(lambda: all_connected(echo), message="connections to all three instances")
        calls = [gevent.spawn(echo.slow, ms=i) for i in range(9)]
        wait_for(lambda: sum(s.server.in_flight for s in services) == 9, message="nine calls in flight")
        # Least outstanding requests: three calls each, none left idle.
        assert [s.server.in_flight for s in services] == [3, 3, 3]
        for s in services:
            s.service.gate.set()
        join_all(calls)
        assert sorted(c.value for c in calls) == list(range(9))
        # Sequential calls spread too (ties rotate instead of piling on the first instance).
        seen = {echo.health().instance for _ in range(30)}
        assert seen == {s.server.instance for s in services}


def test_overloaded_instance_is_skipped_for_another():
    with many(2, gate=True, pool_size=1) as (busy, idle):
        # Another client fills the busy instance's only slot: this proxy sees no outstanding
        # call on either instance, so its picks still land on the busy one.
        first = gevent.spawn(busy.proxy().slow, ms=1)
        wait_for(lambda: busy.server.in_flight == 1)
        echo = get_service(Echo, directory=directory_of(busy, idle))
        wait_for(lambda: all_connected(echo))
        before = served("bump", "overloaded")
        # Not idempotent, but OVERLOADED guarantees it did not run: safe on the other instance.
        for _ in range(10):
            assert echo.health().instance == idle.server.instance
            echo.bump()
        assert busy.service.bumps == 0
        assert idle.service.bumps == 10
        assert served("bump", "overloaded") > before, "no call ever met the busy instance"
        busy.service.gate.set()
        assert first.get(timeout=scaled(10)) == 1


def test_draining_instance_refusals_are_retried_elsewhere():
    with many(2) as (a, b):
        echo = get_service(Echo, directory=directory_of(a, b))
        wait_for(lambda: all_connected(echo))
        before = served("bump", "draining")
        retries_before = client_retries("bump", "draining")
        assert a.server.drain(scaled(5))
        for _ in range(20):
            assert echo.health().instance == b.server.instance
            echo.bump()
        assert a.service.bumps == 0
        assert b.service.bumps == 20
        assert served("bump", "draining") > before, "no call ever met the draining instance"
        assert client_retries("bump", "draining") == served("bump", "draining") - before + retries_before


def test_single_draining_instance_raises_draining():
    with running(EchoService()) as svc:
        svc.server.drain(scaled(5))
        with pytest.raises(Draining) as info:
            svc.proxy().echo(payload=b"x")
        assert info.value.not_executed


def test_directory_changes_reach_the_proxy():
    with many(2) as (a, b):
        directory = StaticDirectory({"echo": [a.instance]})
        echo = get_service(Echo, directory=directory)
        assert echo.health().instance == a.server.instance
        directory.set("echo", [b.instance])
        assert {echo.health().instance for _ in range(5)} == {b.server.instance}
        # A draining entry takes no new calls.
        directory.set("echo", [Instance("echo", b.server.instance, dict(b.endpoints), state="draining")])
        with pytest.raises(ServiceUnavailable):
            echo.health()


def test_a_draining_instance_takes_the_calls_pinned_to_it_and_no_others():
    """A draining instance still holds state (a duel room): a call pinned to it (a broker's bound
    route) reaches it; a load-balanced one goes to an instance taking new work."""
    with many(2) as (a, b):
        directory = StaticDirectory({"echo": [a.instance, b.instance]})
        echo = get_service(Echo, directory=directory)
        wait_for(lambda: all_connected(echo))
        directory.set("echo", [replace(a.instance, state="draining"), b.instance])
        bump = load_idl(Echo).methods["bump"]
        echo.forward(bump, args_body("bump"), instance_id=a.server.instance)
        for _ in range(10):
            echo.bump()
        assert (a.service.bumps, b.service.bumps) == (1, 10)
        directory.set("echo", [b.instance])  # gone: a pinned call has nowhere to go
        with pytest.raises(ServiceUnavailable, match="is gone"):
            echo.forward(bump, args_body("bump"), instance_id=a.server.instance)


def test_closing_connections_never_wedges_the_zmq_context():
    """Regression: closing a connection's monitor reader before the monitored socket stopped
    left libzmq's I/O thread blocked on a monitor event, and every socket of the process with it."""
    for i in range(40):
        with running(EchoService()) as svc:
            echo = svc.proxy().with_options(timeout=scaled(10))
            assert echo.echo(payload=b"%d" % i) == b"%d" % i
        close_all()


def test_many_pending_calls_are_answered_by_request_id():
    with gated() as svc:
        echo = svc.proxy()
        calls = [gevent.spawn(echo.slow, ms=i) for i in range(50)]
        wait_for(lambda: sum(pending_calls(echo).values()) == 50)
        svc.service.gate.set()
        join_all(calls)
        assert [c.value for c in calls] == list(range(50))
