"""Call context: session id and trace id reach the handler, and travel on to the next hop."""

from __future__ import annotations

import re

import gevent
import pytest

from hn_idl.echo import Echo  # pants: no-infer-dep (generated service module)
from hn_runtime import Session
from hn_runtime._context import _current
from hn_runtime.testing import call_handler, running
from hn_runtime.testing.echo import EchoService
from hn_runtime.wire import decode, load_idl

from _runtime_helpers import args_body, scaled

TRACE = re.compile(r"^[0-9a-f]{16}$")


@pytest.fixture
def svc():
    with running(EchoService()) as running_service:
        yield running_service


def in_session(session: Session, fn, *args, **kwargs):
    """Run `fn` as if from a handler serving `session` (in its own greenlet: nothing leaks)."""

    def run():
        _current.set(session)
        return fn(*args, **kwargs)

    return gevent.spawn(run).get(timeout=scaled(30))


def test_whoami_sees_the_session_id_and_a_trace_id(svc):
    session_id, trace_id = svc.proxy().with_options(session_id="player-42").whoami().split("|")
    assert session_id == "player-42"
    assert TRACE.match(trace_id)


def test_no_session_id_unless_given(svc):
    session_id, trace_id = svc.proxy().whoami().split("|")
    assert session_id == ""
    assert TRACE.match(trace_id)


def test_each_call_gets_its_own_trace_id(svc):
    echo = svc.proxy()
    traces = {echo.whoami().split("|")[1] for _ in range(20)}
    assert len(traces) == 20


def test_a_call_made_inside_a_handler_carries_its_trace_and_session(svc):
    caller = Session("player-7", "feedfacefeedface", "some_method")
    assert in_session(caller, svc.proxy().whoami) == "player-7|feedfacefeedface"


def test_relay_carries_the_callers_trace_id_to_the_second_hop():
    with running(EchoService()) as first, running(EchoService()) as second:
        relay = first.proxy().with_options(session_id="player-9")
        caller = Session(None, "0badc0de0badc0de", "test")
        answer = in_session(caller, relay.relay, target=second.endpoints["rep"])
        # The second hop saw the trace id of the call into the first, and the caller's session.
        assert answer == "player-9|0badc0de0badc0de"

        # Without a caller context: the trace id the first hop was given is the one passed on.
        session_id, trace_id = relay.relay(target=second.endpoints["rep"]).split("|")
        assert session_id == "player-9"
        assert TRACE.match(trace_id) and trace_id != "0badc0de0badc0de"


def test_context_does_not_leak_between_requests_on_a_worker(svc):
    echo = svc.proxy()
    assert echo.with_options(session_id="first").whoami().startswith("first|")
    # The same (reused) worker greenlet serves the next request: no session left behind.
    assert echo.whoami().startswith("|")


def test_call_handler_runs_a_handler_without_sockets():
    service = EchoService()
    assert call_handler(service, "echo", payload=b"direct") == b"direct"
    session = Session("s", "00000000000000aa", "whoami")
    assert call_handler(service, "whoami", session=session) == "s|00000000000000aa"


class _EdgeEcho(EchoService):
    """Echo whose `whoami` answers what the broker stamped about the game client."""

    def on_whoami(self, session, request):
        return f"{session.client}|{session.client_rtt_us}"


def test_the_clients_round_trip_a_broker_stamps_reaches_the_handler():
    method = load_idl(Echo).methods["whoami"]
    with running(_EdgeEcho()) as edge:
        proxy = edge.proxy()
        stamped = proxy.forward(method, args_body("whoami"), client="10.0.0.7:5555", client_rtt_us=23_456)
        unstamped = proxy.forward(method, args_body("whoami"), client="10.0.0.7:5555")
    assert decode(stamped.body, method.result_spec).success == "10.0.0.7:5555|23456"
    assert decode(unstamped.body, method.result_spec).success == "10.0.0.7:5555|None"
