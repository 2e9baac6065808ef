"""Fixtures for the ops tests that need a running cluster (see _cluster.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from _cluster import Cluster, Scraping, running_cluster, scraping


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with running_cluster() as started:
        yield started


@pytest.fixture(scope="module")
def scraped(cluster: Cluster) -> Iterator[Scraping]:
    with scraping(cluster) as running:
        yield running
