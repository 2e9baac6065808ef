from hn_datatier.local import DataTier
from hn_match import __version__
from hn_runtime.testing import assert_process_serves


def test_the_match_process_serves_health_and_stops_cleanly(data_tier: DataTier) -> None:
    # A yellow that is not there yet must not keep match from serving.
    env = {**data_tier.env, "HN_YELLOW": "tcp://127.0.0.1:9"}
    assert_process_serves("hn_match", service="match", version=__version__, env=env)
