"""The runtime's Prometheus metrics, and the HTTP endpoint that serves them.

Names and labels are shared by every service (see docs/metrics.md). Per-request and per-event
figures live in `_stats` (plain Python, exported at scrape time); the rarer events here use
prometheus_client directly, with label children cached because `labels()` costs more than the
increment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Info, disable_created_metrics, make_wsgi_app

from hn_runtime import _stats
from hn_runtime._stats import client_stats, server_stats

__all__ = ["ServerMetrics", "ClientMetrics", "serve_metrics", "BUILD_INFO", "UNAUTHORIZED_CALLS"]

# prometheus_client would add a `<name>_created` gauge (a creation timestamp) beside every counter
# and histogram child: as many series again, which nothing reads. Process-wide, at scrape time.
disable_created_metrics()  # type: ignore[no-untyped-call]

IN_FLIGHT = Gauge("hn_requests_in_flight", "Handlers running now.", ["service"])
POOL_SIZE = Gauge("hn_pool_size", "Handlers that may run at once.", ["service"])
PROTOCOL_ERRORS = Counter(
    "hn_protocol_errors_total",
    "Messages refused before reaching a handler: malformed frames, bad envelopes, undeliverable replies.",
    ["service", "reason"],
)
CLIENT_RETRIES = Counter(
    "hn_client_retries_total", "Calls retried on another instance, by reason.", ["service", "method", "reason"]
)
# Counted per event, in plain ints (`_stats.Counter`): prometheus_client's inc took a lock per
# event, 9 % of yellow's CPU when it publishes every heartbeat.
EVENTS_PUBLISHED = _stats.Counter("hn_events_published_total", "Pub-sub events published.", ["service", "topic"])
EVENTS_RECEIVED = _stats.Counter(
    "hn_events_received_total", "Pub-sub events delivered to handlers.", ["service", "outcome"]
)
UNAUTHORIZED_CALLS = Counter(
    "hn_unauthorized_calls_total",
    "Requests refused UNAUTHENTICATED: the caller's service identity lacks the grant the method requires.",
    ["service", "method", "caller"],
)
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
        self.requests = server_stats(service)
        self.protocol_errors = _Children(PROTOCOL_ERRORS, service)
        # Read at scrape time: nothing to update on the request path.
        IN_FLIGHT.labels(service).set_function(in_flight)
        POOL_SIZE.labels(service).set(pool_size)


class ClientMetrics:
    def __init__(self, service: str) -> None:
        self.requests = client_stats(service)
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
