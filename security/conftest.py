"""The security tier's fixtures: one running platform per test module (a module that needs other
options defines its own `platform`), and a player logged in over a raw connection."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hn_client.testing import RawClient
from hn_datatier.local import DataTier

from _attacker import connect
from _platform import Platform, platform_on


@pytest.fixture(scope="module")
def platform(data_tier: DataTier) -> Iterator[Platform]:
    """The e2e platform: CURVE on with hn's authority, the data tier's passwords, production's
    broker limits."""
    with platform_on(data_tier) as p:
        yield p


@pytest.fixture
def guest(platform: Platform) -> Iterator[RawClient]:
    """A player logged in as a guest, from an address of its own."""
    client = connect(platform)
    client.guest_login()
    yield client
    client.close()
