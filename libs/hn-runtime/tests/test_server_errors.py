"""Every way a request can fail on the server: a clear error reply (code, message, trace id),
counted in metrics, and the server keeps serving afterwards."""

from __future__ import annotations

import dataclasses
import re

import gevent
import pytest

from hn_idl.echo import Echo  # pants: no-infer-dep (generated service module)
from hn_idl.echo.ttypes import Refused
from hn_runtime import BadRequest, InternalError, Overloaded, Service, Unimplemented, UnknownMethod
from hn_runtime.server import Server
from hn_runtime.testing import capture_logs, running, wait_for
from hn_runtime.testing.echo import EchoService
from hn_runtime.wire import ERROR, REPLY, Envelope, ErrorCode, encode_envelope

from _runtime_helpers import (
    args_body,
    assert_still_serving,
    gated,
    now_ms,
    protocol_errors,
    raw_dealer,
    request_head,
    scaled,
    served,
)

TRACE = re.compile(r"^[0-9a-f]{16}$")


@pytest.fixture
def svc():
    with running(EchoService()) as running_service:
        yield running_service


def _assert_error(env: Envelope, code: int, *, request_id: int | None = 7) -> None:
    assert env.kind == ERROR
    assert env.error_code == code, (env.error_code, env.error_message)
    assert env.error_message
    assert env.trace_id and TRACE.match(env.trace_id)
    if request_id is not None:
        assert env.request_id == request_id


# -- refused before a handler runs (raw frames) ------------------------------------------------


def test_unknown_method(svc):
    before = served("?", "unknown_method")
    with raw_dealer(svc.endpoints["rep"]) as raw:
        env, body = raw.request(request_head("no_such_method", request_id=41), b"\x00")
    _assert_error(env, ErrorCode.UNKNOWN_METHOD, request_id=41)
    assert "no_such_method" in env.error_message
    # The caller's trace id comes back, so the caller can find the server's log line.
    assert env.trace_id == "0123456789abcdef"
    assert env.sender == svc.server.instance
    assert body == b""
    # Counted under "?": a garbage method name must not become a metric label.
    assert served("?", "unknown_method") == before + 1
    assert served("no_such_method", "unknown_method") == 0
    assert_still_serving(svc)


def test_unknown_method_through_a_proxy_raises_unknown_method(svc):
    # A client built from a newer IDL than the server's: simulate with a method the server lacks.
    proxy = svc.proxy()
    method = proxy.idl.methods["echo"]
    renamed = dataclasses.replace(method, name="echo_v2")
    with pytest.raises(UnknownMethod) as info:
        proxy.forward(renamed, args_body("echo", payload=b"x"))
    assert TRACE.match(info.value.trace_id)
    assert_still_serving(svc)


@pytest.mark.parametrize("garbage", [b"\xff\xfe\xfd garbage", b"", b"\x00", b"\x08\x00\x01"])
def test_undecodable_envelope(svc, garbage):
    before_protocol = protocol_errors("bad_envelope")
    before = served("?", "bad_request")
    with raw_dealer(svc.endpoints["rep"]) as raw:
        env, _ = raw.request(garbage, args_body("echo", payload=b"x"))
    _assert_error(env, ErrorCode.BAD_REQUEST, request_id=0)
    assert "envelope" in env.error_message
    assert protocol_errors("bad_envelope") == before_protocol + 1
    assert served("?", "bad_request") == before + 1
    assert_still_serving(svc)


@pytest.mark.parametrize("frames", [1, 3, 5])
def test_wrong_frame_count(svc, frames):
    before_protocol = protocol_errors("frame_count")
    parts = [request_head("echo"), args_body("echo", payload=b"x"), b"extra", b"more", b"more"][:frames]
    with raw_dealer(svc.endpoints["rep"]) as raw:
        env, _ = raw.request(*parts)
    _assert_error(env, ErrorCode.BAD_REQUEST, request_id=0)
    assert "frames" in env.error_message
    assert protocol_errors("frame_count") == before_protocol + 1
    assert_still_serving(svc)


def test_envelope_that_is_not_a_request(svc):
    before = protocol_errors("unexpected_kind")
    head = encode_envelope(Envelope(kind=REPLY, method="echo", request_id=9, trace_id="0123456789abcdef"))
    with raw_dealer(svc.endpoints["rep"]) as raw:
        env, _ = raw.request(head, args_body("echo", payload=b"x"))
    _assert_error(env, ErrorCode.BAD_REQUEST, request_id=9)
    assert protocol_errors("unexpected_kind") == before + 1
    assert_still_serving(svc)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\xff\xff\xff\xff", id="garbage"),
        pytest.param(b"\x0b\x00\x01\x00\x00\x00\x10ab", id="truncated"),
        pytest.param(args_body("echo"), id="missing-required-payload"),
    ],
)
def test_undecodable_body_or_missing_required_field(svc, body):
    before = served("echo", "bad_request")
    with raw_dealer(svc.endpoints["rep"]) as raw:
        env, _ = raw.request(request_head("echo", request_id=12), body)
    _assert_error(env, ErrorCode.BAD_REQUEST, request_id=12)
    assert env.trace_id == "0123456789abcdef"
    assert "echo" in env.error_message
    assert served("echo", "bad_request") == before + 1
    assert_still_serving(svc)


