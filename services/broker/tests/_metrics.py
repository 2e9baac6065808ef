"""The broker's Prometheus counters as its /metrics page shows them, for tests that count what it did."""

from __future__ import annotations

import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from hn_runtime.testing import RunningService

__all__ = ["delta", "metrics"]


def metrics(service: RunningService) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The service's /metrics page, as sample (name, labels) -> value."""
    with urllib.request.urlopen(f"http://{service.endpoints['metrics']}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def delta(before: dict[Any, float], after: dict[Any, float], name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)
