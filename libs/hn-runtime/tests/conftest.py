"""Fixtures shared by hn-runtime's tests (helpers that are not fixtures live in _runtime_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hn_runtime.client import close_all


@pytest.fixture(autouse=True)
def _close_client_connections() -> Iterator[None]:
    """Client pools live for the process; close them so no test sees another's connections."""
    yield
    close_all()
