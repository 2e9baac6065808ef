"""Request counters, latency histograms and per-event counters in plain Python, exported at scrape time.

prometheus_client's Counter.inc and Histogram.observe take a lock each (a gevent lock once
patched) and cost ~15 us per request together here; a dict increment and a bisect cost well
under one. The figures are turned into the same Prometheus families only when scraped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

__all__ = [
    "Counter",
    "RequestStats",
    "StatsFamily",
    "LATENCY_BUCKETS",
    "server_stats",
    "client_stats",
    "stats_family",
]

LATENCY_BUCKETS: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class RequestStats:
    """Counts by (method, outcome) and a latency histogram by method, for one service label."""

    __slots__ = ("counts", "buckets", "sums")

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        #: method -> non-cumulative counts per bucket, the last one for +Inf
        self.buckets: dict[str, list[int]] = {}
        self.sums: dict[str, float] = {}

    def record(self, method: str, outcome: str, seconds: float | None) -> None:
        key = (method, outcome)
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        if seconds is None:
            return
        buckets = self.buckets.get(method)
        if buckets is None:
            buckets = self.buckets[method] = [0] * (len(LATENCY_BUCKETS) + 1)
            self.sums[method] = 0.0
        buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.sums[method] += seconds

    def count(self, method: str, outcome: str) -> int:
        return self.counts.get((method, outcome), 0)


class StatsFamily(Collector):
    """`<prefix>requests_total{service,method,outcome}` and `<prefix>request_duration_seconds`."""

    def __init__(self, prefix: str, what: str) -> None:
        self._prefix = prefix
        self._what = what
        self.by_service: dict[str, RequestStats] = {}

    def for_service(self, service: str) -> RequestStats:
        return self.by_service.setdefault(service, RequestStats())

    def collect(self) -> Iterator[Metric]:
        counter = CounterMetricFamily(
            f"{self._prefix}requests",
            f"{self._what} by outcome: ok, exception (a declared IDL exception) or an error.",
            labels=["service", "method", "outcome"],
        )
        histogram = HistogramMetricFamily(
            f"{self._prefix}request_duration_seconds",
            f"Duration of {self._what.lower()}.",
            labels=["service", "method"],
        )
        for service, stats in list(self.by_service.items()):
            for (method, outcome), n in list(stats.counts.items()):
                counter.add_metric([service, method, outcome], n)
            for method, raw in list(stats.buckets.items()):
                cumulative, running = [], 0
                for bound, n in zip((*map(str, LATENCY_BUCKETS), "+Inf"), raw, strict=False):
                    running += n
                    cumulative.append((bound, running))
                histogram.add_metric([service, method], cumulative, stats.sums[method])
        yield counter
        yield histogram


class Counter(Collector):
    """A labelled counter in plain ints, exported at scrape time: prometheus_client's `Counter`
    for paths taken per message (an event published or received).

    Built like prometheus_client's (name, documentation, label names; registered on creation),
    counted with `inc(*label_values)` instead of `labels(...).inc()`: a dict increment, where
    the child's `inc` took a lock (a gevent lock once patched, several Python calls) per event.
    Increments come from the gevent loop's thread only, as everything on the message path does.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        # Exposed as `<name>_total`, as prometheus_client names a counter given either form.
        self.name = name.removesuffix("_total")
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        #: label values -> count; hot paths may keep a key tuple and increment this dict directly
        self.counts: dict[tuple[str, ...], int] = {}
        if registry is not None:
            registry.register(self)

    def inc(self, *labelvalues: str) -> None:
        counts = self.counts
        counts[labelvalues] = counts.get(labelvalues, 0) + 1

    def value(self, *labelvalues: str) -> int:
        return self.counts.get(labelvalues, 0)

    def describe(self) -> Iterator[Metric]:
        # Lets the registry refuse a second metric of the same name, as it does for its own.
        yield CounterMetricFamily(self.name, self._documentation, labels=self._labelnames)

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self._documentation, labels=self._labelnames)
        for labels, n in list(self.counts.items()):
            family.add_metric(labels, n)
        yield family


_families: dict[str, StatsFamily] = {}


def stats_family(prefix: str, what: str) -> StatsFamily:
    """A family of request figures exported as `<prefix>requests_total` and a histogram
    (e.g. the broker's per-message-type figures); created once per prefix."""
    family = _families.get(prefix)
    if family is None:
        family = _families[prefix] = StatsFamily(prefix, what)
        REGISTRY.register(family)
    return family


_server = stats_family("hn_", "Requests a server handled")
_client = stats_family("hn_client_", "Calls this process made to other services")


def server_stats(service: str) -> RequestStats:
    return _server.for_service(service)


def client_stats(service: str) -> RequestStats:
    return _client.for_service(service)
