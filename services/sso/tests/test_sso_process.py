from hn_runtime.testing import assert_process_serves
from hn_sso import __version__


def test_the_sso_process_serves_health_and_stops_cleanly() -> None:
    assert_process_serves("hn_sso", service="sso", version=__version__)
