"""What the autoscaler looks at: yellow's view of the instances, and Prometheus metrics.

A signal turns a service's live instances into a demand, in instances' worth of work:

* `YellowLoad`: the sum of the loads the instances report with their heartbeats (the broker's
  connections / capacity; sso's and match's handlers in flight / pool, match's rooms / capacity);
* `ScrapedRate`: the rate of a counter scraped straight from the instances' /metrics endpoints
  (the ones they register in yellow), over a sliding window, divided by what one instance should
  carry: Prometheus' `sum(rate(counter[window])) / per_instance` without a Prometheus server,
  which is what the local cluster has;
* `PromQuery`: any PromQL query against a Prometheus server's HTTP API (where one runs), divided
  by `per_instance`.

A service's demand is the largest of its signals: whichever resource runs out first sizes it.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client.parser import text_string_to_metric_families

from hn_autoscale._policy import InstanceLoad, Observation
from hn_runtime import HNError, get_logger, get_service
from hn_runtime.curve import CurveKeys

__all__ = ["Signal", "YellowLoad", "ScrapedRate", "PromQuery", "YellowObserver", "Seen"]

_log = get_logger("hn.autoscale")


@dataclass(frozen=True)
class Seen:
    """An instance as yellow reports it (the fields of InstanceInfo the autoscaler uses)."""

    service: str
    instance_id: str
    state: str
    load: float
    endpoints: Mapping[str, str] = field(default_factory=dict)


class Signal(Protocol):
    def demand(self, service: str, live: Sequence[Seen], now: float) -> float | None:
        """The service's demand in instances, or None when it cannot tell (yet)."""


class YellowLoad:
    """Sum of the loads live instances report to yellow."""

    def demand(self, service: str, live: Sequence[Seen], now: float) -> float | None:
        return sum(max(0.0, i.load) for i in live)

    def __repr__(self) -> str:
        return "YellowLoad()"


class ScrapedRate:
    """sum over live instances of rate(`metric`{`labels`}) over `window_s`, / `per_instance`.

    Each instance's /metrics (its "metrics" endpoint in yellow) is scraped once per call; an
    instance seen only once yet contributes nothing (no rate from one point); a counter that went
    down (a restart) starts its history over.
    """

    def __init__(
        self,
        metric: str,
        per_instance: float,
        *,
        labels: Mapping[str, str] | None = None,
        window_s: float = 5.0,
        timeout_s: float = 1.0,
        fetch: Callable[[str, float], str] | None = None,
    ) -> None:
        if per_instance <= 0:
            raise ValueError("per_instance must be positive")
        self.metric = metric.removesuffix("_total")
        self.per_instance = per_instance
        self.labels = dict(labels or {})
        self.window_s = window_s
        self.timeout_s = timeout_s
        self._fetch = fetch or _http_get
        self._history: dict[str, deque[tuple[float, float]]] = {}

    def _value(self, text: str) -> float:
        total = 0.0
        for family in text_string_to_metric_families(text):
            if family.name != self.metric:
                continue
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                if all(sample.labels.get(k) == v for k, v in self.labels.items()):
                    total += float(sample.value)
        return total

    def demand(self, service: str, live: Sequence[Seen], now: float) -> float | None:
        rate = 0.0
        seen = set()
        for instance in live:
            address = instance.endpoints.get("metrics")
            if not address:
                continue
            seen.add(instance.instance_id)
            try:
                value = self._value(self._fetch(f"http://{address}/metrics", self.timeout_s))
            except (OSError, ValueError) as exc:
                _log.info("metrics scrape failed", instance=instance.instance_id, error=str(exc))
                continue
            history = self._history.setdefault(instance.instance_id, deque())
            if history and value < history[-1][1]:
                history.clear()  # the counter restarted
            history.append((now, value))
            while len(history) > 2 and history[1][0] <= now - self.window_s:
                history.popleft()
            if len(history) >= 2 and history[-1][0] > history[0][0]:
                rate += (history[-1][1] - history[0][1]) / (history[-1][0] - history[0][0])
        for gone in set(self._history) - seen:
            del self._history[gone]
        return rate / self.per_instance

    def __repr__(self) -> str:
        return f"ScrapedRate({self.metric!r}, per_instance={self.per_instance}, labels={self.labels})"


