"""percentile picks the sample at the rank, from any iterable, and is 0.0 for no samples."""

from __future__ import annotations

from hn_stats import percentile


def test_the_sample_at_the_rank_whatever_the_order() -> None:
    samples = [float(n) for n in range(100, 0, -1)]  # 100 .. 1, reversed on purpose
    assert percentile(samples, 0.5) == 51.0
    assert percentile(samples, 0.99) == 100.0
    assert percentile(samples, 0.0) == 1.0


def test_a_quantile_of_one_is_the_largest_sample() -> None:
    assert percentile([3.0, 1.0, 2.0], 1.0) == 3.0


def test_no_interpolation_between_samples() -> None:
    assert percentile([1.0, 10.0], 0.5) == 10.0


def test_any_iterable_and_none_at_all() -> None:
    assert percentile((x for x in [5.0, 7.0, 6.0]), 0.5) == 6.0
    assert percentile([], 0.99) == 0.0
