"""docs/metrics.md against the code: every metric the source defines is in the table, and back."""

from __future__ import annotations

from _ops import METRICS_DOC, defined_metrics, metrics_doc

#: Exported by prometheus_client's default collectors in every process, not defined in our source.
DEFAULT_COLLECTORS = ("process_", "python_")
#: Exported by the data tier's exporters (docs/metrics.md, "The data tier's exporters"): checked
#: against the real exporters by test_prometheus_cluster.py instead.
EXPORTERS = ("pg_", "pgpool_", "redis_")


def test_every_metric_the_code_defines_is_documented_with_its_type_and_labels() -> None:
    documented = metrics_doc()
    defined = defined_metrics()
    assert "hn_requests_total" in defined and "hn_build_info" in defined, "the source scan found the runtime's"
    problems = []
    for name, metric in sorted(defined.items()):
        doc = documented.get(name)
        if doc is None:
            problems.append(f"{name} ({metric.type}, {metric.where}) is missing from {METRICS_DOC}")
            continue
        exposed_type = "gauge" if metric.type == "info" else metric.type
        if doc.type != exposed_type:
            problems.append(f"{name}: {METRICS_DOC} says {doc.type}, {metric.where} defines a {exposed_type}")
        if metric.labels is not None and doc.labels != metric.labels:
            problems.append(
                f"{name}: {METRICS_DOC} lists labels {sorted(doc.labels)}, {metric.where} has {sorted(metric.labels)}"
            )
    assert not problems, "\n".join(problems)


def test_every_documented_metric_is_defined_in_the_code() -> None:
    defined = defined_metrics()
    stale = [
        name for name in metrics_doc() if name not in defined and not name.startswith(DEFAULT_COLLECTORS + EXPORTERS)
    ]
    assert not stale, f"{METRICS_DOC} documents metrics no code defines: {stale}"
