"""sso tests run against the real data tier (PostgreSQL behind Pgpool, Redis behind Twemproxy)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hn_datatier.local import DataTier
from hn_runtime.testing import RunningService, running
from hn_sso import SsoService

from _sso_support import sso_config


@pytest.fixture
def sso(data_tier: DataTier) -> Iterator[RunningService]:
    with running(SsoService(sso_config(data_tier))) as svc:
        yield svc
