"""The data tier fixtures, as any package's tests would use them."""

from hn_datatier.testing import data_tier, data_tier_env  # noqa: F401  (pytest fixtures)