class PromQuery:
    """A PromQL query's value (a scalar, or the sum of a vector) / `per_instance`.

    `query` may name the service as `{service}`:
    `sum(rate(hn_requests_total{{service="{service}"}}[1m]))`.
    """

    def __init__(
        self,
        url: str,
        query: str,
        per_instance: float,
        *,
        timeout_s: float = 2.0,
        fetch: Callable[[str, float], str] | None = None,
    ) -> None:
        if per_instance <= 0:
            raise ValueError("per_instance must be positive")
        self.url = url.rstrip("/")
        self.query = query
        self.per_instance = per_instance
        self.timeout_s = timeout_s
        self._fetch = fetch or _http_get

    def demand(self, service: str, live: Sequence[Seen], now: float) -> float | None:
        query = self.query.replace("{service}", service)
        address = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
        try:
            answer = json.loads(self._fetch(address, self.timeout_s))
        except (OSError, ValueError) as exc:
            _log.info("prometheus query failed", query=query, error=str(exc))
            return None
        if answer.get("status") != "success":
            _log.info("prometheus refused the query", query=query, error=answer.get("error"))
            return None
        data = answer.get("data", {})
        kind, result = data.get("resultType"), data.get("result")
        if kind == "scalar":
            value = float(result[1])
        elif kind == "vector":
            value = sum(float(r["value"][1]) for r in result)
        else:
            return None
        return value / self.per_instance if value == value else None  # NaN: no data

    def __repr__(self) -> str:
        return f"PromQuery({self.query!r}, per_instance={self.per_instance})"


def _http_get(url: str, timeout: float) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own endpoints
        return response.read().decode()  # type: ignore[no-any-return]


class YellowObserver:
    """One `find("")` on yellow per round; each service's demand from its signals.

    Without an answer from any yellow there is no observation, and so no decision: the
    autoscaler never acts on a view it does not have.
    """

    def __init__(
        self,
        yellow: Sequence[str],
        signals: Mapping[str, Sequence[Signal]],
        *,
        timeout_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        curve_server_key: str | None = None,
        curve_keys: CurveKeys | None = None,
    ) -> None:
        self.yellow = list(yellow)
        #: Yellow's CURVE key and the key pair to ask it with (None: plaintext / the process's).
        self._curve_server_key = curve_server_key
        self._curve_keys = curve_keys
        self.signals = {service: list(s) for service, s in signals.items()}
        self.timeout_s = timeout_s
        self.clock = clock
        self.last_seen: list[Seen] = []

    def find(self) -> list[Seen] | None:
        for address in self.yellow:
            try:
                yellow = get_service(
                    "yellow",
                    endpoints=[address],
                    timeout=self.timeout_s,
                    curve_server_key=self._curve_server_key,
                    curve_keys=self._curve_keys,
                )
                infos: Any = yellow.find("")
            except HNError as exc:
                _log.info("yellow did not answer", yellow=address, error=str(exc))
                continue
            return [
                Seen(i.service_name, i.instance_id, i.state, float(i.load or 0.0), dict(i.endpoints or {}))
                for i in infos
            ]
        return None

    def observe(self) -> dict[str, Observation] | None:
        seen = self.find()
        if seen is None:
            return None
        self.last_seen = seen
        now = self.clock()
        observations = {}
        for service, signals in self.signals.items():
            mine = [i for i in seen if i.service == service]
            live = [i for i in mine if i.state == "up"]
            demands = [d for d in (s.demand(service, live, now) for s in signals) if d is not None]
            observations[service] = Observation(
                now,
                [InstanceLoad(i.instance_id, i.load, i.state) for i in mine],
                max(demands) if demands else None,
            )
        return observations
