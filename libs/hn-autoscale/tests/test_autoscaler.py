"""The loop (decisions reach the driver, are logged and counted), the signals on real HTTP."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import gevent
import pytest
from gevent.pywsgi import WSGIServer
from prometheus_client import CollectorRegistry, Counter, generate_latest
from structlog.testing import capture_logs

from hn_autoscale import (
    DECISIONS,
    DOWN,
    UP,
    AutoscaleConfig,
    Autoscaler,
    InstanceLoad,
    Observation,
    PromQuery,
    Rule,
    ScrapedRate,
    Seen,
    status_app,
)


class Recorder:
    """A driver that records what it was asked (the seam the autoscaler owns)."""

    def __init__(self, current: int) -> None:
        self.calls: list[tuple[str, str, int, tuple[str, ...]]] = []
        self._current = current

    def current(self, service: str) -> int | None:
        return self._current

    def scale_out(self, service: str, desired: int) -> None:
        self.calls.append((UP, service, desired, ()))

    def scale_in(self, service: str, desired: int, victims: Sequence[str]) -> None:
        self.calls.append((DOWN, service, desired, tuple(victims)))


class Script:
    """An observer playing back demands; instances follow the last decision."""

    def __init__(self, service: str, demands: Sequence[float], start: int) -> None:
        self.service, self.demands, self.count, self.now = service, list(demands), start, 0.0

    def observe(self) -> Mapping[str, Observation] | None:
        if not self.demands:
            return None
        demand = self.demands.pop(0)
        self.now += 1.0
        loads = [InstanceLoad(f"{self.service}-{n + 1}", demand / self.count * (1 + n / 10)) for n in range(self.count)]
        return {self.service: Observation(self.now, loads, demand)}


def test_decisions_reach_the_driver_are_logged_and_counted() -> None:
    rule = Rule(min_instances=2, max_instances=6, up_window_s=0, up_cooldown_s=0, down_window_s=2, down_cooldown_s=3)
    driver = Recorder(current=2)
    script = Script("broker", [2.0] * 3 + [0.3] * 12, start=2)
    autoscaler = Autoscaler({"broker": rule}, driver=driver, observer=script)
    before = {d: DECISIONS.labels("broker", d)._value.get() for d in (UP, DOWN)}
    with capture_logs() as logs:
        for _ in range(15):
            for decision in autoscaler.step():
                script.count = decision.desired
    assert driver.calls[0] == (UP, "broker", 4, ())
    assert driver.calls[1] == (DOWN, "broker", 3, ("broker-1",)), "the least loaded is drained"
    assert driver.calls[-1][2] == 2 and all(c[0] == DOWN for c in driver.calls[1:])
    logged = [e for e in logs if e["event"] == "scaling decision"]
    assert [(e["direction"], e["desired"]) for e in logged] == [(c[0], c[2]) for c in driver.calls]
    after = {d: DECISIONS.labels("broker", d)._value.get() for d in (UP, DOWN)}
    assert after[UP] - before[UP] == 1 and after[DOWN] - before[DOWN] == len(driver.calls) - 1
    status = autoscaler.status()["services"]["broker"]
    assert (status["desired"], status["decisions"]) == (2, {"up": 1, "down": len(driver.calls) - 1})


def test_a_failing_driver_is_logged_and_the_loop_goes_on() -> None:
    class Broken(Recorder):
        def scale_out(self, service: str, desired: int) -> None:
            raise RuntimeError("no capacity in this zone")

    rule = Rule(min_instances=1, max_instances=4, up_window_s=0, up_cooldown_s=0)
    autoscaler = Autoscaler({"sso": rule}, driver=Broken(current=1), observer=Script("sso", [0.9, 0.9], 1))
    with capture_logs() as logs:
        assert [d.direction for d in autoscaler.step()] == [UP]
    assert any(e["event"] == "driver failed to apply a decision" for e in logs)


@pytest.fixture
def http() -> Iterator[Callable[[Callable[..., Any]], str]]:
    servers: list[WSGIServer] = []

    def serve(app: Callable[..., Any]) -> str:
        server = WSGIServer(("127.0.0.1", 0), app, log=None, error_log=None)
        server.start()
        servers.append(server)
        return f"127.0.0.1:{server.server_port}"

    yield serve
    for server in servers:
        server.stop(timeout=1)


def test_scraped_rate_reads_counters_from_instances_metrics_endpoints(
    http: Callable[[Callable[..., Any]], str],
) -> None:
    registries = [CollectorRegistry(), CollectorRegistry()]
    counters = [Counter("hn_requests", "r", ["service", "method"], registry=r) for r in registries]

    def app_for(registry: CollectorRegistry) -> Callable[..., Any]:
        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [generate_latest(registry)]

        return app

    live = [Seen("sso", f"sso-{n + 1}", "up", 0.0, {"metrics": http(app_for(r))}) for n, r in enumerate(registries)]
    signal = ScrapedRate("hn_requests_total", per_instance=10.0, labels={"service": "sso"}, window_s=10)
    assert signal.demand("sso", live, 0.0) == 0.0  # one point: no rate yet
    counters[0].labels("sso", "login").inc(30)
    counters[1].labels("sso", "guest_login").inc(10)
    counters[1].labels("other", "login").inc(1000)  # another label set: not counted
    assert signal.demand("sso", live, 2.0) == pytest.approx((30 + 10) / 2.0 / 10.0)


def test_prom_query_reads_a_prometheus_http_api(http: Callable[[Callable[..., Any]], str]) -> None:
    asked: list[str] = []

    def prometheus(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        asked.append(urllib.parse.unquote_plus(environ["QUERY_STRING"]))
        body = {"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"instance": "a"}, "value": [0, "12.5"]},
            {"metric": {"instance": "b"}, "value": [0, "7.5"]},
        ]}}  # fmt: skip
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    address = http(prometheus)
    query = PromQuery(f"http://{address}", 'sum by (instance) (rate(hn_requests_total{service="{service}"}[1m]))', 10)
    assert query.demand("sso", [], 0.0) == pytest.approx(2.0)
    assert asked == ['query=sum by (instance) (rate(hn_requests_total{service="sso"}[1m]))']
    assert PromQuery("http://127.0.0.1:9", "up", 1, timeout_s=0.5).demand("sso", [], 0.0) is None


def test_status_app_and_config(http: Callable[[Callable[..., Any]], str]) -> None:
    config = AutoscaleConfig.load('{"services": {"broker": {"rule": {"min_instances": 2}}}}')
    autoscaler = Autoscaler(config.rules, driver=Recorder(2), observer=Script("broker", [0.2], 2))
    autoscaler.step()
    address = http(status_app(autoscaler))
    with urllib.request.urlopen(f"http://{address}/status", timeout=5) as response:
        status = json.load(response)
    assert status["services"]["broker"]["desired"] == 2 and status["services"]["broker"]["actual"] == 2
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
        assert b'hn_autoscale_desired_instances{service="broker"} 2.0' in response.read()
    with pytest.raises(ValueError, match="unknown rule field"):
        AutoscaleConfig.load('{"services": {"broker": {"rule": {"minimum": 2}}}}')
    gevent.sleep(0)


def test_only_an_active_autoscaler_finishes_drains_with_the_instances_yellow_lists() -> None:
    class Draining(Recorder):
        def __init__(self) -> None:
            super().__init__(current=2)
            self.finished: list[list[str]] = []

        def finish_drains(self, service: str, present: Sequence[str]) -> None:
            self.finished.append(sorted(present))

    class Mixed:
        def observe(self) -> Mapping[str, Observation] | None:
            states = {"sso-1": "up", "sso-2": "draining", "sso-3": "down"}
            return {"sso": Observation(1.0, [InstanceLoad(i, 0.4, s) for i, s in states.items()], 0.4)}

    active = [False]
    driver = Draining()
    autoscaler = Autoscaler({"sso": Rule()}, driver=driver, observer=Mixed(), active=lambda: active[0])
    autoscaler.step()
    assert driver.finished == [], "a standby leaves the groups alone"
    active[0] = True
    autoscaler.step()
    assert driver.finished == [["sso-1", "sso-2"]], "up and draining are still there; down is gone"
