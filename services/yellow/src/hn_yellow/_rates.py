"""Request rate, errors and p99 from instances' Prometheus metrics: the arithmetic, no I/O.

One scrape of an instance becomes `Counts` per request family (its requests, its errors, its
latency buckets, summed over methods); two scrapes of it make a `Window` (increases and the time
between); the windows of a service's instances add up, and `histogram_quantile` reads the p99
off the summed bucket increases the way Prometheus' function of that name does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["FAMILIES", "Counts", "Family", "Window", "histogram_quantile", "parse_counts", "summarize"]


@dataclass(frozen=True)
class Family:
    """A request counter and its latency histogram, and the outcomes that are not errors."""

    key: str  # the row's name on the page: "requests", "client packets"
    counter: str  # family name without `_total`
    histogram: str
    not_errors: frozenset[str]


#: What a service's row shows: requests its servers handled (docs/metrics.md: `ok` and
#: `exception` are never errors, `draining` is a deploy, retried elsewhere: the alert rule's
#: choice), and a broker's game-client packets (anything but `ok` failed the player).
FAMILIES = (
    Family("requests", "hn_requests", "hn_request_duration_seconds", frozenset({"ok", "exception", "draining"})),
    Family("client packets", "hn_broker_requests", "hn_broker_request_duration_seconds", frozenset({"ok"})),
)


@dataclass
class Counts:
    """One family's counters in one scrape, summed over methods."""

    requests: float = 0.0
    errors: float = 0.0
    #: upper bound -> cumulative count (math.inf for +Inf)
    buckets: dict[float, float] = field(default_factory=dict)


def parse_counts(text: str, service: str, families: Iterable[Family] = FAMILIES) -> dict[str, Counts]:
    """Counts per family key from a /metrics text, only the series labelled `service`: a process
    may carry other services' series (several services in one test process)."""
    by_name = {f.counter: f for f in families} | {f.histogram: f for f in families}
    found: dict[str, Counts] = {}
    for metric in text_string_to_metric_families(text):
        family = by_name.get(metric.name)
        if family is None:
            continue
        counts = found.setdefault(family.key, Counts())
        for sample in metric.samples:
            if sample.labels.get("service") != service:
                continue
            if metric.name == family.counter and sample.name == f"{family.counter}_total":
                counts.requests += sample.value
                if sample.labels.get("outcome") not in family.not_errors:
                    counts.errors += sample.value
            elif metric.name == family.histogram and sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])  # "+Inf" parses as inf
                counts.buckets[bound] = counts.buckets.get(bound, 0.0) + sample.value
    return found


def _increase(old: float, new: float) -> float:
    """A counter's increase; a counter that went down restarted from zero (Prometheus' rule)."""
    return new - old if new >= old else new


@dataclass
class Window:
    """Increases of one family over `seconds` (one instance, or a service's instances summed)."""

    seconds: float = 0.0
    requests: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)

    @classmethod
    def between(cls, old: Counts, new: Counts, seconds: float) -> Window:
        return cls(
            seconds=seconds,
            requests=_increase(old.requests, new.requests),
            errors=_increase(old.errors, new.errors),
            buckets={le: _increase(old.buckets.get(le, 0.0), n) for le, n in new.buckets.items()},
        )

    def add(self, other: Window) -> None:
        """Add another instance's window: rates add up, so each count is taken per second of its
        own window and the sum spread over this one's (the longest, kept)."""
        if other.seconds <= 0:
            return
        if self.seconds <= 0:
            self.seconds = other.seconds
        scale = self.seconds / other.seconds
        self.requests += other.requests * scale
        self.errors += other.errors * scale
        for le, n in other.buckets.items():
            self.buckets[le] = self.buckets.get(le, 0.0) + n * scale


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """The q-quantile of cumulative bucket counts (upper bound -> count, +Inf included), by linear
    interpolation inside the bucket it falls in, as Prometheus' `histogram_quantile`: None with no
    observations; the highest finite bound when it falls in the +Inf bucket."""
    bounds = sorted(buckets)
    if not bounds or bounds[-1] != math.inf:
        return None
    total = buckets[math.inf]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == math.inf:
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def summarize(window: Window) -> dict[str, float | None]:
    """The page's figures: per second, the error share, p99 (None where there is nothing yet)."""
    if window.seconds <= 0:
        return {"requests_per_second": None, "errors_per_second": None, "error_ratio": None, "p99_seconds": None}
    return {
        "requests_per_second": window.requests / window.seconds,
        "errors_per_second": window.errors / window.seconds,
        "error_ratio": window.errors / window.requests if window.requests > 0 else None,
        "p99_seconds": histogram_quantile(0.99, window.buckets),
    }