def test_deadline_passed_on_arrival(svc):
    before = served("echo", "deadline_exceeded")
    with raw_dealer(svc.endpoints["rep"]) as raw:
        env, _ = raw.request(request_head("echo", deadline_ms=now_ms() - 60_000), args_body("echo", payload=b"x"))
        _assert_error(env, ErrorCode.DEADLINE_EXCEEDED)
        # Same request with a deadline ahead: served.
        ok, body = raw.request(request_head("echo", deadline_ms=now_ms() + 600_000), args_body("echo", payload=b"x"))
    assert ok.kind == REPLY
    assert body
    assert served("echo", "deadline_exceeded") == before + 1


def test_overloaded_when_every_slot_is_busy():
    with gated(pool_size=1) as svc:
        echo = svc.proxy()
        before = served("echo", "overloaded")
        first = gevent.spawn(echo.slow, ms=5)
        wait_for(lambda: svc.server.in_flight == 1, message="slow to occupy the only slot")
        # One instance: Overloaded is retried elsewhere, and there is nowhere else.
        with pytest.raises(Overloaded) as info:
            echo.echo(payload=b"x")
        assert info.value.not_executed
        assert TRACE.match(info.value.trace_id)
        assert served("echo", "overloaded") == before + 1
        svc.service.gate.set()
        assert first.get(timeout=scaled(10)) == 5
        assert_still_serving(svc)


def test_handler_crash_is_an_internal_error_with_a_logged_trace_id():
    with capture_logs() as logs, running(EchoService()) as svc:
        echo = svc.proxy()
        before = served("crash", "internal")
        with pytest.raises(InternalError) as info:
            echo.crash()
        assert_still_serving(svc)
    err = info.value
    assert TRACE.match(err.trace_id)
    assert err.trace_id in str(err)
    assert "ValueError" in err.message
    # The server's log line for the crash carries the same trace id, and the traceback.
    lines = [e for e in logs if e.get("event") == "handler failed"]
    assert len(lines) == 1, logs
    assert lines[0]["trace_id"] == err.trace_id
    assert lines[0]["method"] == "crash"
    assert lines[0]["log_level"] == "error"
    assert isinstance(lines[0]["exc_info"], ValueError)
    assert served("crash", "internal") == before + 1


def test_declared_exception_arrives_as_the_idl_exception(svc):
    echo = svc.proxy()
    before = served("refuse", "exception")
    with pytest.raises(Refused) as info:
        echo.refuse(reason="not today")
    assert info.value.reason == "not today"
    assert served("refuse", "exception") == before + 1
    assert_still_serving(svc)


class Partial(Service):
    """Declares Echo's IDL but implements only `echo`."""

    name = "partial"
    idl = Echo

    def on_echo(self, session, request):
        return request.payload


def test_declared_method_without_handler_is_unimplemented():
    with running(Partial()) as svc:
        proxy = svc.proxy()
        assert proxy.echo(payload=b"x") == b"x"
        before = served("whoami", "unimplemented", service="partial")
        with pytest.raises(Unimplemented) as info:
            proxy.whoami()
        assert "whoami" in info.value.message
        assert TRACE.match(info.value.trace_id)
        assert served("whoami", "unimplemented", service="partial") == before + 1
        assert proxy.echo(payload=b"y") == b"y"


def test_handler_for_a_method_the_idl_lacks_is_refused_at_construction():
    class Typo(EchoService):
        def on_ehco(self, session, request):
            return b""

    with pytest.raises(TypeError, match="ehco"):
        Server(Typo())


def test_bad_request_reaches_a_proxy_caller_as_bad_request(svc):
    proxy = svc.proxy()
    with pytest.raises(BadRequest) as info:
        proxy.forward(proxy.idl.methods["echo"], args_body("echo"))
    assert "payload" in info.value.message
    assert_still_serving(svc)


# -- pushed work has nobody to answer: counted, logged, and the server goes on --------------


def test_malformed_pushed_work_is_counted_and_dropped(svc):
    import zmq

    before_envelope = protocol_errors("bad_envelope")
    before_frames = protocol_errors("frame_count")
    with raw_dealer(svc.endpoints["pull"], zmq.PUSH) as raw:
        raw.send(b"\xff garbage", b"")
        raw.send(b"just one frame")
        wait_for(lambda: protocol_errors("bad_envelope") == before_envelope + 1)
        wait_for(lambda: protocol_errors("frame_count") == before_frames + 1)
        raw.send(request_head("record"), args_body("record", n=5))
        wait_for(lambda: svc.service.recorded == [5])
    assert_still_serving(svc)
