from hn_match import __version__
from hn_runtime.testing import assert_process_serves


def test_the_match_process_serves_health_and_stops_cleanly() -> None:
    assert_process_serves("hn_match", service="match", version=__version__)
