"""The data tier as pytest fixtures, and a tier of one's own for tests that break it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import pytest

from hn_datatier.local import DataTier, DataTierConfig
from hn_process import time_factor

__all__ = ["data_tier", "data_tier_env", "start_data_tier", "test_config"]


def test_config(**overrides: Any) -> DataTierConfig:
    """The tier configuration for tests: short Sentinel timings, start timeout x time factor.
    HN_DATATIER_KEEP=1 keeps the scratch directory (configuration and logs) for a post-mortem."""
    overrides.setdefault("start_timeout", 60.0 * time_factor())
    overrides.setdefault("keep_workdir", os.environ.get("HN_DATATIER_KEEP", "") not in ("", "0"))
    overrides.setdefault("stop_timeout", 15.0 * time_factor())
    return DataTierConfig(**overrides)


test_config.__test__ = False  # type: ignore[attr-defined]  # not a test, despite its name


@contextlib.contextmanager
def start_data_tier(**overrides: Any) -> Iterator[DataTier]:
    """A tier of one's own, stopped at the end of the block."""
    tier = DataTier(test_config(**overrides))
    tier.start()
    try:
        yield tier
    finally:
        tier.stop()


@pytest.fixture(scope="session")
def data_tier() -> Iterator[DataTier]:
    """A started tier, one per test process (Pants runs each test file in its own process)."""
    with start_data_tier() as tier:
        yield tier


@pytest.fixture
def data_tier_env(data_tier: DataTier, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """`data_tier.env` (HN_PG_DSN, HN_REDIS_URL, ...) in `os.environ` for the test, restored after."""
    env = data_tier.env
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
