from hn_brokerlist import __version__
from hn_runtime.testing import assert_process_serves


def test_the_brokerlist_process_serves_health_and_stops_cleanly() -> None:
    # brokerlist needs yellow; one that is not there yet must not keep it from serving health.
    assert_process_serves(
        "hn_brokerlist", service="brokerlist", version=__version__, env={"HN_YELLOW": "tcp://127.0.0.1:9"}
    )
