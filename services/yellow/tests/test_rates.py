"""The status page's arithmetic: rates from two scrapes, errors by outcome, p99 from buckets."""

from __future__ import annotations

import math

import pytest

from hn_yellow._rates import Counts, Window, histogram_quantile, parse_counts, summarize

INF = math.inf

SCRAPE = """\
# HELP hn_requests_total Requests.
# TYPE hn_requests_total counter
hn_requests_total{service="sso",method="login",outcome="ok"} 90.0
hn_requests_total{service="sso",method="login",outcome="exception"} 5.0
hn_requests_total{service="sso",method="login",outcome="draining"} 1.0
hn_requests_total{service="sso",method="login",outcome="internal"} 3.0
hn_requests_total{service="sso",method="health",outcome="overloaded"} 1.0
hn_requests_total{service="yellow",method="find",outcome="internal"} 1000.0
# HELP hn_request_duration_seconds Duration.
# TYPE hn_request_duration_seconds histogram
hn_request_duration_seconds_bucket{service="sso",method="login",le="0.01"} 50.0
hn_request_duration_seconds_bucket{service="sso",method="login",le="0.1"} 90.0
hn_request_duration_seconds_bucket{service="sso",method="login",le="+Inf"} 100.0
hn_request_duration_seconds_count{service="sso",method="login"} 100.0
hn_request_duration_seconds_sum{service="sso",method="login"} 3.0
hn_request_duration_seconds_bucket{service="sso",method="health",le="0.01"} 10.0
hn_request_duration_seconds_bucket{service="sso",method="health",le="0.1"} 10.0
hn_request_duration_seconds_bucket{service="sso",method="health",le="+Inf"} 10.0
hn_request_duration_seconds_count{service="sso",method="health"} 10.0
hn_request_duration_seconds_sum{service="sso",method="health"} 0.01
"""


def test_a_scrape_sums_methods_of_its_own_service_and_counts_errors_as_the_alert_does() -> None:
    counts = parse_counts(SCRAPE, "sso")["requests"]
    assert counts.requests == 100  # yellow's series in the same text are not sso's
    assert counts.errors == 4  # internal + overloaded; ok, exception and draining are not errors
    assert counts.buckets == {0.01: 60, 0.1: 100, INF: 110}
    assert "client packets" not in parse_counts(SCRAPE, "sso")


def test_broker_client_packets_are_errors_unless_ok() -> None:
    text = (
        "# TYPE hn_broker_requests_total counter\n"
        'hn_broker_requests_total{service="broker",method="sso.login",outcome="ok"} 8\n'
        'hn_broker_requests_total{service="broker",method="sso.login",outcome="ServiceUnavailable"} 2\n'
    )
    counts = parse_counts(text, "broker")["client packets"]
    assert (counts.requests, counts.errors) == (10, 2)


def test_quantile_interpolates_inside_its_bucket_like_prometheus() -> None:
    # 100 observations: 50 up to 10 ms, 40 more up to 100 ms, 10 beyond.
    buckets = {0.01: 50.0, 0.1: 90.0, INF: 100.0}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.01)
    assert histogram_quantile(0.7, buckets) == pytest.approx(0.01 + 0.09 * 20 / 40)
    # p99 falls in +Inf: Prometheus answers the highest finite bound.
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.1)
    # The first bucket interpolates from zero.
    assert histogram_quantile(0.25, buckets) == pytest.approx(0.005)


def test_quantile_without_observations_is_unknown() -> None:
    assert histogram_quantile(0.99, {0.1: 0.0, INF: 0.0}) is None
    assert histogram_quantile(0.99, {}) is None
    assert histogram_quantile(0.99, {0.1: 3.0}) is None  # no +Inf bucket: not a histogram


def test_rate_errors_and_p99_from_two_scrapes() -> None:
    old = Counts(requests=100, errors=4, buckets={0.01: 60, 0.1: 100, INF: 110})
    new = Counts(requests=300, errors=14, buckets={0.01: 60, 0.1: 100 + 198, INF: 110 + 200})
    figures = summarize(Window.between(old, new, seconds=10))
    assert figures["requests_per_second"] == pytest.approx(20.0)
    assert figures["errors_per_second"] == pytest.approx(1.0)
    assert figures["error_ratio"] == pytest.approx(0.05)
    # Over the window all 200 requests took 10..100 ms: p99 interpolates inside that bucket.
    assert figures["p99_seconds"] == pytest.approx(0.01 + 0.09 * 198 / 198)


def test_a_counter_that_went_down_restarted_from_zero() -> None:
    old = Counts(requests=1000, errors=10, buckets={0.1: 1000, INF: 1000})
    new = Counts(requests=30, errors=0, buckets={0.1: 30, INF: 30})
    window = Window.between(old, new, seconds=3)
    assert (window.requests, window.errors, window.buckets) == (30, 0, {0.1: 30, INF: 30})


def test_instances_windows_add_up_as_rates() -> None:
    total = Window()
    total.add(Window(seconds=10, requests=100, errors=0, buckets={0.1: 100, INF: 100}))
    total.add(Window(seconds=5, requests=100, errors=5, buckets={0.1: 0, INF: 100}))  # 20/s, all slow
    figures = summarize(total)
    assert figures["requests_per_second"] == pytest.approx(10 + 20)
    assert figures["errors_per_second"] == pytest.approx(1)
    # 300 per window: 100 fast, 200 slow: p99 is in +Inf -> the highest finite bound.
    assert figures["p99_seconds"] == pytest.approx(0.1)


def test_no_window_yet_is_unknown_not_zero() -> None:
    assert summarize(Window()) == {
        "requests_per_second": None,
        "errors_per_second": None,
        "error_ratio": None,
        "p99_seconds": None,
    }
    idle = summarize(Window(seconds=5, buckets={INF: 0.0}))
    assert idle["requests_per_second"] == 0 and idle["error_ratio"] is None and idle["p99_seconds"] is None
