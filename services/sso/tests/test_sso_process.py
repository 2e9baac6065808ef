from hn_datatier.local import DataTier
from hn_runtime.testing import assert_process_serves
from hn_sso import __version__


def test_the_sso_process_serves_health_and_stops_cleanly(data_tier: DataTier) -> None:
    env = {**data_tier.env, "HN_SSO_HASH_PROFILE": "test"}
    assert_process_serves("hn_sso", service="sso", version=__version__, env=env)
