"""The autoscaler's loop: observe, decide, apply, account for it (logs, metrics, /status)."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import gevent
import gevent.event
from prometheus_client import REGISTRY, Counter, Gauge, generate_latest

from hn_autoscale._policy import UP, Decision, Observation, Policy, Rule
from hn_runtime import get_logger

__all__ = [
    "Driver",
    "DrainFinisher",
    "Autoscaler",
    "ServiceStatus",
    "status_app",
    "DESIRED",
    "ACTUAL",
    "DECISIONS",
    "DRIVER_ERRORS",
]

_log = get_logger("hn.autoscale")

DESIRED = Gauge("hn_autoscale_desired_instances", "Instances the autoscaler wants per service.", ["service"])
ACTUAL = Gauge("hn_autoscale_actual_instances", "Instances up in yellow per service.", ["service"])
UTILIZATION = Gauge("hn_autoscale_utilization", "Demand per live instance (0 idle .. 1 full).", ["service"])
DECISIONS = Counter(
    "hn_autoscale_decisions_total", "Scaling decisions taken, by service and direction.", ["service", "direction"]
)
DRIVER_ERRORS = Counter(
    "hn_autoscale_driver_errors_total", "Driver calls that failed (decisions, finishing drains).", ["service"]
)


class Driver(Protocol):
    """What applies decisions: the local cluster's processes, an AWS autoscaling group, ..."""

    def current(self, service: str) -> int | None:
        """The count the driver runs (or asked for) now; None if it cannot tell."""

    def scale_out(self, service: str, desired: int) -> None:
        """Run `desired` instances of `service` (more than now)."""

    def scale_in(self, service: str, desired: int, victims: Sequence[str]) -> None:
        """Drain `victims` (SIGTERM: they finish their work and leave), leaving `desired`."""


@runtime_checkable
class DrainFinisher(Protocol):
    """A driver whose scale-in waits for the victims to drain (AWS: a termination lifecycle
    hook holds them): the active autoscaler calls it every round with yellow's view."""

    def finish_drains(self, service: str, present: Collection[str]) -> object:
        """Let instances that are waiting to go, and that yellow no longer lists, go.
        `present`: the service's instance ids yellow lists (up or draining)."""


class Observer(Protocol):
    def observe(self) -> Mapping[str, Observation] | None: ...


@dataclass
class ServiceStatus:
    service: str
    desired: int | None = None
    actual: int = 0
    utilization: float | None = None
    reason: str = ""
    decisions: dict[str, int] = field(default_factory=lambda: {"up": 0, "down": 0})
    last_decision: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "desired": self.desired,
            "actual": self.actual,
            "utilization": None if self.utilization is None else round(self.utilization, 4),
            "reason": self.reason,
            "decisions": dict(self.decisions),
            "last_decision": self.last_decision,
        }


