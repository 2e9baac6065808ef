"""match tests run against the real data tier (PostgreSQL behind Pgpool, Redis behind Twemproxy)."""

from hn_datatier.testing import data_tier  # noqa: F401 - a pytest fixture
