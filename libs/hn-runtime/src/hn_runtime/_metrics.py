"""The runtime's Prometheus metrics, and the HTTP endpoint that serves them.

Names and labels are shared by every service (see docs/metrics.md). Label children are resolved
once per (service, method, outcome) and cached, because `labels()` costs more than the increment.
"""

from __future__ import annotations

from typing import Any, Callable

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, Info, make_wsgi_app

__all__ = ["ServerMetrics", "ClientMetrics", "serve_metrics", "BUILD_INFO"]

_LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

REQUESTS = Counter(
    "hn_requests_total",
    "Requests a server handled, by outcome: ok, exception (a declared IDL exception) or an error code.",
    ["service", "method", "outcome"],
)
REQUEST_SECONDS = Histogram(
    "hn_request_duration_seconds",
    "Time from a request's arrival to its reply being queued, handlers that ran only.",
    ["service", "method"],
    buckets=_LATENCY_BUCKETS,
)
IN_FLIGHT = Gauge("hn_requests_in_flight", "Handlers running now.", ["service"])
POOL_SIZE = Gauge("hn_pool_size", "Handlers that may run at once.", ["service"])
PROTOCOL_ERRORS = Counter(
    "hn_protocol_errors_total",
    "Messages refused before reaching a handler: malformed frames, bad envelopes, undeliverable replies.",
    ["service", "reason"],
)
CLIENT_REQUESTS = Counter(
    "hn_client_requests_total",
    "Calls this process made to other services, by outcome.",
    ["service", "method", "outcome"],
)
CLIENT_SECONDS = Histogram(
    "hn_client_request_duration_seconds",
    "Round-trip time of calls this process made, as the caller saw it.",
    ["service", "method"],
    buckets=_LATENCY_BUCKETS,
)
CLIENT_RETRIES = Counter(
    "hn_client_retries_total", "Calls retried on another instance, by reason.", ["service", "method", "reason"]
)
EVENTS_PUBLISHED = Counter("hn_events_published_total", "Pub-sub events published.", ["service", "topic"])
EVENTS_RECEIVED = Counter("hn_events_received_total", "Pub-sub events delivered to handlers.", ["service", "outcome"])
BUILD_INFO = Info("hn_build", "The service, instance and version this process runs.")


class _Children:
    """Cache of label children: `labels()` hashes and locks on every call."""

    def __init__(self, metric: Any, *fixed: str) -> None:
        self._metric = metric
        self._fixed = fixed
        self._cache: dict[tuple[str, ...], Any] = {}

    def get(self, *labels: str) -> Any:
        child = self._cache.get(labels)
        if child is None:
            child = self._cache[labels] = self._metric.labels(*self._fixed, *labels)
        return child


class ServerMetrics:
    def __init__(self, service: str, in_flight: Callable[[], float], pool_size: int) -> None:
        self.requests = _Children(REQUESTS, service)
        self.seconds = _Children(REQUEST_SECONDS, service)
        self.protocol_errors = _Children(PROTOCOL_ERRORS, service)
        self.events = _Children(EVENTS_PUBLISHED, service)
        # Read at scrape time: nothing to update on the request path.
        IN_FLIGHT.labels(service).set_function(in_flight)
        POOL_SIZE.labels(service).set(pool_size)


class ClientMetrics:
    def __init__(self, service: str) -> None:
        self.requests = _Children(CLIENT_REQUESTS, service)
        self.seconds = _Children(CLIENT_SECONDS, service)
        self.retries = _Children(CLIENT_RETRIES, service)


def serve_metrics(host: str, port: int) -> Any:
    """Serve /metrics (and /healthz) over HTTP from the gevent loop; returns the started server."""
    from gevent.pywsgi import WSGIServer

    metrics_app = make_wsgi_app(REGISTRY)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        return metrics_app(environ, start_response)

    server = WSGIServer((host, port), app, log=None, error_log=None)
    server.start()
    return server
