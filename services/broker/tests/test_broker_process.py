from hn_broker import __version__
from hn_runtime.testing import assert_process_serves


def test_the_broker_process_serves_health_and_stops_cleanly() -> None:
    assert_process_serves("hn_broker", service="broker", version=__version__)
