"""Fixtures for the end-to-end tests (the platform itself is assembled in _platform.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hn_datatier.local import DataTier

from _platform import Platform, platform_on


@pytest.fixture
def platform(data_tier: DataTier) -> Iterator[Platform]:
    with platform_on(data_tier) as p:
        yield p
