"""Fixtures for yellow's tests: yellow servers in this process, providers registered with them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hn_runtime.testing import RunningService, running
from hn_yellow._service import YellowService
from hn_yellow_client import YellowDiscovery


@pytest.fixture
def yellow() -> Iterator[RunningService]:
    with running(YellowService()) as svc:
        yield svc


@pytest.fixture
def discovery(yellow: RunningService) -> Iterator[YellowDiscovery]:
    disc = YellowDiscovery([yellow.endpoints["rep"]])
    yield disc
    disc.directory.close()
