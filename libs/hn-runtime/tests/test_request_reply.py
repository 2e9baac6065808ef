"""Request-reply over real loopback sockets: round trips, health, void methods, concurrency, args."""

from __future__ import annotations

import gevent
import pytest

from hn_runtime import Service
from hn_runtime.testing import running
from hn_runtime.testing.echo import EchoService

from _runtime_helpers import join_all


@pytest.fixture
def svc():
    with running(EchoService(), pool_size=500) as running_service:
        yield running_service


def test_echo_round_trip(svc):
    echo = svc.proxy()
    payload = bytes(range(256)) * 40
    assert echo.echo(payload=payload) == payload


def test_falsy_results_are_results_not_missing(svc):
    echo = svc.proxy()
    assert echo.echo(payload=b"") == b""
    assert echo.slow(ms=0) == 0
    assert echo.seen() == []


def test_health_describes_the_instance():
    with running(EchoService(), pool_size=7) as svc:
        health = svc.proxy().health()
    assert health.service_name == "echo"
    assert health.instance == svc.server.instance
    assert health.state == "up"
    assert health.pool_size == 7
    assert health.version == EchoService.version
    # The health call itself is the one handler running.
    assert health.in_flight == 1


def test_void_method_returns_none(svc):
    echo = svc.proxy()
    assert echo.emit(topic="nobody-listens", count=3) is None
    assert echo.bump() == 1
    assert svc.service.bumps == 1


def test_positional_and_keyword_arguments(svc):
    echo = svc.proxy()
    assert echo.echo(b"positional") == b"positional"
    assert echo.echo(payload=b"keyword") == b"keyword"
    assert echo.slow(3) == 3
    assert echo.emit("t", 0) is None
    assert echo.emit("t", count=0) is None


def test_bad_arguments_fail_on_the_caller_side(svc):
    echo = svc.proxy()
    with pytest.raises(TypeError):
        echo.echo(nonsense=b"x")
    with pytest.raises(AttributeError, match="no method 'nope'"):
        echo.nope()
    with pytest.raises(TypeError, match="oneway"):
        echo.record(n=1)


def test_many_greenlets_share_one_proxy(svc):
    echo = svc.proxy()
    results: dict[int, bytes] = {}

    def call(i: int) -> None:
        # Some calls yield inside the handler, so replies come back out of request order.
        if i % 3 == 0:
            assert echo.slow(ms=i % 7) == i % 7
        results[i] = echo.echo(payload=b"payload-%d" % i)

    greenlets = [gevent.spawn(call, i) for i in range(200)]
    join_all(greenlets)
    assert results == {i: b"payload-%d" % i for i in range(200)}


def test_two_services_in_one_process(svc):
    class Other(EchoService):
        name = "echo-other"

        def on_echo(self, session, request):
            return b"other:" + request.payload

    with running(Other()) as other:
        assert other.proxy().echo(payload=b"x") == b"other:x"
        assert svc.proxy().echo(payload=b"x") == b"x"


def test_service_base_answers_health_without_handlers():
    from hn_idl.echo import Echo  # pants: no-infer-dep

    class Bare(Service):
        name = "bare"
        idl = Echo

    with running(Bare()) as svc:
        assert svc.proxy().health().service_name == "bare"
