"""Sampled traces: every hop agrees from the trace id alone, and logs the request it handled."""

from __future__ import annotations

import random

from hn_idl.echo import Echo  # pants: no-infer-dep (generated service module)
from hn_runtime.logs import TraceSampler
from hn_runtime.testing import capture_logs, running, wait_for
from hn_runtime.testing.echo import EchoService
from hn_runtime.wire import load_idl

from _runtime_helpers import args_body


def test_the_decision_depends_on_the_trace_id_alone_and_follows_the_rate() -> None:
    ids = [f"{random.Random(7).getrandbits(64) ^ n * 0x9E3779B97F4A7C15 & (2**64 - 1):016x}" for n in range(4000)]
    quarter = TraceSampler(0.25)
    picked = [i for i in ids if quarter.sampled(i)]
    assert picked == [i for i in ids if TraceSampler(0.25).sampled(i)], "another process decides alike"
    assert 0.2 < len(picked) / len(ids) < 0.3
    assert not any(TraceSampler(0.0).sampled(i) for i in ids) and all(TraceSampler(1.0).sampled(i) for i in ids)
    assert set(picked) <= {i for i in ids if TraceSampler(0.5).sampled(i)}, "a higher rate keeps what a lower one had"
    assert TraceSampler(1.0).sampled("not hex at all") and not TraceSampler(0.5).sampled(None)


def _call(svc: object, trace_id: str) -> None:
    method = load_idl(Echo).methods["echo"]
    svc.proxy().forward(method, args_body("echo", payload=b"x"), trace_id=trace_id)  # type: ignore[attr-defined]


def test_a_sampled_request_is_logged_with_its_duration_and_outcome() -> None:
    with running(EchoService(), trace_sample=1.0) as svc, capture_logs() as logs:
        _call(svc, "00000000feedbeef")
        handled = wait_for(lambda: [e for e in logs if e["event"] == "handled"], message="the handled line")
    line = handled[0]
    assert line["trace_id"] == "00000000feedbeef" and line["method"] == "echo" and line["outcome"] == "ok"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0


def test_unsampled_requests_are_not_logged() -> None:
    with running(EchoService(), trace_sample=0.0) as svc, capture_logs() as logs:
        for n in range(20):
            _call(svc, f"{n:016x}")
        assert svc.proxy().echo(payload=b"after") == b"after"
    assert not [e for e in logs if e["event"] == "handled"]
