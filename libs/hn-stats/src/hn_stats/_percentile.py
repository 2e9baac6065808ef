"""Percentiles by rank: the sample at that rank, never one interpolated between two."""

from __future__ import annotations

from collections.abc import Iterable


def percentile(samples: Iterable[float], q: float) -> float:
    """The `q` quantile (0..1) of `samples` by rank; 0.0 when there are none.

    By rank, so a p99 is a latency some call really took (the figures the README quotes were
    taken this way; an interpolating quantile would move them).
    """
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0