class Autoscaler:
    """Every `interval_s`: observe every service, decide, hand changes to the driver.

    A driver's failure is logged and counted, never fatal: the next round decides again from
    what is then observed. `step()` is one round, for tests and for callers with their own loop.
    """

    def __init__(
        self,
        rules: Mapping[str, Rule],
        *,
        driver: Driver,
        observer: Observer,
        interval_s: float = 1.0,
        policy: Policy | None = None,
        active: Callable[[], bool] = lambda: True,
        on_decision: Callable[[Decision], None] | None = None,
    ) -> None:
        self.rules = dict(rules)
        self.driver = driver
        self.observer = observer
        self.interval_s = interval_s
        self.policy = policy or Policy()
        #: False: stand by (another autoscaler is the active one), observing only
        self.active = active
        self.statuses = {service: ServiceStatus(service) for service in self.rules}
        self.history: list[Decision] = []
        #: (Unix time, decision) of the latest decisions, for /status
        self.recent: deque[tuple[float, Decision]] = deque(maxlen=100)
        self.on_decision = on_decision
        self._was_active = False
        for service, rule in self.rules.items():
            _log.info("scaling rule", service=service, **{k: v for k, v in vars(rule).items()})

    def step(self) -> list[Decision]:
        observations = self.observer.observe()
        if observations is None:
            return []
        active = self.active()
        if active and not self._was_active:
            # Taking over from another autoscaler (or starting): what it applied is in the
            # driver, not in this one's memory; the counts are read from the driver again.
            self.policy.forget()
            _log.info("autoscaler active: it applies its decisions", services=sorted(self.rules))
        elif self._was_active and not active:
            _log.info("autoscaler standing by: another one applies the decisions")
        self._was_active = active
        decisions = []
        for service, rule in self.rules.items():
            observation = observations.get(service)
            if observation is None:
                continue
            status = self.statuses[service]
            current = self.driver.current(service) if self.policy.state(service).desired is None else None
            decision = self.policy.evaluate(service, rule, observation, current=current)
            status.desired, status.actual, status.utilization = decision.desired, decision.actual, decision.utilization
            status.reason = decision.reason
            DESIRED.labels(service).set(decision.desired)
            ACTUAL.labels(service).set(decision.actual)
            if decision.utilization is not None:
                UTILIZATION.labels(service).set(decision.utilization)
            if decision.direction is not None:
                decisions.append(decision)
                self._apply(decision)
            if active and isinstance(self.driver, DrainFinisher):
                present = [i.instance_id for i in observation.instances if i.state in ("up", "draining")]
                self._call_driver("driver failed to finish drains", self.driver.finish_drains, service, present)
        return decisions

    def _call_driver(self, failure: str, call: Callable[..., object], service: str, *args: Any) -> None:
        """call(service, *args); a failure is logged as `failure` and counted, never raised."""
        try:
            call(service, *args)
        except Exception as exc:  # noqa: BLE001 - the next round decides again from what it sees
            DRIVER_ERRORS.labels(service).inc()
            _log.error(failure, service=service, exc_info=exc)

    def _apply(self, decision: Decision) -> None:
        status = self.statuses[decision.service]
        status.decisions[decision.direction or ""] = status.decisions.get(decision.direction or "", 0) + 1
        status.last_decision = f"{decision.direction} {decision.previous}->{decision.desired}: {decision.reason}"
        DECISIONS.labels(decision.service, decision.direction).inc()
        self.history.append(decision)
        self.recent.append((time.time(), decision))
        if self.on_decision is not None:
            self.on_decision(decision)
        _log.info(
            "scaling decision",
            service=decision.service,
            direction=decision.direction,
            previous=decision.previous,
            desired=decision.desired,
            actual=decision.actual,
            utilization=None if decision.utilization is None else round(decision.utilization, 3),
            reason=decision.reason,
            victims=list(decision.victims),
        )
        if not self.active():  # asked again: the round may have taken a while
            return
        failure = "driver failed to apply a decision"
        if decision.direction == UP:
            self._call_driver(failure, self.driver.scale_out, decision.service, decision.desired)
        else:
            self._call_driver(failure, self.driver.scale_in, decision.service, decision.desired, decision.victims)

    def run(self, stop: gevent.event.Event) -> None:
        """Rounds every `interval_s` until `stop` is set."""
        _log.info("autoscaler running", services=sorted(self.rules), interval_s=self.interval_s)
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.step()
            except Exception as exc:  # noqa: BLE001 - one bad round must not stop the autoscaler
                _log.error("autoscaler round failed", exc_info=exc)
            stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def status(self) -> dict[str, Any]:
        return {
            "active": self.active(),
            "services": {s: status.as_dict() for s, status in sorted(self.statuses.items())},
            "decisions": [
                {
                    "at": round(at, 3),
                    "service": d.service,
                    "direction": d.direction,
                    "previous": d.previous,
                    "desired": d.desired,
                    "actual": d.actual,
                    "utilization": None if d.utilization is None else round(d.utilization, 4),
                    "reason": d.reason,
                    "victims": list(d.victims),
                }
                for at, d in self.recent
            ],
        }


def status_app(autoscaler: Autoscaler) -> Callable[..., Any]:
    """WSGI: GET /status (JSON: desired vs actual per service), GET /metrics (Prometheus)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path in ("/", "/status"):
            body = json.dumps(autoscaler.status()).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if path == "/metrics":
            body = generate_latest(REGISTRY)
            start_response(
                "200 OK", [("Content-Type", "text/plain; version=0.0.4"), ("Content-Length", str(len(body)))]
            )
            return [body]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return app
