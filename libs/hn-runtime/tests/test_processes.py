"""Echo as a real process: clean shutdown on SIGTERM, metrics over HTTP, and instances dying
with calls in flight (kill -9)."""

from __future__ import annotations

import signal
import urllib.request

import gevent
import gevent.event
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hn_idl.echo.ttypes import Refused
from hn_runtime import Draining, ServiceUnavailable, get_service
from hn_runtime.discovery import StaticDirectory
from hn_runtime.testing import running, spawn_service, time_factor, wait_for
from hn_runtime.testing.echo import EchoService

from _runtime_helpers import DeadlineEcho, all_connected, client_retries, join_all, pending_calls, scaled

ECHO = "hn_runtime.testing.echo"

pytestmark = pytest.mark.integration


def proxy_of(*processes, timeout: float = 30.0):
    directory = StaticDirectory({"echo": [p.instance for p in processes]})
    return get_service("echo", directory=directory, timeout=scaled(timeout))


def test_spawned_service_serves_and_describes_itself():
    with spawn_service(ECHO, service="echo") as proc:
        echo = proxy_of(proc)
        assert echo.echo(payload=b"over a process boundary") == b"over a process boundary"
        assert echo.health().instance == proc.instance_id
        assert {"rep", "pull", "pub", "metrics"} <= set(proc.endpoints)


def test_hn_call_timeout_is_the_timeout_of_the_process_calls():
    # relay calls the target through a proxy given no timeout: the target sees how long it has.
    with running(DeadlineEcho()) as target, spawn_service(ECHO, service="echo", env={"HN_CALL_TIMEOUT": "42"}) as proc:
        given = float(proxy_of(proc, timeout=300).relay(target=target.endpoints["rep"]))
        assert 30 < given <= 42


def test_sigterm_lets_the_calls_in_flight_finish_then_exits_0():
    ms = int(2000 * time_factor())
    with spawn_service(ECHO, service="echo") as proc:
        echo = proxy_of(proc)
        calls = [gevent.spawn(echo.slow, ms=ms) for _ in range(10)]
        # health runs beside the slow calls: eleven handlers in flight.
        wait_for(lambda: echo.health().in_flight == 11, message="the slow calls to be running")
        proc.signal(signal.SIGTERM)

        def refusing_new_work() -> bool:
            try:
                echo.health()
            except Draining:
                return True
            return False

        wait_for(refusing_new_work, message="the instance to refuse new calls while draining")
        # Every reply arrives, though the process closes its sockets and exits right after.
        join_all(calls)
        assert [call.value for call in calls] == [ms] * 10
        assert proc.process.wait(timeout=scaled(30)) == 0
        events = {line["event"]: line for line in proc.logs()}
        # The stop began with the calls still running, and the drain waited for them.
        assert events["stopping"]["in_flight"] == 10
        assert events["exited"]["drained"] is True


def test_metrics_endpoint_serves_request_counts():
    with spawn_service(ECHO, service="echo", env={"HN_METRICS_PORT": "0"}) as proc:
        echo = proxy_of(proc)
        for _ in range(5):
            echo.echo(payload=b"x")
        with pytest.raises(Refused):
            echo.refuse(reason="no")
        base = f"http://{proc.endpoints['metrics']}"
        with urllib.request.urlopen(f"{base}/metrics", timeout=scaled(10)) as response:
            text = response.read().decode()
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

        def sample(name: str, **labels: str) -> float | None:
            return samples.get((name, tuple(sorted(labels.items()))))

        assert sample("hn_requests_total", service="echo", method="echo", outcome="ok") == 5
        assert sample("hn_requests_total", service="echo", method="refuse", outcome="exception") == 1
        assert sample("hn_request_duration_seconds_count", service="echo", method="echo") == 5
        assert sample("hn_pool_size", service="echo") == 1000
        with urllib.request.urlopen(f"{base}/healthz", timeout=scaled(10)) as response:
            assert response.read() == b"ok\n"


def test_a_service_that_cannot_bind_exits_with_an_error():
    with running(EchoService()) as taken:
        port = taken.endpoints["rep"].rpartition(":")[2]
        with pytest.raises(RuntimeError, match="exited with 2"):
            with spawn_service(ECHO, service="echo", env={"HN_REP_PORT": port}):
                pass


@pytest.mark.chaos
def test_kill_9_with_idempotent_calls_in_flight_fails_over_without_errors():
    with spawn_service(ECHO, service="echo") as victim, spawn_service(ECHO, service="echo") as survivor:
        echo = proxy_of(victim, survivor)
        wait_for(lambda: all_connected(echo), message="connections to both instances")
        stop = gevent.event.Event()
        completed: list[int] = []
        failures: list[BaseException] = []

        def caller() -> None:
            while not stop.is_set():
                try:
                    assert echo.slow(ms=100) == 100
                    completed.append(1)
                except Exception as exc:  # noqa: BLE001 - every failure is the finding
                    failures.append(exc)

        callers = [gevent.spawn(caller) for _ in range(20)]
        try:
            wait_for(
                lambda: pending_calls(echo).get(victim.instance_id, 0) >= 3, message="calls in flight on the victim"
            )
            lost_before = client_retries("slow", "connection_lost")
            victim.kill()
            after_kill = len(completed)
            wait_for(lambda: len(completed) >= after_kill + 60, message="calls completing on the survivor")
        finally:
            stop.set()
            join_all(callers, timeout=60)
        assert failures == []
        # Calls really were in flight on the killed instance, and were retried, not failed.
        assert client_retries("slow", "connection_lost") > lost_before
        assert echo.health().instance == survivor.instance_id


@pytest.mark.chaos
def test_non_idempotent_call_in_flight_when_its_instance_dies_fails_and_is_not_retried():
    with spawn_service(ECHO, service="echo") as victim, spawn_service(ECHO, service="echo") as survivor:
        echo = proxy_of(victim, survivor, timeout=3600)
        wait_for(lambda: all_connected(echo), message="connections to both instances")
        # A stopped process holds a request without answering: `bump` is in flight for sure.
        victim.signal(signal.SIGSTOP)
        calls: list[gevent.Greenlet] = []

        def one_in_flight_on_victim() -> bool:
            if pending_calls(echo).get(victim.instance_id):
                return True
            calls.append(gevent.spawn(echo.bump))
            return False

        wait_for(one_in_flight_on_victim, message="a bump sent to the stopped instance")
        victim.kill()
        # The call timeout is an hour: only the lost connection can end the call this soon.
        with gevent.Timeout(scaled(30), AssertionError("the in-flight call hung")):
            gevent.joinall(calls)
        lost = [c for c in calls if c.exception is not None]
        assert len(lost) == 1
        assert isinstance(lost[0].exception, ServiceUnavailable)
        assert "may or may not have run" in str(lost[0].exception)
        survivor_bumps = len(calls) - 1
        # The survivor ran exactly the other bumps: the lost one was not retried there.
        assert echo.bump() == survivor_bumps + 1
