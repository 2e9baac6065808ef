"""The real Prometheus, configured by ops/prometheus, scraping real service processes found in yellow.

Every check waits on a condition with a deadline: a scrape that times out on a busy machine marks
its target's series stale until the next one, so nothing here reads a single scrape as final.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from hn_runtime import get_service
from hn_runtime.testing import time_factor, wait_for

from _cluster import Scraping
from _ops import (
    binary,
    dashboard_queries,
    grafana_to_promql,
    http_get,
    metric_names,
    metrics_doc,
    parse_exposition,
    queryable_names,
)

pytestmark = pytest.mark.integration


def eventually(condition: Callable[[], Any], describe: Callable[[], Any], *, what: str, timeout: float = 60.0) -> Any:
    """wait_for (deadline x HN_TEST_TIME_FACTOR), and on timeout say what was seen last."""
    try:
        return wait_for(condition, timeout=timeout, interval=0.25, message=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nlast seen:\n{json.dumps(describe(), indent=1, default=str)[:6000]}") from None


def target_summary(scraped: Scraping) -> list[dict[str, Any]]:
    return [{k: t.get(k) for k in ("labels", "health", "lastError", "scrapeUrl")} for t in scraped.prometheus.targets()]


def wait_all_up(scraped: Scraping) -> list[dict[str, Any]]:
    """The active targets, once every process of the cluster (and Prometheus itself) is up."""
    cluster = scraped.cluster
    expected = (
        {("hn", s.instance_id) for s in cluster.services}
        | {("hn-yellow", y.endpoints["metrics"]) for y in cluster.yellows}
        | {("prometheus", f"127.0.0.1:{scraped.prometheus.port}")}
    )

    def all_up() -> list[dict[str, Any]] | None:
        targets = scraped.prometheus.targets()
        up = {(t["labels"]["job"], t["labels"]["instance"]) for t in targets if t["health"] == "up"}
        return targets if expected <= up else None

    targets: list[dict[str, Any]] = eventually(all_up, lambda: target_summary(scraped), what="every instance up")
    return targets


def test_every_instance_found_through_yellow_is_scraped_once_and_up(scraped: Scraping) -> None:
    targets = wait_all_up(scraped)
    cluster = scraped.cluster
    # Both yellows list every instance: Prometheus scrapes each once, at the metrics endpoint it
    # registered, labelled as yellow describes it.
    hn = sorted(
        (t["labels"]["instance"], t["labels"]["service"], t["labels"]["version"], t["scrapeUrl"])
        for t in targets
        if t["labels"]["job"] == "hn"
    )
    assert hn == sorted(
        (s.instance_id, s.service, "0.1.0", f"http://{s.endpoints['metrics']}/metrics") for s in cluster.services
    )
    yellows = [t for t in targets if t["labels"]["job"] == "hn-yellow"]
    assert [t["labels"]["service"] for t in yellows] == ["yellow", "yellow"]
    # The data tier's agent does not run here: its job's target exists, and is down.
    eventually(
        lambda: [
            t
            for t in scraped.prometheus.targets()
            if t["labels"]["job"] == "hn-twemproxy-agent"
            and t["labels"]["instance"] == scraped.dead_target
            and t["health"] == "down"
        ],
        lambda: target_summary(scraped),
        what="the twemproxy-agent target scraped, and down",
    )
    # The same through PromQL: every HighNoon process up.
    live = 'count(up{job=~"hn|hn-yellow"} == 1)'
    processes = len(cluster.services) + len(cluster.yellows)
    eventually(lambda: scraped.prometheus.value(live) == processes, lambda: scraped.prometheus.query(live), what=live)


def test_a_request_counter_rises_with_calls(scraped: Scraping) -> None:
    wait_all_up(scraped)
    prometheus = scraped.prometheus
    echoes = [s for s in scraped.cluster.services if s.service == "echo"]
    echo = get_service(
        "echo",
        endpoints=[s.endpoints["rep"] for s in echoes],
        curve_server_key=echoes[0].curve_public_key,  # the instances of a service share its key pair
        curve_keys=scraped.cluster.identities.keys("ops"),
    )
    served = 'sum(hn_requests_total{job="hn", service="echo", method="echo", outcome="ok"})'
    timed = 'sum(hn_request_duration_seconds_count{job="hn", service="echo", method="echo"})'
    both = f"label_replace({served}, 'q', 'served', '', '') or label_replace({timed}, 'q', 'timed', '', '')"
    assert prometheus.value(served) is None, "no echo call before this test"
    total = 0
    for calls in (20, 30):
        for n in range(calls):
            assert echo.echo(payload=b"%d" % n) == b"%d" % n
        total += calls
        # Each call counted once and timed once, in the instance that served it.
        eventually(
            lambda t=total: prometheus.value(served) == t and prometheus.value(timed) == t,  # type: ignore[misc]
            lambda: prometheus.query(both),
            what=f"{served} and {timed} to reach {total}",
        )
    # The rate the dashboards and alerts read sees the traffic too.
    rate = 'sum(rate(hn_requests_total{job="hn", service="echo", method="echo"}[1m]))'
    eventually(lambda: (prometheus.value(rate) or 0) > 0, lambda: prometheus.query(rate), what=f"{rate} > 0")


def test_scraped_series_carry_the_target_labels_and_the_peer(scraped: Scraping) -> None:
    wait_all_up(scraped)
    prometheus = scraped.prometheus
    cluster = scraped.cluster
    # hn_build_info: one per instance, labelled by its target (instance id and version from yellow).
    expected = sorted((s.service, s.instance_id, "0.1.0") for s in cluster.services)
    eventually(
        lambda: sorted(
            (b["metric"]["service"], b["metric"]["instance"], b["metric"]["version"])
            for b in prometheus.query('hn_build_info{job="hn"}')
        )
        == expected,
        lambda: prometheus.query('hn_build_info{job="hn"}'),
        what="hn_build_info of every instance",
    )
    # A process's figures about another service (here the yellow events every process follows)
    # name that service as the peer, and the process's own service as the service.
    received = 'hn_events_received_total{job="hn", peer="yellow", outcome="ok"}'
    series = eventually(
        lambda: len(r := prometheus.query(received)) == len(cluster.services) and r,
        lambda: prometheus.query(received),
        what=f"{received} from every instance",
    )
    assert {s["metric"]["service"] for s in series} == {"echo", "brokerlist"}
    # No scraped label was shadowed by a target label and left behind as exported_*.
    for label in ("service", "instance", "version"):
        assert prometheus.query(f'{{exported_{label}=~".+"}}') == [], f"exported_{label} left over"


def test_the_alert_rules_are_loaded_evaluate_and_use_documented_metrics(scraped: Scraping) -> None:
    prometheus = scraped.prometheus
    known = queryable_names(metrics_doc())

    def evaluated() -> list[dict[str, Any]] | None:
        groups = prometheus.api("rules")["groups"]
        rules = [r for g in groups for r in g["rules"]]
        done = rules and all(r["health"] == "ok" and not r.get("lastError") for r in rules)
        return groups if done else None

    groups = eventually(evaluated, lambda: prometheus.api("rules"), what="every rule evaluated without error")
    assert {g["name"] for g in groups} == {"hn-instances", "hn-requests", "hn-edge", "hn-data"}
    for group in groups:
        for rule in group["rules"]:
            unknown = metric_names(rule["query"]) - known
            assert not unknown, f"alert {rule['name']} uses metrics no code exports: {sorted(unknown)}"
    # A target that cannot be scraped raises HNInstanceDown (pending: it fires after a minute).
    down = eventually(
        lambda: [
            a
            for a in prometheus.api("alerts")["alerts"]
            if a["labels"]["alertname"] == "HNInstanceDown" and a["labels"].get("instance") == scraped.dead_target
        ],
        lambda: prometheus.api("alerts"),
        what="HNInstanceDown for the unreachable twemproxy-agent target",
    )
    assert down[0]["labels"]["severity"] == "warning" and down[0]["state"] in ("pending", "firing")


def test_every_dashboard_query_is_valid_promql_and_the_overview_shows_the_cluster(scraped: Scraping) -> None:
    wait_all_up(scraped)
    prometheus = scraped.prometheus
    queries = list(dashboard_queries())
    for where, expr in queries:
        try:
            prometheus.api("query", query=grafana_to_promql(expr, service="echo"))  # a syntax error is a 400
        except AssertionError as exc:
            raise AssertionError(f"{where}: {exc}") from None
    # The overview's cluster-wide panels show this cluster (yellow counts heartbeats as requests).
    for title in ("Live instances", "Instances by service", "Requests/s by service", "Versions running"):
        (expr,) = (e for where, e in queries if "overview.json" in where and f"panel {title!r}" in where)
        promql = grafana_to_promql(expr)
        eventually(
            lambda q=promql: prometheus.query(q),  # type: ignore[misc]
            lambda q=promql: prometheus.query(q),  # type: ignore[misc]
            what=f"overview panel {title!r} to show data",
        )


def test_every_scraped_metric_is_documented_with_its_labels(scraped: Scraping) -> None:
    documented = metrics_doc()
    promtool = binary("promtool")
    for process in [*scraped.cluster.yellows, *scraped.cluster.services]:
        text = http_get(f"http://{process.endpoints['metrics']}/metrics").decode()
        families = parse_exposition(text)
        assert "hn_requests_total" in families and "hn_build_info" in families, sorted(families)
        for name, (kind, labels) in families.items():
            assert name in documented, f"{process.service} exports {name} ({kind}), missing from docs/metrics.md"
            doc = documented[name]
            assert doc.type == kind, f"{name}: docs/metrics.md says {doc.type}, {process.service} exports {kind}"
            assert labels <= doc.labels, f"{name}: labels {sorted(labels)} not all in docs/metrics.md"
        # Prometheus' own linter: naming conventions (units, _total), HELP texts.
        lint = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30 * time_factor()
        )
        assert lint.returncode == 0, f"promtool check metrics on {process.service}:\n{lint.stdout}{lint.stderr}"


@pytest.mark.chaos
def test_an_instance_joining_and_killed_joins_and_leaves_the_targets(scraped: Scraping) -> None:
    wait_all_up(scraped)
    prometheus = scraped.prometheus

    def instances() -> set[str]:
        return {t["labels"]["instance"] for t in prometheus.targets() if t["labels"]["job"] == "hn"}

    with scraped.cluster.spawn("_echo_in_yellow", "echo") as extra:
        eventually(
            lambda: any(
                t["labels"]["instance"] == extra.instance_id and t["health"] == "up" for t in prometheus.targets()
            ),
            lambda: target_summary(scraped),
            what="the new instance scraped",
        )
        extra.kill()  # SIGKILL: no goodbye to yellow
        # Yellow marks it down after missed heartbeats, /sd drops it, Prometheus follows.
        eventually(lambda: extra.instance_id not in instances(), lambda: target_summary(scraped), what="it leaves")
    expected = {s.instance_id for s in scraped.cluster.services}
    eventually(lambda: instances() == expected, lambda: target_summary(scraped), what="the others stay")
