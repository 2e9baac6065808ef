"""`hn call` and `hn status` against real services: every failure is one line on stderr (what
failed, the code, the trace id when a call was made) and a non-zero exit, never a traceback;
`--json` gives scripts the result or the error as one JSON object.

A yellow and the Echo service (hn_runtime.testing) run in this process; hn runs as a process."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from hn_process import free_port
from hn_runtime.testing import RunningService, capture_logs, running, wait_for
from hn_runtime.testing.echo import EchoService
from hn_yellow import YellowService
from hn_yellow_client import YellowDiscovery

from _hn_cli import hn


@pytest.fixture(scope="module")
def yellow() -> Iterator[str]:
    """A yellow's address, with an Echo instance registered in it."""
    with running(YellowService()) as svc:
        address = svc.endpoints["rep"]
        discovery = YellowDiscovery([address])
        with running(EchoService(), discovery=discovery) as echo:
            wait_for(lambda: echo_up(svc, echo), message="echo registered in yellow")
            yield address
        discovery.directory.close()


def echo_up(yellow: RunningService, echo: RunningService) -> bool:
    assert isinstance(yellow.service, YellowService)
    registry = yellow.service.registry
    assert registry is not None, "yellow has started"
    return any(i.instance_id == echo.server.instance and i.state == "up" for i in registry.instances("echo"))


@pytest.mark.parametrize(
    ("args", "status", "code", "said"),
    [
        (["nosuch", "health"], 2, "UNKNOWN_SERVICE", "no service 'nosuch': this hn knows "),
        (["echo", "nosuch"], 2, "UNKNOWN_METHOD", "echo has no method 'nosuch'; it has "),
        (
            ["echo", "slow", '{"ms": "fast"}'],
            2,
            "BAD_ARGUMENTS",
            'echo.slow: bad arguments: ms must be an integer, not "fast"',
        ),
        (["echo", "slow", '{"ms": 4294967296}'], 2, "BAD_ARGUMENTS", "ms must fit in a signed 32-bit integer"),
        (["echo", "slow", '{"seconds": 1}'], 2, "BAD_ARGUMENTS", "slow_args has no field(s) seconds; it has ms"),
        (["echo", "slow", "{ms: 1}"], 2, "BAD_ARGUMENTS", "arguments are not JSON"),
        (["echo", "record", '{"n": 1}'], 2, "ONEWAY", "echo.record is oneway"),
    ],
)
def test_a_call_that_cannot_be_made_is_one_line_and_sends_nothing(
    yellow: str, args: list[str], status: int, code: str, said: str
) -> None:
    run = hn(yellow, "call", *args)
    error = run.error()
    assert (run.status, error["command"], error["code"], error["trace"]) == (status, "call", code, None)
    assert said in error["what"]
    assert run.stdout == ""


def test_a_declared_exception_is_one_line_with_its_trace(yellow: str) -> None:
    run = hn(yellow, "call", "echo", "refuse", '{"reason": "not at noon"}')
    error = run.error()
    assert run.status == 1
    assert error["what"] == "echo.refuse failed with Refused: not at noon"
    assert error["code"] == "Refused" and error["trace"]


def test_a_crashed_handler_is_one_line_with_the_trace_its_log_carries(yellow: str) -> None:
    with capture_logs() as logs:
        run = hn(yellow, "call", "echo", "crash")
    error = run.error()
    assert run.status == 1 and error["code"] == "INTERNAL"
    assert error["what"] == "echo.crash failed (ValueError)"
    assert error["trace"] in {event.get("trace_id") for event in logs}, "the trace id finds the server's log"


def test_no_live_instance_is_one_line(yellow: str) -> None:
    run = hn(yellow, "call", "sso", "health")
    error = run.error()
    assert run.status == 1 and error["code"] == "UNAVAILABLE" and error["trace"]
    assert error["what"] == "sso.health failed: no live instance of 'sso'"


def test_status_of_an_unreachable_yellow_is_one_line() -> None:
    run = hn(f"tcp://127.0.0.1:{free_port()}", "status")
    error = run.error()
    assert run.status == 1 and error["command"] == "status" and error["code"] == "UNAVAILABLE"
    assert error["what"].startswith("yellow at tcp://127.0.0.1:")


def test_a_usage_error_is_one_line(yellow: str) -> None:
    run = hn(yellow, "call")
    assert run.status == 2
    assert run.stderr.splitlines() == [
        "hn call: the following arguments are required: service, method (code USAGE; hn call --help)"
    ]


def test_call_json_gives_the_result_or_the_error(yellow: str) -> None:
    run = hn(yellow, "call", "echo", "echo", '{"payload": "high noon"}', "--json")
    assert (run.status, run.stderr) == (0, "")
    document = json.loads(run.stdout)
    assert document["result"] == "high noon" and len(document["trace_id"]) == 16

    run = hn(yellow, "call", "echo", "refuse", '{"reason": "not at noon"}', "--json")
    error = json.loads(run.stdout)["error"]
    assert run.status == 1 and run.error()["trace"] == error["trace_id"]
    assert error["code"] == "Refused" and error["fields"] == {"exception": "Refused", "reason": "not at noon"}

    run = hn(yellow, "call", "echo", "nosuch", "--json")
    assert run.status == 2 and json.loads(run.stdout)["error"]["code"] == "UNKNOWN_METHOD"


def test_status_json_lists_the_instances(yellow: str) -> None:
    run = hn(yellow, "status", "--json")
    assert (run.status, run.stderr) == (0, "")
    document = json.loads(run.stdout)
    assert document["yellow"] == yellow and document["autoscaler"] is None
    (echo,) = (i for i in document["instances"] if i["service_name"] == "echo")
    assert echo["state"] == "up" and echo["endpoints"]["rep"].startswith("tcp://127.0.0.1:")
