from hn_runtime.testing import assert_process_serves
from hn_yellow import __version__


def test_the_yellow_process_serves_health_and_stops_cleanly() -> None:
    assert_process_serves("hn_yellow", service="yellow", version=__version__)
