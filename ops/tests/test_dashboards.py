"""The Grafana dashboards and provisioning: well-formed, and every query names a metric the code exports."""

from __future__ import annotations

import os
import re
from collections import Counter

from _ops import (
    DASHBOARDS_DIR,
    GRAFANA_DIR,
    dashboard_queries,
    dashboards,
    metric_names,
    metrics_doc,
    panels,
    queryable_names,
    read,
)

DATASOURCES = f"{GRAFANA_DIR}/provisioning/datasources/highnoon.yml"
PROVIDERS = f"{GRAFANA_DIR}/provisioning/dashboards/highnoon.yml"


def datasource_uid() -> str:
    match = re.search(r"^\s+uid:\s*(\S+)\s*$", read(DATASOURCES), re.M)
    assert match, f"{DATASOURCES} declares no data source uid"
    return match.group(1)


def test_the_four_dashboards_exist_with_unique_uids_and_titles() -> None:
    boards = dashboards()
    assert sorted(os.path.basename(p) for p in boards) == [
        "broker.json",
        "data-tier.json",
        "overview.json",
        "service.json",
    ]
    uids = [b["uid"] for b in boards.values()]
    titles = [b["title"] for b in boards.values()]
    assert len(set(uids)) == len(uids) and len(set(titles)) == len(titles)
    assert all(t.startswith("HighNoon / ") for t in titles), titles


def test_every_panel_is_placed_uses_the_provisioned_data_source_and_has_queries() -> None:
    uid = datasource_uid()
    for path, board in dashboards().items():
        ids = Counter(p["id"] for p in panels(board))
        assert all(n == 1 for n in ids.values()), f"{path}: duplicate panel ids {ids}"
        for panel in panels(board):
            where = f"{path}: panel {panel.get('title')!r}"
            assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), where
            assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, where
            if panel["type"] == "row":
                continue
            assert panel["targets"], f"{where} has no query"
            for ref in [panel["datasource"], *(t["datasource"] for t in panel["targets"])]:
                assert ref == {"type": "prometheus", "uid": uid}, f"{where}: data source {ref}"
        for variable in board.get("templating", {}).get("list", []):
            if variable.get("type") == "query":
                assert variable["datasource"]["uid"] == uid, f"{path}: variable {variable['name']}"


def test_every_query_names_only_metrics_the_code_exports() -> None:
    known = queryable_names(metrics_doc())
    queries = list(dashboard_queries())
    assert len(queries) > 40
    problems = []
    for where, expr in queries:
        names = metric_names(expr)
        if not names:
            problems.append(f"{where}: no metric found in {expr!r}")
        elif names - known:
            problems.append(f"{where}: {sorted(names - known)} not exported (docs/metrics.md): {expr}")
    assert not problems, "\n".join(problems)


def test_the_metric_name_reader_reads_promql_as_meant() -> None:
    read_names = metric_names
    assert read_names('sum by (service, le) (rate(hn_x_bucket{service="$service", a=~"b|c"}[$__rate_interval]))') == {
        "hn_x_bucket"
    }
    assert read_names("histogram_quantile(0.99, sum by (le) (rate(a_bucket[5m]))) > 0.5 and on (m) b > 0.2") == {
        "a_bucket",
        "b",
    }
    assert read_names('count(up{job=~"hn.*"} == 0) or vector(0)') == {"up"}
    assert read_names("time() - process_start_time_seconds offset 5m") == {"process_start_time_seconds"}


def test_provisioning_points_grafana_at_the_dashboards_and_prometheus() -> None:
    providers = read(PROVIDERS)
    assert "type: file" in providers and "path: ${HN_GRAFANA_DASHBOARDS}" in providers
    assert "url: ${HN_PROMETHEUS_URL}" in read(DATASOURCES)
    assert "type: prometheus" in read(DATASOURCES)
    assert os.path.isdir(DASHBOARDS_DIR)
