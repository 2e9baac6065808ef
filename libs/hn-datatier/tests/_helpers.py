"""Helpers for the data tier's own tests (fixtures live in hn_datatier.testing)."""

from __future__ import annotations

import re
import urllib.request

from hn_datatier.local import DataTier

__all__ = ["logs", "metric"]


def metric(tier: DataTier, name: str, **labels: str) -> float:
    """The agent's Prometheus sample `name`, summed over the series matching `labels`."""
    with urllib.request.urlopen(tier.agent_metrics_url, timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if match:
            have = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
            if all(have.get(k) == v for k, v in labels.items()):
                total += float(match.group(2))
    return total


def logs(tier: DataTier) -> str:
    """The end of every process's log, for assertion messages."""
    return "\n".join(f"--- {name}\n{tail}" for name, tail in tier.logs())
