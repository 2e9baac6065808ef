"""Helpers for sso's tests: fresh names (the tier lives for a whole test file), a test config."""

from __future__ import annotations

import itertools
import os

from hn_datatier.local import DataTier
from hn_sso._service import SsoConfig

_n = itertools.count()


def fresh(prefix: str = "user") -> str:
    return f"{prefix}{os.getpid() % 1000}x{next(_n)}"


def sso_config(tier: DataTier, **overrides: object) -> SsoConfig:
    """sso against `tier`, with the fast test hash profile unless overridden."""
    fields: dict[str, object] = dict(
        pg_dsn=tier.env["HN_PG_DSN"], redis_url=tier.env["HN_REDIS_URL"], hash_profile="test"
    )
    fields.update(overrides)
    return SsoConfig(**fields)  # type: ignore[arg-type]
